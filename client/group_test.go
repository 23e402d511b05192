package client

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

func TestConsumerSeek(t *testing.T) {
	fb, cl, p, _ := groupSetup(t, 2, 10)
	cfg := testConsumerConfig()
	cfg.ManualCommit = true
	c := newTestConsumer(t, cl, cfg)
	pollN(t, c, 20)

	if err := c.Seek(tp0, 3); err != nil {
		t.Fatal(err)
	}
	if pos, ok := c.Position(tp0); !ok || pos != 3 {
		t.Fatalf("Position after Seek = %d, %v", pos, ok)
	}
	checkOffsets(t, pollN(t, c, 7), []TopicPartition{tp0}, 3, 10)

	if err := c.SeekToBeginning(tp1); err != nil {
		t.Fatal(err)
	}
	checkOffsets(t, pollN(t, c, 10), []TopicPartition{tp1}, 0, 10)

	// SeekToEnd of everything: only new records come.
	if err := c.SeekToEnd(); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	done := make(chan []Record, 1)
	go func() {
		recs, _ := c.Poll(ctx) // Poll drives nothing here: the fetchers resolve the end
		done <- recs
	}()
	fb.waitFor("positions at the end", func() bool {
		p0, ok0 := c.Position(tp0)
		p1, ok1 := c.Position(tp1)
		return ok0 && ok1 && p0 == 10 && p1 == 10
	})
	produceTo(t, p, 2, 1)
	recs := <-done
	recs = append(recs, pollN(t, c, 2-len(recs))...)
	checkOffsets(t, recs, []TopicPartition{tp0, tp1}, 10, 11)
	if pos, ok := c.Position(tp1); !ok || pos != 11 {
		t.Fatalf("Position = %d, %v; want 11", pos, ok)
	}

	other := TopicPartition{"t", 7}
	if err := c.Seek(other, 0); !errors.Is(err, ErrNotAssigned) {
		t.Fatalf("Seek of an unassigned partition = %v, want ErrNotAssigned", err)
	}
	if err := c.SeekToBeginning(tp0, other); !errors.Is(err, ErrNotAssigned) {
		t.Fatalf("SeekToBeginning with an unassigned partition = %v", err)
	}
	if pos, _ := c.Position(tp0); pos != 11 {
		t.Fatalf("a failed seek moved t/0 to %d", pos)
	}
	if err := c.Seek(tp0, -1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Seek to -1 = %v", err)
	}
	if _, ok := c.Position(other); ok {
		t.Fatal("Position of an unassigned partition")
	}
	_ = c.Close()
	if err := c.Seek(tp0, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Seek after Close = %v", err)
	}
}

func TestConsumerResetsOutOfRangePosition(t *testing.T) {
	for _, reset := range []OffsetReset{ResetEarliest, ResetLatest} {
		t.Run(reset.String(), func(t *testing.T) {
			_, cl, p, fc := groupSetup(t, 1, 5)
			fc.setCommitted("g", tp0, 100) // beyond the end: e.g. a recreated topic
			cfg := testConsumerConfig()
			cfg.AutoOffsetReset = reset
			c := newTestConsumer(t, cl, cfg)
			if reset == ResetEarliest {
				checkOffsets(t, pollN(t, c, 5), []TopicPartition{tp0}, 0, 5)
				return
			}
			// Latest: once reset to the end, only new records come.
			ctx := testCtx(t)
			done := make(chan []Record, 1)
			go func() {
				recs, _ := c.Poll(ctx)
				done <- recs
			}()
			fc.fb.waitFor("reset to the end", func() bool { pos, ok := c.Position(tp0); return ok && pos == 5 })
			produceTo(t, p, 1, 1)
			checkOffsets(t, <-done, []TopicPartition{tp0}, 5, 6)
		})
	}
}

// TestConsumerWaitsForLaggingNode: a fetch answered "out of range" by a
// node that lags the leader must not reset the position; only the range
// the leader confirms (ListOffsets with Leader) decides. A reset here
// would deliver committed records again (seen in TestChaos, seed 7).
func TestConsumerWaitsForLaggingNode(t *testing.T) {
	fb, cl, _, fc := groupSetup(t, 1, 10)
	fc.setCommitted("g", tp0, 8)
	fb.setLag(5) // the answering node has offsets 0..4; the leader 0..9
	cfg := testConsumerConfig()
	cfg.ManualCommit = true
	c := newTestConsumer(t, cl, cfg)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan []Record, 1)
	go func() {
		recs, _ := c.Poll(ctx)
		done <- recs
	}()
	// The consumer heard "out of range" and asked the leader twice (two
	// ListOffsets per check): it found the node behind at least once.
	fb.waitFor("two checks with the leader", func() bool { return fb.count(wire.ListOffsets) >= 4 })
	if pos, ok := c.Position(tp0); !ok || pos != 8 {
		t.Fatalf("Position = %d, %v while the node lags; want 8 (no reset)", pos, ok)
	}
	fb.setLag(0)
	recs := <-done
	cancel()
	recs = append(recs, pollN(t, c, 2-len(recs))...)
	checkOffsets(t, recs, []TopicPartition{tp0}, 8, 10)
}

// TestReaderOutOfRangeUsesLeaderRange: a Reader's OffsetOutOfRangeError
// carries the range the leader confirmed, not the lagging node's.
func TestReaderOutOfRangeUsesLeaderRange(t *testing.T) {
	fb, cl, _, _ := groupSetup(t, 1, 10)
	fb.setLag(5)
	r := cl.Reader(ReaderConfig{Topic: "t", Partition: 0, Offset: 12})
	_, err := r.Fetch(testCtx(t))
	var oor *OffsetOutOfRangeError
	if !errors.As(err, &oor) {
		t.Fatalf("Fetch at 12 of 10 = %v, want an *OffsetOutOfRangeError", err)
	}
	if oor.StartOffset != 0 || oor.HighWatermark != 10 {
		t.Fatalf("range [%d, %d], want the leader's [0, 10]", oor.StartOffset, oor.HighWatermark)
	}
}

func TestConsumerResetLatestWithoutCommit(t *testing.T) {
	_, cl, p, fc := groupSetup(t, 1, 5)
	cfg := testConsumerConfig()
	cfg.AutoOffsetReset = ResetLatest
	c := newTestConsumer(t, cl, cfg)
	ctx := testCtx(t)
	done := make(chan []Record, 1)
	go func() {
		recs, _ := c.Poll(ctx)
		done <- recs
	}()
	fc.fb.waitFor("position at the end", func() bool { pos, ok := c.Position(tp0); return ok && pos == 5 })
	produceTo(t, p, 1, 1)
	checkOffsets(t, <-done, []TopicPartition{tp0}, 5, 6)
}

func TestConsumersSharePartitions(t *testing.T) {
	_, cl, _, fc := groupSetup(t, 2, 5)
	c1 := newTestConsumer(t, cl, testConsumerConfig())
	pollN(t, c1, 10)
	if !slices.Equal(c1.Assignment(), []TopicPartition{tp0, tp1}) {
		t.Fatalf("alone, c1 has %v", c1.Assignment())
	}

	// c2's join is held until c1 rejoins, which c1's next Poll does.
	c2 := newTestConsumer(t, cl, testConsumerConfig())
	type result struct {
		recs []Record
		err  error
	}
	got2 := make(chan result, 1)
	ctx2, cancel2 := context.WithCancel(testCtx(t))
	defer cancel2()
	go func() {
		recs, err := c2.Poll(ctx2)
		got2 <- result{recs, err}
	}()
	ctx1, cancel1 := context.WithCancel(testCtx(t))
	go func() {
		fc.fb.waitFor("generation 2", func() bool { return c1.Generation() == 2 && c2.Generation() == 2 })
		cancel1()
	}()
	if _, err := c1.Poll(ctx1); !errors.Is(err, context.Canceled) {
		t.Fatalf("c1 Poll = %v", err)
	}
	a1, a2 := c1.Assignment(), c2.Assignment()
	if len(a1) != 1 || len(a2) != 1 || a1[0] == a2[0] {
		t.Fatalf("assignments %v and %v, want one partition each", a1, a2)
	}
	// c1 committed its positions before rejoining, so c2 starts at the end.
	if fc.committed("g", tp0) != 5 || fc.committed("g", tp1) != 5 {
		t.Fatal("c1 did not commit before rejoining")
	}
	cancel2()
	if r := <-got2; !errors.Is(r.err, context.Canceled) || len(r.recs) != 0 {
		t.Fatalf("c2 Poll = %d records, %v; want none (all committed)", len(r.recs), r.err)
	}

	// c2 leaves: c1 gets everything back at its next rejoin.
	if err := c2.Close(); err != nil {
		t.Fatal(err)
	}
	ctx1, cancel1 = context.WithCancel(testCtx(t))
	go func() {
		fc.fb.waitFor("generation 3", func() bool { return c1.Generation() == 3 })
		cancel1()
	}()
	if _, err := c1.Poll(ctx1); !errors.Is(err, context.Canceled) {
		t.Fatalf("c1 Poll = %v", err)
	}
	if !slices.Equal(c1.Assignment(), []TopicPartition{tp0, tp1}) || len(fc.members("g")) != 1 {
		t.Fatalf("after c2 left, c1 has %v; members %v", c1.Assignment(), fc.members("g"))
	}
}

func TestConsumerCloseEndsPoll(t *testing.T) {
	fb, cl, _, _ := groupSetup(t, 1, 0)
	c := newTestConsumer(t, cl, testConsumerConfig())
	ctx := testCtx(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Poll(ctx)
		errc <- err
	}()
	fb.waitFor("joined", func() bool { return c.Generation() == 1 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Poll during Close = %v, want ErrClosed", err)
	}
	if err := c.Commit(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Commit after Close = %v", err)
	}
	if _, err := c.Committed(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Committed after Close = %v", err)
	}
}

func TestConsumerJoinFollowsLeaderAndFailsOnInvalidGroup(t *testing.T) {
	fb, cl, _, fc := groupSetup(t, 1, 3)
	var refused atomic.Int32
	fb.setHook(func(r *fakeReq) bool {
		if r.hdr.APIKey == wire.JoinGroup && refused.Add(1) <= 2 {
			r.replyCode(wire.CodeNotLeader)
			return true
		}
		return fc.handle(r)
	})
	c := newTestConsumer(t, cl, testConsumerConfig())
	pollN(t, c, 3)
	if n := fb.count(wire.JoinGroup); n != 3 {
		t.Fatalf("%d JoinGroup requests, want 2 refused and 1 served", n)
	}

	fb.setHook(func(r *fakeReq) bool {
		if r.hdr.APIKey == wire.JoinGroup {
			r.replyCode(wire.CodeInvalidGroup)
			return true
		}
		return fc.handle(r)
	})
	c2 := newTestConsumer(t, cl, testConsumerConfig())
	if _, err := c2.Poll(testCtx(t)); !errors.Is(err, ErrInvalidGroup) {
		t.Fatalf("Poll = %v, want ErrInvalidGroup", err)
	}
}

func TestConsumerAutoCommitInterval(t *testing.T) {
	fb, cl, _, fc := groupSetup(t, 1, 5)
	cfg := testConsumerConfig()
	cfg.AutoCommitInterval = 20 * time.Millisecond
	c := newTestConsumer(t, cl, cfg)
	pollN(t, c, 5)
	// A Poll that waits for records commits once the interval has passed.
	ctx := testCtx(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Poll(ctx)
		errc <- err
	}()
	fc.waitCommitted("g", tp0, 5)
	_ = c.Close()
	<-errc
	if n := fb.count(wire.CommitOffsets); n != 1 {
		t.Fatalf("%d commits, want 1", n)
	}
}

// TestConsumerAutoCommitDefaultInterval: by default a consumer that keeps
// polling auto-commits at most once per DefaultAutoCommitInterval, not at
// every Poll (each commit is a Raft write on every node), and Close still
// commits everything that Poll returned.
func TestConsumerAutoCommitDefaultInterval(t *testing.T) {
	fb, cl, p, fc := groupSetup(t, 1, 1)
	cfg := testConsumerConfig() // AutoCommitInterval left at its default
	c := newTestConsumer(t, cl, cfg)
	start := time.Now()
	pollN(t, c, 1)
	const polls = 10
	for i := range polls {
		produceTo(t, p, 1, 1)
		if recs := pollN(t, c, 1); recs[0].Offset != int64(i+1) {
			t.Fatalf("poll %d returned offset %d", i, recs[0].Offset)
		}
	}
	// Each Poll above began with records returned by the one before: one
	// commit per Poll would be 10. Within an interval there is one at
	// most (the first); a slow machine may have let a few intervals pass.
	elapsed := time.Since(start)
	if n, most := fb.count(wire.CommitOffsets), 1+int(elapsed/DefaultAutoCommitInterval); n > most {
		t.Fatalf("%d commits during %d polls in %v, want at most %d", n, polls+1, elapsed, most)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fc.committed("g", tp0); got != polls+1 {
		t.Fatalf("after Close: committed %d, want %d", got, polls+1)
	}
}

func TestConsumerCommitNotAssigned(t *testing.T) {
	_, cl, _, fc := groupSetup(t, 2, 5)
	cfg := testConsumerConfig()
	cfg.ManualCommit = true
	c := newTestConsumer(t, cl, cfg)
	recs := pollN(t, c, 10)
	// The coordinator thinks t/1 is someone else's.
	fc.mu.Lock()
	g := fc.groups["g"]
	g.assign[c.MemberID()] = []TopicPartition{tp0}
	fc.mu.Unlock()
	err := c.Commit(testCtx(t), recs...)
	if !errors.Is(err, ErrCommitFenced) || !errors.Is(err, ErrNotAssigned) {
		t.Fatalf("Commit = %v, want ErrCommitFenced and ErrNotAssigned", err)
	}
	if fc.committed("g", tp0) != 5 {
		t.Fatal("the assigned partition was not committed")
	}
	got, err := c.Committed(testCtx(t), tp0, tp1)
	if err != nil || got[tp0] != 5 || got[tp1] != -1 {
		t.Fatalf("Committed = %v, %v", got, err)
	}
}

func TestGroupAdmin(t *testing.T) {
	_, cl, _, fc := groupSetup(t, 2, 5)
	ctx := testCtx(t)
	c := newTestConsumer(t, cl, testConsumerConfig())
	pollN(t, c, 10)

	groups, err := cl.ListGroups(ctx)
	if err != nil || len(groups) != 1 || groups[0] != (GroupSummary{Group: "g", State: GroupStateStable, Generation: 1, Members: 1}) {
		t.Fatalf("ListGroups = %+v, %v", groups, err)
	}
	if _, err := cl.ResetGroupOffsets(ctx, "g", "t", Earliest, 0); !errors.Is(err, ErrGroupNotEmpty) {
		t.Fatalf("ResetGroupOffsets with a member = %v", err)
	}
	if err := cl.DeleteGroup(ctx, "g"); !errors.Is(err, ErrGroupNotEmpty) {
		t.Fatalf("DeleteGroup with a member = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	d, err := cl.DescribeGroup(ctx, "g")
	if err != nil || d.State != GroupStateEmpty || len(d.Members) != 0 || len(d.Offsets) != 2 ||
		d.Offsets[1] != (GroupOffset{Topic: "t", Partition: 1, Committed: 5, HighWatermark: 5, Lag: 0}) {
		t.Fatalf("DescribeGroup = %+v, %v", d, err)
	}
	set, err := cl.ResetGroupOffsets(ctx, "g", "t", AtOffset, 2, 1)
	if err != nil || !slices.Equal(set, []PartitionOffset{{"t", 1, 2}}) || fc.committed("g", tp1) != 2 {
		t.Fatalf("ResetGroupOffsets = %v, %v", set, err)
	}
	if _, err := cl.ResetGroupOffsets(ctx, "g", "t", OffsetSpec(5), 0); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("ResetGroupOffsets with a bad spec = %v", err)
	}
	if err := cl.DeleteGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DescribeGroup(ctx, "g"); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("DescribeGroup of a deleted group = %v", err)
	}
}

func TestConsumerFetchSurvivesLostConnections(t *testing.T) {
	fb, cl, p, fc := groupSetup(t, 2, 5)
	var dropped atomic.Int32 // hooks run on each connection's goroutine
	fb.setHook(func(r *fakeReq) bool {
		if r.hdr.APIKey == wire.Fetch && dropped.Add(1) <= 3 {
			r.drop()
			return true
		}
		return fc.handle(r)
	})
	c := newTestConsumer(t, cl, testConsumerConfig())
	recs := pollN(t, c, 10)
	produceTo(t, p, 2, 5)
	recs = append(recs, pollN(t, c, 10)...)
	checkOffsets(t, recs, []TopicPartition{tp0, tp1}, 0, 10)
	if fb.connCount() < 2 {
		t.Fatalf("%d connections: the drops did not happen", fb.connCount())
	}
}

func TestConsumerCommitInOnRevoked(t *testing.T) {
	_, cl, _, fc := groupSetup(t, 1, 5)
	cfg := testConsumerConfig()
	cfg.ManualCommit = true
	var c *Consumer
	commitErr := make(chan error, 1)
	cfg.OnRevoked = func(ctx context.Context, _ []TopicPartition) { commitErr <- c.Commit(ctx) }
	ctx, cancel := context.WithCancel(testCtx(t))
	cfg.OnAssigned = func(context.Context, []TopicPartition) {
		if c != nil && c.Generation() == 2 {
			cancel()
		}
	}
	c = newTestConsumer(t, cl, cfg)
	pollN(t, c, 5)
	if fc.committed("g", tp0) != -1 {
		t.Fatal("a manual-commit Consumer committed by itself")
	}
	fc.rebalance("g")
	if _, err := c.Poll(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll = %v", err)
	}
	if err := <-commitErr; err != nil {
		t.Fatalf("Commit in OnRevoked: %v", err)
	}
	if fc.committed("g", tp0) != 5 {
		t.Fatalf("committed %d, want 5", fc.committed("g", tp0))
	}
}

// Closing the Client under a Consumer is how tests simulate a crashed
// consumer: heartbeats stop, and nothing is committed or left.
func TestConsumerClientCloseActsAsCrash(t *testing.T) {
	fb, _, _, fc := groupSetup(t, 1, 5)
	cl2 := newTestClient(t, Config{Brokers: []string{fb.addr}})
	c, err := cl2.Consumer(testConsumerConfig())
	if err != nil {
		t.Fatal(err)
	}
	pollN(t, c, 5)
	_ = cl2.Close()
	if _, err := c.Poll(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Poll after the Client closed = %v", err)
	}
	if err := c.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Close after the Client closed = %v, want an error matching ErrClosed", err)
	}
	if n := fb.count(wire.LeaveGroup); n != 0 || fc.committed("g", tp0) != -1 || len(fc.members("g")) != 1 {
		t.Fatalf("%d LeaveGroup, committed %d, members %v: want a silent crash", n, fc.committed("g", tp0), fc.members("g"))
	}
}

// TestConsumerFetchesFromLeader: a consumer that only knows a follower
// fetches from the leader, which applies committed records first (a
// follower learns the commit index only with the leader's next
// AppendEntries), so end-to-end latency does not include that lag.
func TestConsumerFetchesFromLeader(t *testing.T) {
	leader, follower := newFakeBroker(t, "n1"), newFakeBroker(t, "n2")
	nodes := []wire.Node{{ID: "n1", Addr: leader.addr}, {ID: "n2", Addr: follower.addr}}
	leader.setMeta("n1", nodes)
	follower.setMeta("n1", nodes)
	leader.addTopic("t", 1)
	follower.addTopic("t", 1)
	newFakeCoord(leader)
	cl := newTestClient(t, Config{Brokers: []string{follower.addr}})
	p := cl.Producer(ProducerConfig{Partitioner: ManualPartitioner{}})
	t.Cleanup(func() { _ = p.Close() })
	produceTo(t, p, 1, 3)
	c := newTestConsumer(t, cl, testConsumerConfig())
	pollN(t, c, 3)
	if n, m := follower.count(wire.Fetch), leader.count(wire.Fetch); n != 0 || m == 0 {
		t.Fatalf("fetches: follower %d, leader %d; want all on the leader", n, m)
	}
}
