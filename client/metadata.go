package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// ClusterMetadata describes the cluster as one broker (the leader when
// reachable) saw it.
type ClusterMetadata struct {
	// LeaderID and LeaderAddr name the node that takes all writes; both
	// are empty while no leader is known (an election is in progress).
	LeaderID   string
	LeaderAddr string
	Nodes      []Node
	Topics     []TopicInfo // sorted by name
}

// Node is one broker of the cluster.
type Node struct {
	ID   string
	Addr string // host:port of its client listener
}

// TopicInfo describes one topic.
type TopicInfo struct {
	Name       string
	Partitions []PartitionInfo // sorted by partition number
}

// PartitionInfo describes one partition's offsets.
type PartitionInfo struct {
	Partition int32
	// StartOffset is the first offset still stored (earlier ones were
	// deleted by retention).
	StartOffset int64
	// HighWatermark is the offset the next record will get; records up to
	// HighWatermark-1 can be read.
	HighWatermark int64
}

// metaCache is the Client's view of the cluster.
type metaCache struct {
	leaderID   string
	leaderAddr string // "" while no leader is known
	nodes      []Node
	topics     map[string]int32 // partition count by topic
	expires    time.Time        // when a background refresh is due
}

// flight is a metadata refresh that concurrent callers share.
type flight struct {
	started time.Time     // when the refresh began
	done    chan struct{} // closed when err is final
	err     error
}

// Metadata asks the cluster for its nodes, leader and topics (with each
// partition's offsets) and updates the Client's cache. It asks the leader
// if one is known, else the other nodes and seeds in turn. It blocks until
// a broker answers or all have failed or ctx ends. Errors: ErrClosed,
// ctx's error, or the last broker's failure. Safe for concurrent use.
func (cl *Client) Metadata(ctx context.Context) (ClusterMetadata, error) {
	resp, err := cl.fetchMetadata(ctx)
	if err != nil {
		return ClusterMetadata{}, err
	}
	md := ClusterMetadata{LeaderID: resp.LeaderID}
	for _, n := range resp.Nodes {
		md.Nodes = append(md.Nodes, Node{ID: n.ID, Addr: n.Addr})
		if n.ID == resp.LeaderID {
			md.LeaderAddr = n.Addr
		}
	}
	for _, t := range resp.Topics {
		if t.ErrorCode != wire.CodeNone {
			continue
		}
		ti := TopicInfo{Name: t.Name, Partitions: make([]PartitionInfo, 0, len(t.Partitions))}
		for _, p := range t.Partitions {
			ti.Partitions = append(ti.Partitions, PartitionInfo{
				Partition: p.Partition, StartOffset: p.StartOffset, HighWatermark: p.HighWatermark,
			})
		}
		slices.SortFunc(ti.Partitions, func(a, b PartitionInfo) int { return int(a.Partition) - int(b.Partition) })
		md.Topics = append(md.Topics, ti)
	}
	slices.SortFunc(md.Topics, func(a, b TopicInfo) int { return strings.Compare(a.Name, b.Name) })
	return md, nil
}

// ListTopics returns the cluster's topics, sorted by name, with their
// partitions' offsets. It is Metadata(ctx).Topics, with Metadata's errors
// and blocking.
func (cl *Client) ListTopics(ctx context.Context) ([]TopicInfo, error) {
	md, err := cl.Metadata(ctx)
	return md.Topics, err
}

// TopicPartitions returns the number of partitions of topic, from the
// metadata the client has cached or, for a topic not cached, from a fresh
// Metadata answer. It blocks until it knows or ctx ends. Errors:
// ErrUnknownTopic (no such topic), ErrTopicAuthorization (the client's
// user may not describe the topic, whether or not it exists: a cluster
// enforcing ACLs leaves such topics out of Metadata and ListTopics),
// ErrClosed, ctx's error, or the error reaching the cluster. Safe for
// concurrent use.
func (cl *Client) TopicPartitions(ctx context.Context, topic string) (int32, error) {
	return cl.partitions(ctx, topic)
}

// leaderSearch bounds how long fetchMetadata keeps asking other nodes
// after an answer without a leader, so that an unreachable machine (a dial
// that hangs until DialTimeout) does not hold up every refresh during an
// election.
const leaderSearch = time.Second

// fetchMetadata sends a Metadata request for all topics to the candidates
// in turn and applies the first answer that names a leader. A node can
// answer without one (it is cut off from the others, it stopped, an
// election is under way) while the rest of the cluster has a leader, so a
// leaderless answer is kept only if no other candidate names one within
// leaderSearch.
func (cl *Client) fetchMetadata(ctx context.Context) (*wire.MetadataResponse, error) {
	var errs []error
	var leaderless *wire.MetadataResponse
	search := ctx // ctx, then bounded by leaderSearch once an answer came
	for _, addr := range cl.candidates() {
		if leaderless != nil && search == ctx {
			var cancel context.CancelFunc
			search, cancel = context.WithTimeout(ctx, leaderSearch)
			defer cancel()
		}
		c, err := cl.getConn(search, addr)
		if err == nil {
			resp := new(wire.MetadataResponse)
			if err = c.roundTrip(search, wire.Metadata, &wire.MetadataRequest{}, resp, cl.cfg.RequestTimeout); err == nil {
				if err = resp.Err(); err == nil {
					if resp.LeaderID != "" {
						cl.applyMetadata(resp)
						return resp, nil
					}
					if leaderless == nil {
						leaderless = resp
					}
					continue
				}
			}
		}
		if errors.Is(err, ErrClosed) || ctx.Err() != nil {
			return nil, err
		}
		if search.Err() != nil {
			break // leaderless != nil: settle for it
		}
		cl.forgetLeader(addr)
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	if leaderless != nil {
		cl.applyMetadata(leaderless)
		return leaderless, nil
	}
	return nil, fmt.Errorf("minibroker: metadata: %w", errors.Join(errs...))
}

// candidates lists the addresses to ask, best first: the leader, the
// other known nodes, then the seeds, without duplicates.
func (cl *Client) candidates() []string {
	cl.metaMu.RLock()
	out := make([]string, 0, 1+len(cl.meta.nodes)+len(cl.cfg.Brokers))
	if cl.meta.leaderAddr != "" {
		out = append(out, cl.meta.leaderAddr)
	}
	for _, n := range cl.meta.nodes {
		out = append(out, n.Addr)
	}
	cl.metaMu.RUnlock()
	out = append(out, cl.cfg.Brokers...)
	seen := make(map[string]bool, len(out))
	return slices.DeleteFunc(out, func(a string) bool {
		dup := a == "" || seen[a]
		seen[a] = true
		return dup
	})
}

// applyMetadata replaces the cache with what resp says.
func (cl *Client) applyMetadata(resp *wire.MetadataResponse) {
	m := metaCache{
		leaderID: resp.LeaderID,
		topics:   make(map[string]int32, len(resp.Topics)),
		expires:  time.Now().Add(cl.cfg.MetadataMaxAge),
	}
	for _, n := range resp.Nodes {
		m.nodes = append(m.nodes, Node{ID: n.ID, Addr: n.Addr})
		if n.ID == resp.LeaderID {
			m.leaderAddr = n.Addr
		}
	}
	if m.leaderID != "" && m.leaderAddr == "" {
		cl.log.Warn("minibroker: metadata names a leader that is not among its nodes", "leader", m.leaderID)
	}
	for _, t := range resp.Topics {
		if t.ErrorCode == wire.CodeNone {
			m.topics[t.Name] = int32(len(t.Partitions))
		}
	}
	cl.metaMu.Lock()
	cl.meta = m
	cl.metaMu.Unlock()
}

// startRefresh returns the metadata refresh in progress, starting one if
// there is none. The refresh runs under the Client's lifetime, not a
// caller's context, because callers share it.
func (cl *Client) startRefresh() *flight {
	cl.metaMu.Lock()
	defer cl.metaMu.Unlock()
	if cl.flight != nil {
		return cl.flight
	}
	f := &flight{started: time.Now(), done: make(chan struct{})}
	started := cl.goTracked(func() {
		_, err := cl.fetchMetadata(cl.ctx)
		cl.metaMu.Lock()
		f.err = err
		cl.flight = nil
		cl.metaMu.Unlock()
		close(f.done)
	})
	if !started {
		f.err = ErrClosed
		close(f.done)
		return f
	}
	cl.flight = f
	return f
}

// refreshMetadata refreshes the cache and waits for it or for ctx. It
// shares a refresh in progress only if that began after the call did, so
// the cache it leaves reflects every change made before the call (e.g. a
// topic just created).
func (cl *Client) refreshMetadata(ctx context.Context) error {
	called := time.Now()
	for {
		f := cl.startRefresh()
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !f.started.Before(called) || errors.Is(f.err, ErrClosed) {
			return f.err
		}
	}
}

// partitions returns the partition count of topic from the cache,
// refreshing it first if the topic is not cached (and in the background
// if the cache is older than MetadataMaxAge). Errors: ErrUnknownTopic if
// the cluster does not know the topic, ErrTopicAuthorization if the
// client's user may not describe it (see missingTopic), or those of
// refreshMetadata.
func (cl *Client) partitions(ctx context.Context, topic string) (int32, error) {
	cl.metaMu.RLock()
	n, ok := cl.meta.topics[topic]
	stale := time.Now().After(cl.meta.expires)
	cl.metaMu.RUnlock()
	if ok {
		if stale {
			cl.startRefresh()
		}
		return n, nil
	}
	if err := cl.refreshMetadata(ctx); err != nil {
		return 0, err
	}
	cl.metaMu.RLock()
	n, ok = cl.meta.topics[topic]
	cl.metaMu.RUnlock()
	if !ok {
		return 0, fmt.Errorf("minibroker: topic %q: %w", topic, cl.missingTopic(ctx, topic))
	}
	return n, nil
}

// missingTopic says why an all-topics Metadata answer left topic out:
// ErrTopicAuthorization if a Metadata request naming it is answered so (a
// broker enforcing ACLs leaves out of an all-topics answer the topics the
// user may not describe, and answers a named one with that code, whether
// it exists or not), else ErrUnknownTopic. It asks the first candidate
// that answers. Blocks for at most one round trip per candidate.
func (cl *Client) missingTopic(ctx context.Context, topic string) error {
	for _, addr := range cl.candidates() {
		c, err := cl.getConn(ctx, addr)
		if err != nil {
			continue
		}
		resp := new(wire.MetadataResponse)
		if err := c.roundTrip(ctx, wire.Metadata, &wire.MetadataRequest{Topics: []string{topic}}, resp, cl.cfg.RequestTimeout); err != nil || resp.Err() != nil {
			continue
		}
		for _, t := range resp.Topics {
			if t.Name == topic && t.ErrorCode == wire.CodeTopicAuthorization {
				return ErrTopicAuthorization
			}
		}
		break
	}
	return ErrUnknownTopic
}

// forgetTopic drops topic from the cache, so its next use refreshes it.
func (cl *Client) forgetTopic(topic string) {
	cl.metaMu.Lock()
	delete(cl.meta.topics, topic)
	cl.metaMu.Unlock()
}

// leaderAddr returns the leader's client address, or "" if unknown.
func (cl *Client) leaderAddr() string {
	cl.metaMu.RLock()
	defer cl.metaMu.RUnlock()
	return cl.meta.leaderAddr
}

// forgetLeader forgets the leader if it is addr ("" forgets any), so the
// next write refreshes metadata first.
func (cl *Client) forgetLeader(addr string) {
	cl.metaMu.Lock()
	if addr == "" || cl.meta.leaderAddr == addr {
		cl.meta.leaderID, cl.meta.leaderAddr = "", ""
	}
	cl.metaMu.Unlock()
}

// redirect records the leader named by a NotLeader answer.
func (cl *Client) redirect(id, addr string) {
	cl.metaMu.Lock()
	cl.meta.leaderID, cl.meta.leaderAddr = id, addr
	cl.metaMu.Unlock()
}
