package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// Replica verification: does every node hold the same replicated state?
// Digests are only comparable at one applied Raft index while writes go
// on, so the leader proposes a digest entry (its index is N), every node
// fingerprints its state when it applies N, and VerifyCluster compares
// what the nodes took there.

// VerifyReport is the outcome of Client.VerifyCluster.
type VerifyReport struct {
	// Index is the Raft index every digest was taken at.
	Index uint64
	// LeaderID is the node that proposed the digest entry.
	LeaderID string
	// Nodes lists every node of the cluster (the Raft configuration and
	// the registered client addresses), sorted by ID.
	Nodes []NodeDigest
}

// NodeDigest is one node's digest at VerifyReport.Index, or why there is
// none.
type NodeDigest struct {
	ID   string
	Addr string // its client address; "" if it registered none
	// Err is why this node gave no digest: it could not be reached, it
	// did not apply Index in time (ErrTimeout), or it cannot vouch for its
	// state there (ErrDigestUnavailable: it replayed the entry after a
	// restart). Nil when it answered.
	Err error
	// Meta is the hex SHA-256 of the node's replicated metadata (topics,
	// committed offsets, consumer groups, producers, node addresses).
	Meta string
	// Partitions are sorted by topic, then partition.
	Partitions []PartitionDigest
	// Differs names what this node holds differently from the majority of
	// the nodes that answered (the leader's value breaks a tie):
	// "metadata" and "<topic>/<partition>". Empty when it agrees.
	Differs []string
}

// PartitionDigest fingerprints one partition's data on one node.
type PartitionDigest struct {
	Topic       string
	Partition   int32
	StartOffset int64
	NextOffset  int64
	// Sum is the hex SHA-256 of the stored batches (headers included).
	Sum string
}

// OK reports whether every node answered and they all agree.
func (r VerifyReport) OK() bool { return r.Err() == nil }

// Err returns nil when the report is OK; otherwise an error wrapping
// ErrReplicasDiffer if some node differs, and listing the nodes that
// differ and those that gave no digest.
func (r VerifyReport) Err() error {
	var differ, missing []string
	for _, n := range r.Nodes {
		switch {
		case n.Err != nil:
			missing = append(missing, fmt.Sprintf("%s (%v)", n.ID, n.Err))
		case len(n.Differs) > 0:
			differ = append(differ, fmt.Sprintf("%s in %s", n.ID, strings.Join(n.Differs, ", ")))
		}
	}
	switch {
	case len(r.Nodes) == 0:
		return errors.New("minibroker: verify: no nodes")
	case len(differ) > 0 && len(missing) > 0:
		return fmt.Errorf("%w at index %d: %s; no digest from %s", ErrReplicasDiffer, r.Index, strings.Join(differ, "; "), strings.Join(missing, "; "))
	case len(differ) > 0:
		return fmt.Errorf("%w at index %d: %s", ErrReplicasDiffer, r.Index, strings.Join(differ, "; "))
	case len(missing) > 0:
		return fmt.Errorf("minibroker: verify at index %d: no digest from %s", r.Index, strings.Join(missing, "; "))
	}
	return nil
}

// verifyAttempts is how many digest entries VerifyCluster proposes at most
// when nodes answer that they cannot vouch for the index (a node that
// replayed it after a restart).
const verifyAttempts = 3

// VerifyCluster checks that every node holds the same replicated state:
// it has the leader propose a digest entry, asks every node (every member
// of the Raft configuration and every registered address, in parallel)
// for the digest it took at that entry, and compares them. It blocks until
// every node answered or gave up (each waits up to the client's
// RequestTimeout to apply the entry); writes may go on meanwhile.
//
// The error is only for not getting a report at all: ErrClosed, ctx's
// error, or the last retriable error reaching the leader (ErrNoLeader...).
// Divergent or unreachable nodes are in the report: check
// VerifyReport.OK or Err. Safe for concurrent use.
func (cl *Client) VerifyCluster(ctx context.Context) (VerifyReport, error) {
	var r VerifyReport
	for attempt := 1; ; attempt++ {
		var err error
		if r, err = cl.verifyOnce(ctx); err != nil {
			return VerifyReport{}, err
		}
		unavailable := slices.ContainsFunc(r.Nodes, func(n NodeDigest) bool { return errors.Is(n.Err, ErrDigestUnavailable) })
		if !unavailable || attempt == verifyAttempts || ctx.Err() != nil {
			return r, nil
		}
	}
}

// verifyOnce is one round of VerifyCluster.
func (cl *Client) verifyOnce(ctx context.Context) (VerifyReport, error) {
	st, err := cl.ClusterStatus(ctx)
	if err != nil {
		return VerifyReport{}, fmt.Errorf("minibroker: verify: %w", err)
	}
	md, err := cl.Metadata(ctx)
	if err != nil {
		return VerifyReport{}, fmt.Errorf("minibroker: verify: %w", err)
	}
	var pr wire.ProposeDigestResponse
	if err := cl.do(ctx, leaderWrite, wire.ProposeDigest, &wire.ProposeDigestRequest{}, &pr, cl.cfg.RequestTimeout); err != nil {
		return VerifyReport{}, fmt.Errorf("minibroker: verify: propose digest: %w", err)
	}
	r := VerifyReport{Index: pr.Index, LeaderID: cl.leaderID()}
	addrs := map[string]string{}
	for _, n := range st.Nodes {
		addrs[n.ID] = n.Addr
	}
	for _, n := range md.Nodes {
		if addrs[n.ID] == "" {
			addrs[n.ID] = n.Addr
		}
	}
	for id, addr := range addrs {
		r.Nodes = append(r.Nodes, NodeDigest{ID: id, Addr: addr})
	}
	slices.SortFunc(r.Nodes, func(a, b NodeDigest) int { return strings.Compare(a.ID, b.ID) })
	var wg sync.WaitGroup
	for i := range r.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl.nodeDigest(ctx, r.Index, &r.Nodes[i])
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return VerifyReport{}, fmt.Errorf("minibroker: verify: %w", err)
	}
	r.compare()
	return r, nil
}

// leaderID returns the leader this client knows of.
func (cl *Client) leaderID() string {
	cl.metaMu.RLock()
	defer cl.metaMu.RUnlock()
	return cl.meta.leaderID
}

// nodeDigest fills n with its digest at index, or with why it has none.
// It retries a lost connection once.
func (cl *Client) nodeDigest(ctx context.Context, index uint64, n *NodeDigest) {
	if n.Addr == "" {
		n.Err = fmt.Errorf("%w: node %s registered no client address", ErrBrokerUnavailable, n.ID)
		return
	}
	wait := cl.cfg.RequestTimeout
	req := &wire.ReplicaDigestRequest{Index: index, TimeoutMs: int32(min(wait, time.Minute) / time.Millisecond)}
	var resp wire.ReplicaDigestResponse
	var err error
	for attempt := 1; attempt <= 2; attempt++ {
		var c *conn
		if c, err = cl.getConn(ctx, n.Addr); err == nil {
			// The broker waits up to TimeoutMs; give the answer time to come.
			if err = c.roundTrip(ctx, wire.ReplicaDigest, req, &resp, wait+5*time.Second); err == nil {
				err = resp.Err()
			}
		}
		if err == nil || !errors.Is(err, ErrConnectionLost) {
			break
		}
	}
	if err != nil {
		n.Err = err
		return
	}
	if resp.NodeID != "" && resp.NodeID != n.ID {
		n.Err = fmt.Errorf("minibroker: %s answered as node %s", n.Addr, resp.NodeID)
		return
	}
	n.Meta = resp.Meta
	n.Partitions = make([]PartitionDigest, len(resp.Partitions))
	for i, p := range resp.Partitions {
		n.Partitions[i] = PartitionDigest{Topic: p.Topic, Partition: p.Partition, StartOffset: p.StartOffset, NextOffset: p.NextOffset, Sum: p.Sum}
	}
}

// compare fills every answering node's Differs: for metadata and each
// partition (present on any node), the value most answering nodes hold is
// the reference, the leader's breaking a tie.
func (r *VerifyReport) compare() {
	type item struct {
		meta      bool // the metadata; else a partition
		topic     string
		partition int32
	}
	values := map[item]map[string]string{} // item -> node ID -> value (missing: absent)
	var items []item
	add := func(it item, id, v string) {
		if values[it] == nil {
			values[it] = map[string]string{}
			items = append(items, it)
		}
		values[it][id] = v
	}
	var answered []string // in ID order
	for _, n := range r.Nodes {
		if n.Err != nil {
			continue
		}
		answered = append(answered, n.ID)
		add(item{meta: true}, n.ID, n.Meta)
		for _, p := range n.Partitions {
			add(item{topic: p.Topic, partition: p.Partition}, n.ID, fmt.Sprintf("%d/%d/%s", p.StartOffset, p.NextOffset, p.Sum))
		}
	}
	slices.SortFunc(items, func(a, b item) int {
		switch {
		case a.meta != b.meta:
			if a.meta {
				return -1
			}
			return 1
		case a.topic != b.topic:
			return strings.Compare(a.topic, b.topic)
		}
		return int(a.partition) - int(b.partition)
	})
	leaderAnswered := slices.Contains(answered, r.LeaderID)
	differs := map[string][]string{}
	for _, it := range items {
		vals := values[it]
		get := func(id string) string {
			if v, ok := vals[id]; ok {
				return "+" + v
			}
			return "-" // absent on this node
		}
		count := map[string]int{}
		for _, id := range answered {
			count[get(id)]++
		}
		ref, best := "", 0
		if leaderAnswered {
			ref = get(r.LeaderID)
			best = count[ref]
		}
		for _, id := range answered {
			if v := get(id); count[v] > best {
				ref, best = v, count[v]
			}
		}
		name := "metadata"
		if !it.meta {
			name = fmt.Sprintf("%s/%d", it.topic, it.partition)
		}
		for _, id := range answered {
			if get(id) != ref {
				differs[id] = append(differs[id], name)
			}
		}
	}
	for i := range r.Nodes {
		r.Nodes[i].Differs = differs[r.Nodes[i].ID]
	}
}
