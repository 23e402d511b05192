package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	mlog "github.com/minibroker/minibroker/log"
)

// storeCluster is an in-process cluster of Stores on loopback with short
// raft timeouts. Nodes can be killed (closed) and restarted on the same
// data dir and raft address. Everything is closed at test cleanup.
type storeCluster struct {
	t      *testing.T
	cfgs   []Config
	stores []*Store // nil while a node is down
}

// newStoreCluster bootstraps node 0 and adds the others as voters.
func newStoreCluster(t *testing.T, size int, mod func(*Config)) *storeCluster {
	t.Helper()
	c := &storeCluster{t: t, cfgs: make([]Config, size), stores: make([]*Store, size)}
	for i := range c.cfgs {
		c.cfgs[i] = Config{Node: testConfig(t, fmt.Sprintf("n%d", i+1), i == 0)}
		// Timeouts short enough for quick tests, long enough that a loaded
		// 2-core CI machine running -race does not see spurious elections.
		c.cfgs[i].Node.HeartbeatTimeout = 150 * time.Millisecond
		c.cfgs[i].Node.ElectionTimeout = 150 * time.Millisecond
		c.cfgs[i].Node.LeaderLeaseTimeout = 100 * time.Millisecond
		if mod != nil {
			mod(&c.cfgs[i])
		}
	}
	// Registered after t.TempDir's cleanups, so it runs before them.
	t.Cleanup(func() {
		for i := range c.stores {
			c.kill(i)
		}
	})
	for i := range c.cfgs {
		c.start(i)
		if i == 0 {
			nudgeElection(&testNode{Node: c.stores[0].Node()})
		}
	}
	for i := 1; i < size; i++ {
		c.addVoter(i)
	}
	// Every node must know every voter before a test kills one: hashicorp/raft
	// refuses votes (and pre-votes) from a candidate missing from its own
	// latest configuration, so a follower that had not yet received the last
	// AddVoter would never elect the node it names once the leader is gone.
	waitFor(t, "every node to know every voter", func() bool {
		for _, s := range c.stores {
			servers, err := s.Node().Servers()
			if err != nil || len(servers) != size {
				return false
			}
		}
		return true
	})
	return c
}

// addVoter adds node i on the ready leader, retrying while leadership
// moves (a loaded machine can delay heartbeats past the lease, and the
// change then has an unknown outcome; adding a voter again is harmless).
func (c *storeCluster) addVoter(i int) {
	c.t.Helper()
	deadline := time.Now().Add(testWait)
	for {
		lead := c.stores[c.waitLeader()]
		err := lead.Node().AddVoter(waitCtx(c.t), c.cfgs[i].Node.ID, c.stores[i].Node().RaftAddr())
		if err == nil {
			return
		}
		retry := errors.Is(err, ErrNotLeader) || errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrTimeout)
		if !retry || time.Now().After(deadline) {
			c.t.Fatalf("AddVoter(n%d): %v", i+1, err)
		}
	}
}

func (c *storeCluster) start(i int) *Store {
	c.t.Helper()
	s, err := Open(c.cfgs[i])
	if err != nil {
		c.t.Fatalf("Open(n%d): %v", i+1, err)
	}
	c.cfgs[i].Node.RaftAddr = s.Node().RaftAddr() // restart on the same port
	c.stores[i] = s
	return s
}

func (c *storeCluster) kill(i int) {
	if c.stores[i] != nil {
		if err := c.stores[i].Close(); err != nil {
			c.t.Errorf("Close(n%d): %v", i+1, err)
		}
		c.stores[i] = nil
	}
}

// waitLeader waits for a ready leader among the running nodes.
func (c *storeCluster) waitLeader() int {
	c.t.Helper()
	lead := -1
	waitFor(c.t, "a ready leader", func() bool {
		for i, s := range c.stores {
			if s != nil && s.Node().IsReady() {
				lead = i
				return true
			}
		}
		return false
	})
	return lead
}

// raw returns a partition's bytes, batch by batch, from a node.
func raw(t *testing.T, s *Store, topic string, p int32) []byte {
	t.Helper()
	f := s.FSM()
	start, end, err := f.Offsets(topic, p)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for off := start; off < end; {
		buf, err := f.Read(topic, p, off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, buf...)
		for len(buf) > 0 {
			b, rest, err := mlog.ParseBatch(buf)
			if err != nil {
				t.Fatal(err)
			}
			off, buf = b.NextOffset(), rest
		}
	}
	return out
}

// waitSame waits until every running node holds the same bytes as node ref
// in every partition of topic.
func (c *storeCluster) waitSame(ref int, topic string, parts int32) {
	c.t.Helper()
	waitFor(c.t, "byte-identical partitions on every node", func() bool {
		for p := int32(0); p < parts; p++ {
			want := raw(c.t, c.stores[ref], topic, p)
			for _, s := range c.stores {
				if s == nil {
					continue
				}
				if _, _, err := s.FSM().Offsets(topic, p); err != nil {
					return false
				}
				if !bytes.Equal(raw(c.t, s, topic, p), want) {
					return false
				}
			}
		}
		return true
	})
}

// waitCommitted waits until every running node has applied a commit.
func (c *storeCluster) waitCommitted(group, topic string, p int32, offset int64) {
	c.t.Helper()
	waitFor(c.t, "the committed offset on every node", func() bool {
		for _, s := range c.stores {
			if s == nil {
				continue
			}
			if co, ok := s.FSM().CommittedOffset(group, topic, p); !ok || co.Offset != offset {
				return false
			}
		}
		return true
	})
}

func mustCreate(t *testing.T, s *Store, name string, parts int32, cfg TopicConfig) {
	t.Helper()
	if err := s.CreateTopic(waitCtx(t), name, parts, cfg); err != nil {
		t.Fatalf("CreateTopic(%s): %v", name, err)
	}
}

// appendTo appends a batch of n records tagged tag with acks=all.
func appendTo(ctx context.Context, t testing.TB, s *Store, topic string, p int32, tag string, n int) (AppendResult, error) {
	return s.Append(ctx, topic, p, batchOf(t, tag, n), AcksAll)
}

// append appends through whichever node leads, retrying through leader
// changes (a retry after an unknown outcome may duplicate, as for any
// producer). It returns the result of the attempt that succeeded.
func (c *storeCluster) append(topic string, p int32, tag string, n int) AppendResult {
	c.t.Helper()
	for {
		s := c.stores[c.waitLeader()]
		r, err := appendTo(waitCtx(c.t), c.t, s, topic, p, tag, n)
		switch {
		case err == nil:
			return r
		case errors.Is(err, ErrNotLeader) || errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrShutdown):
			continue
		default:
			c.t.Fatalf("append %s: %v", tag, err)
		}
	}
}

func TestClusterPartitionsAreByteIdentical(t *testing.T) {
	c := newStoreCluster(t, 3, nil)
	lead := c.stores[c.waitLeader()]
	mustCreate(t, lead, "t", 2, TopicConfig{SegmentBytes: 4096})
	for i := 0; i < 100; i++ {
		if r := c.append("t", int32(i%2), fmt.Sprint(i), 1+i%7); r.BaseOffset < 0 {
			t.Fatalf("append %d: %+v", i, r)
		}
	}
	lead = c.stores[c.waitLeader()]
	c.waitSame(0, "t", 2)
	if len(raw(t, lead, "t", 0)) == 0 {
		t.Fatal("no data")
	}
	// Reads are served by followers too, and a follower refuses writes.
	for _, s := range c.stores {
		if s == lead {
			continue
		}
		if _, err := appendTo(waitCtx(t), t, s, "t", 0, "x", 1); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("append on a follower: %v", err)
		}
	}
	c.verifyReplicas()
}

// TestLeaderKilledDuringAcksAllStream kills the leader in the middle of a
// stream of acks=all appends. The producer retries on the new leader. Every
// acked batch must be on the new leader and, after the old one returns, on
// every node.
func TestLeaderKilledDuringAcksAllStream(t *testing.T) {
	c := newStoreCluster(t, 3, nil)
	lead := c.waitLeader()
	mustCreate(t, c.stores[lead], "t", 1, TopicConfig{})
	acked := map[string]bool{}
	killed := -1
	for i := 0; len(acked) < 60; i++ {
		if len(acked) == 30 && killed < 0 {
			killed = lead
			c.kill(lead)
			lead = c.waitLeader()
		}
		tag := fmt.Sprint(i)
		_, err := appendTo(waitCtx(t), t, c.stores[lead], "t", 0, tag, 1)
		switch {
		case err == nil:
			acked[tag+"-0"] = true
		case errors.Is(err, ErrNotLeader) || errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrShutdown):
			lead = c.waitLeader() // retry with a new tag; an unknown outcome may leave a duplicate
		default:
			t.Fatalf("append %d: %v", i, err)
		}
	}
	check := func(s *Store) {
		got := map[string]int{}
		for _, v := range values(t, s.FSM(), "t", 0) {
			got[v]++
		}
		for v := range acked {
			if got[v] == 0 {
				t.Fatalf("acked %s lost on %s", v, s.Node().ID())
			}
		}
	}
	check(c.stores[lead])
	c.start(killed)
	c.waitSame(lead, "t", 1)
	for _, s := range c.stores {
		check(s)
	}
	c.verifyReplicas()
}

// TestFollowerCatchesUpThroughInstallSnapshot keeps a follower down while
// the leader snapshots and compacts its raft log past the follower's last
// entry; the follower returns and catches up through InstallSnapshot.
func TestFollowerCatchesUpThroughInstallSnapshot(t *testing.T) {
	c := newStoreCluster(t, 3, func(cfg *Config) {
		cfg.Node.TrailingLogs = 4
		cfg.Node.SnapshotThreshold = 8
	})
	lead := c.waitLeader()
	mustCreate(t, c.stores[lead], "t", 2, TopicConfig{SegmentBytes: 2048})
	follower := (lead + 1) % 3
	for i := 0; i < 10; i++ {
		c.append("t", int32(i%2), fmt.Sprint(i), 3)
	}
	c.waitSame(lead, "t", 2)
	c.kill(follower)
	for i := 10; i < 100; i++ {
		c.append("t", int32(i%2), fmt.Sprint(i), 3)
	}
	lead = c.waitLeader()
	ln := c.stores[lead].Node()
	if err := ln.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if st := ln.Stats(); st.LastSnapshotIndex < 50 {
		t.Fatalf("leader snapshot at %d", st.LastSnapshotIndex)
	}
	before := c.stores[lead].FSM().liveStateDir()
	s := c.start(follower)
	stateDir := s.FSM().liveStateDir()
	c.waitSame(lead, "t", 2)
	if s.FSM().liveStateDir() == stateDir {
		t.Fatal("follower caught up without restoring a snapshot")
	}
	if c.stores[lead].FSM().liveStateDir() != before {
		t.Fatal("leader's state was replaced")
	}
	// The restored follower keeps applying new entries.
	c.append("t", 0, "after", 2)
	c.waitSame(c.waitLeader(), "t", 2)
	c.verifyReplicas()
}

// TestFullClusterRestartKeepsStateAndAppliesNothingTwice stops every node
// at once and restarts them: every batch and committed offset is there, no
// batch twice, with a snapshot taken halfway so that replay starts from it.
func TestFullClusterRestartKeepsStateAndAppliesNothingTwice(t *testing.T) {
	c := newStoreCluster(t, 3, nil)
	lead := c.stores[c.waitLeader()]
	mustCreate(t, lead, "t", 2, TopicConfig{})
	for i := 0; i < 40; i++ {
		if i == 20 {
			for _, s := range c.stores {
				if err := s.Node().Snapshot(); err != nil {
					t.Fatal(err)
				}
			}
		}
		c.append("t", int32(i%2), fmt.Sprint(i), 2)
	}
	lead = c.stores[c.waitLeader()]
	errs, err := lead.CommitOffsets(waitCtx(t), CommitOffsetsCmd{Group: "g", Generation: -1, Offsets: []OffsetCommit{{Topic: "t", Partition: 1, Offset: 9}}})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	c.waitSame(0, "t", 2)
	c.waitCommitted("g", "t", 1, 9)
	want := [][]byte{raw(t, lead, "t", 0), raw(t, lead, "t", 1)}
	for i := range c.stores {
		c.kill(i)
	}
	for i := range c.stores {
		c.start(i)
	}
	lead = c.stores[c.waitLeader()]
	c.waitSame(0, "t", 2)
	c.waitCommitted("g", "t", 1, 9)
	for i, s := range c.stores {
		for p := int32(0); p < 2; p++ {
			if got := raw(t, s, "t", p); !bytes.Equal(got, want[p]) {
				t.Fatalf("n%d partition %d after restart: %d bytes, want %d (applied twice or lost)", i+1, p, len(got), len(want[p]))
			}
		}
	}
	// The next offset continues the partition (c.append may have stored a
	// batch twice after an unknown outcome, so compare with the stored end).
	_, end, err := lead.FSM().Offsets("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := appendTo(waitCtx(t), t, lead, "t", 0, "more", 1); err != nil || r.BaseOffset != end {
		t.Fatalf("append after restart: %+v %v, want base offset %d", r, err, end)
	}
	c.verifyReplicas()
}

// TestAcksLeaderWriteLostWhenLeaderDies shows the acks=1 window: the leader
// is cut off from its followers, acks an acks=1 write (it is in its own
// durable raft log), and dies. The others elect a leader without the write;
// when the old leader returns, its uncommitted entry is overwritten.
func TestAcksLeaderWriteLostWhenLeaderDies(t *testing.T) {
	c := newStoreCluster(t, 3, nil)
	lead := c.waitLeader()
	mustCreate(t, c.stores[lead], "t", 1, TopicConfig{})
	if _, err := appendTo(waitCtx(t), t, c.stores[lead], "t", 0, "committed", 1); err != nil {
		t.Fatal(err)
	}
	var others []int
	for attempt := 1; ; attempt++ {
		lead = c.waitLeader()
		c.waitSame(lead, "t", 1)
		others = []int{(lead + 1) % 3, (lead + 2) % 3}
		for _, i := range others { // cut the leader off
			c.kill(i)
		}
		r, err := c.stores[lead].Append(waitCtx(t), "t", 0, batchOf(t, "acks1", 1), AcksLeader)
		if err == nil && r.BaseOffset == -1 {
			break
		}
		// On a loaded machine leadership can move, or the lease run out,
		// before the write: bring the others back and try again.
		if !errors.Is(err, ErrNotLeader) || attempt == 5 {
			t.Fatalf("acks=1 append: %+v %v", r, err)
		}
		for _, i := range others {
			c.start(i)
		}
	}
	c.kill(lead)
	for _, i := range others {
		c.start(i)
	}
	newLead := c.waitLeader()
	if _, err := appendTo(waitCtx(t), t, c.stores[newLead], "t", 0, "next", 1); err != nil {
		t.Fatal(err)
	}
	c.start(lead)
	c.waitSame(newLead, "t", 1)
	for _, s := range c.stores {
		got := fmt.Sprint(values(t, s.FSM(), "t", 0))
		if got != "[committed-0 next-0]" {
			t.Fatalf("%s has %s; the acks=1 write should be gone", s.Node().ID(), got)
		}
	}
	c.verifyReplicas()
}
