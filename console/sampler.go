package console

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/client"
)

// historyLen is how many samples a chart shows (two minutes at the
// default interval).
const historyLen = 120

// maxGroups bounds the groups sampled each interval.
const maxGroups = 50

// snapshot is what the console knows of the cluster at one moment. A
// published snapshot is never modified.
type snapshot struct {
	At         time.Time
	Self       broker.NodeState
	LeaderID   string
	ClusterErr string // why the cluster's configuration is unknown, if it is
	Nodes      []nodeRow
	Topics     []broker.TopicState
	Groups     []groupRow
	GroupErr   string
	// Rates are this node's produce and fetch rates, records per second,
	// oldest first.
	Rates []ratePoint
}

// nodeRow is one member of the cluster as it answered for itself.
type nodeRow struct {
	ID, Addr                       string
	Voter                          bool
	Role                           string // leader, follower, or unreachable
	Term, Commit, Applied, LastLog uint64
	// Lag is how many entries the node's applied index trails the
	// leader's last log index.
	Lag uint64
	Err string
}

// groupRow is one consumer group with its lag history.
type groupRow struct {
	client.GroupDescription
	// LagHistory is each partition's lag, oldest first, keyed "topic/partition".
	LagHistory map[string][]lagPoint
	TotalLag   int64
}

type ratePoint struct {
	At             time.Time
	Produce, Fetch float64
}

type lagPoint struct {
	At  time.Time
	Lag int64
}

// sampler owns the console's view of the cluster: every interval it asks
// the cluster and the local broker, and publishes a new snapshot. Safe
// for concurrent use.
type sampler struct {
	b        *broker.Broker
	lc       *lazyClient
	interval time.Duration

	mu       sync.Mutex // guards snap, changed and lastLook
	snap     *snapshot
	changed  chan struct{} // closed and replaced when snap changes
	lastLook time.Time     // when current was last called (a page or a live stream)
	// wake asks run for a sample now (the first look after an idle
	// spell); buffered 1, sent to without blocking.
	wake chan struct{}

	// Owned by the run goroutine.
	lastCounts [2]float64 // produce and fetch records counted at lastAt
	lastAt     time.Time
	rates      []ratePoint
	lags       map[string][]lagPoint // "group/topic/partition" -> history
}

func newSampler(b *broker.Broker, lc *lazyClient, interval time.Duration) *sampler {
	s := &sampler{b: b, lc: lc, interval: interval, changed: make(chan struct{}), lags: map[string][]lagPoint{},
		lastLook: time.Now(), wake: make(chan struct{}, 1)}
	s.snap = &snapshot{At: time.Now(), Self: b.NodeState(), Topics: b.TopicStates()}
	s.selfOnly(s.snap) // until the first sample: this node as it sees itself
	return s
}

// idleAfter is how long after the last look the sampler stops asking the
// cluster: a console nobody watches puts no load on the cluster.
const idleAfter = 30 * time.Second

// run samples every interval until ctx ends, while someone looks (see
// idleAfter), and at once on the first look after an idle spell.
func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if !s.idle() {
			s.sample(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// idle reports whether nobody has looked for idleAfter.
func (s *sampler) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Since(s.lastLook) > idleAfter
}

// current returns the latest snapshot and a channel closed when a newer
// one is published, and notes the look (after an idle spell the snapshot
// may be old; a new one follows at once). It does not block.
func (s *sampler) current() (*snapshot, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.lastLook) > idleAfter {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	s.lastLook = time.Now()
	return s.snap, s.changed
}

func (s *sampler) publish(snap *snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap = snap
	close(s.changed)
	s.changed = make(chan struct{})
}

// sample takes one snapshot and publishes it.
func (s *sampler) sample(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(s.interval, time.Second))
	defer cancel()
	now := time.Now()
	snap := &snapshot{At: now, Self: s.b.NodeState(), Topics: s.b.TopicStates()}
	cl, err := s.lc.get()
	if err != nil {
		snap.ClusterErr, snap.GroupErr = err.Error(), err.Error()
		s.selfOnly(snap)
	} else {
		s.sampleNodes(ctx, cl, snap)
		s.sampleGroups(ctx, cl, snap, now)
	}
	s.sampleRates(snap, now)
	if ctx.Err() != nil && context.Cause(ctx) == context.Canceled {
		return
	}
	s.publish(snap)
}

// selfOnly fills snap's nodes with this node alone, as it sees itself.
func (s *sampler) selfOnly(snap *snapshot) {
	snap.LeaderID = snap.Self.LeaderID
	snap.Nodes = []nodeRow{{ID: snap.Self.ID, Addr: snap.Self.Addr, Role: roleOf(snap.Self.State), Term: snap.Self.Term,
		Commit: snap.Self.CommitIndex, Applied: snap.Self.AppliedIndex, LastLog: snap.Self.LastLogIndex}}
}

func (s *sampler) sampleNodes(ctx context.Context, cl *client.Client, snap *snapshot) {
	st, err := cl.ClusterStatus(ctx)
	if err != nil {
		snap.ClusterErr = err.Error()
		s.selfOnly(snap)
		return
	}
	snap.LeaderID = st.LeaderID
	rows := make([]nodeRow, len(st.Nodes))
	var wg sync.WaitGroup
	for i, n := range st.Nodes {
		rows[i] = nodeRow{ID: n.ID, Addr: n.Addr, Voter: n.Voter}
		if n.Addr == "" {
			rows[i].Role, rows[i].Err = "unknown", "no client address registered"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ns, err := cl.NodeStatus(ctx, n.Addr)
			if err != nil {
				rows[i].Role, rows[i].Err = "unreachable", err.Error()
				return
			}
			rows[i].Term, rows[i].Commit, rows[i].Applied, rows[i].LastLog = ns.Term, ns.CommitIndex, ns.AppliedIndex, ns.LastLogIndex
			rows[i].Role = "follower"
			if ns.LeaderID == ns.AnsweredBy {
				rows[i].Role = "leader"
			}
		}()
	}
	wg.Wait()
	var leaderLast uint64
	for _, r := range rows {
		if r.Role == "leader" {
			leaderLast = r.LastLog
		}
	}
	for i := range rows {
		if rows[i].Err == "" && leaderLast > rows[i].Applied {
			rows[i].Lag = leaderLast - rows[i].Applied
		}
	}
	snap.Nodes = rows
}

func roleOf(raftState string) string {
	switch raftState {
	case "Leader":
		return "leader"
	case "Follower":
		return "follower"
	case "Candidate":
		return "candidate"
	}
	return raftState
}

func (s *sampler) sampleGroups(ctx context.Context, cl *client.Client, snap *snapshot, now time.Time) {
	groups, err := cl.ListGroups(ctx)
	if err != nil {
		snap.GroupErr = err.Error()
		return
	}
	if len(groups) > maxGroups {
		groups = groups[:maxGroups]
	}
	seen := map[string]bool{}
	for _, g := range groups {
		d, err := cl.DescribeGroup(ctx, g.Group)
		if err != nil {
			snap.GroupErr = fmt.Sprintf("group %s: %v", g.Group, err)
			continue
		}
		row := groupRow{GroupDescription: d, LagHistory: map[string][]lagPoint{}}
		for _, o := range d.Offsets {
			part := fmt.Sprintf("%s/%d", o.Topic, o.Partition)
			key := g.Group + "/" + part
			seen[key] = true
			h := append(s.lags[key], lagPoint{At: now, Lag: o.Lag})
			if len(h) > historyLen {
				h = slices.Clone(h[len(h)-historyLen:])
			}
			s.lags[key] = h
			row.LagHistory[part] = slices.Clone(h)
			row.TotalLag += o.Lag
		}
		snap.Groups = append(snap.Groups, row)
	}
	for k := range s.lags {
		if !seen[k] {
			delete(s.lags, k)
		}
	}
}

// Counter names read from the broker's registry for the rates.
const (
	produceRecordsMetric = "minibroker_produce_records_total"
	fetchRecordsMetric   = "minibroker_fetch_records_total"
)

func (s *sampler) sampleRates(snap *snapshot, now time.Time) {
	mfs, err := s.b.Registry().Gather()
	if err != nil && len(mfs) == 0 {
		snap.Rates = slices.Clone(s.rates)
		return
	}
	var counts [2]float64
	for _, mf := range mfs {
		switch mf.GetName() {
		case produceRecordsMetric:
			counts[0] = sumCounter(mf)
		case fetchRecordsMetric:
			counts[1] = sumCounter(mf)
		}
	}
	if !s.lastAt.IsZero() {
		dt := now.Sub(s.lastAt).Seconds()
		if dt > 0 {
			s.rates = append(s.rates, ratePoint{At: now, Produce: max(counts[0]-s.lastCounts[0], 0) / dt, Fetch: max(counts[1]-s.lastCounts[1], 0) / dt})
			if len(s.rates) > historyLen {
				s.rates = slices.Clone(s.rates[len(s.rates)-historyLen:])
			}
		}
	}
	s.lastCounts, s.lastAt = counts, now
	snap.Rates = slices.Clone(s.rates)
}

func sumCounter(mf *dto.MetricFamily) float64 {
	var sum float64
	for _, m := range mf.GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return sum
}
