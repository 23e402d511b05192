package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

var (
	tp0 = TopicPartition{"t", 0}
	tp1 = TopicPartition{"t", 1}
)

// groupSetup starts a fake broker with a group coordinator and topic "t"
// of parts partitions holding perPart records each (values "p<part>-<i>").
func groupSetup(t *testing.T, parts, perPart int) (*fakeBroker, *Client, *Producer, *fakeCoord) {
	t.Helper()
	fb, cl, p := producerSetup(t, parts, ProducerConfig{Partitioner: ManualPartitioner{}})
	fc := newFakeCoord(fb)
	produceTo(t, p, parts, perPart)
	return fb, cl, p, fc
}

// produceTo appends n records to each of the first parts partitions of "t".
func produceTo(t *testing.T, p *Producer, parts, n int) {
	t.Helper()
	for part := range parts {
		for range n {
			if _, err := p.Produce(testCtx(t), Message{Topic: "t", Partition: int32(part), Value: []byte("v")}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// testConsumerConfig heartbeats every 5ms, so that tests see the
// coordinator's answers quickly.
func testConsumerConfig() ConsumerConfig {
	return ConsumerConfig{Group: "g", Topics: []string{"t"}, SessionTimeout: 10 * time.Second,
		HeartbeatInterval: 5 * time.Millisecond, FetchMaxWait: 20 * time.Millisecond}
}

func newTestConsumer(t *testing.T, cl *Client, cfg ConsumerConfig) *Consumer {
	t.Helper()
	c, err := cl.Consumer(cfg)
	if err != nil {
		t.Fatalf("Consumer: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// pollN polls until n records have come and returns them.
func pollN(t *testing.T, c *Consumer, n int) []Record {
	t.Helper()
	var all []Record
	for len(all) < n {
		recs, err := c.Poll(testCtx(t))
		if err != nil {
			t.Fatalf("Poll after %d of %d records: %v", len(all), n, err)
		}
		all = append(all, recs...)
	}
	if len(all) != n {
		t.Fatalf("got %d records, want %d", len(all), n)
	}
	return all
}

// checkOffsets checks that recs hold offsets from..to-1 of each partition
// in parts, each once and in order per partition.
func checkOffsets(t *testing.T, recs []Record, parts []TopicPartition, from, to int64) {
	t.Helper()
	next := map[TopicPartition]int64{}
	for _, tp := range parts {
		next[tp] = from
	}
	for _, r := range recs {
		tp := TopicPartition{r.Topic, r.Partition}
		want, ok := next[tp]
		if !ok || r.Offset != want {
			t.Fatalf("record %v@%d, want offset %d (assigned %v: %v)", tp, r.Offset, want, parts, ok)
		}
		next[tp]++
	}
	for tp, n := range next {
		if n != to {
			t.Fatalf("%v: read up to %d, want %d", tp, n, to)
		}
	}
}

// events records callback calls as "revoked [t/0 t/1]" etc.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(what string, tps []TopicPartition) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, fmt.Sprintf("%s %v", what, tps))
}

func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

// hook sets cfg's callbacks to record into e; onAssigned, if set, also
// runs in OnAssigned.
func (e *events) hook(cfg *ConsumerConfig, onAssigned func()) {
	cfg.OnAssigned = func(_ context.Context, tps []TopicPartition) {
		e.add("assigned", tps)
		if onAssigned != nil {
			onAssigned()
		}
	}
	cfg.OnRevoked = func(_ context.Context, tps []TopicPartition) { e.add("revoked", tps) }
	cfg.OnLost = func(_ context.Context, tps []TopicPartition) { e.add("lost", tps) }
}

func TestConsumerConsumesAndAutoCommits(t *testing.T) {
	fb, cl, p, fc := groupSetup(t, 2, 10)
	var ev events
	cfg := testConsumerConfig()
	cfg.AutoCommitInterval = -1 // at every Poll
	ev.hook(&cfg, nil)
	c := newTestConsumer(t, cl, cfg)
	if c.MemberID() != "" || c.Generation() != 0 || len(c.Assignment()) != 0 {
		t.Fatalf("before Poll: member %q generation %d assignment %v", c.MemberID(), c.Generation(), c.Assignment())
	}
	recs := pollN(t, c, 20)
	parts := []TopicPartition{tp0, tp1}
	checkOffsets(t, recs, parts, 0, 10)
	if !slices.Equal(c.Assignment(), parts) || c.MemberID() == "" || c.Generation() != 1 {
		t.Fatalf("after Poll: member %q generation %d assignment %v", c.MemberID(), c.Generation(), c.Assignment())
	}
	if pos, ok := c.Position(tp1); !ok || pos != 10 {
		t.Fatalf("Position(t/1) = %d, %v; want 10", pos, ok)
	}
	if got := ev.get(); !slices.Equal(got, []string{"assigned [t/0 t/1]"}) {
		t.Fatalf("callbacks %v", got)
	}

	// The next Poll commits what the first ones returned, in the background.
	produceTo(t, p, 1, 1)
	pollN(t, c, 1)
	fc.waitCommitted("g", tp0, 10)
	fc.waitCommitted("g", tp1, 10)
	got, err := c.Committed(testCtx(t))
	if err != nil || got[tp0] != 10 || got[tp1] != 10 {
		t.Fatalf("Committed = %v, %v", got, err)
	}

	// Close commits the last record (t/0@10) and leaves.
	member := c.MemberID()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if fc.committed("g", tp0) != 11 {
		t.Fatalf("after Close: committed t/0 = %d, want 11", fc.committed("g", tp0))
	}
	if l := fc.leavesSeen(); !slices.Equal(l, []string{member}) || len(fc.members("g")) != 0 {
		t.Fatalf("leaves %v, members %v", l, fc.members("g"))
	}
	if _, err := c.Poll(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Poll after Close = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := fb.count(wire.LeaveGroup); n != 1 {
		t.Fatalf("%d LeaveGroup requests", n)
	}
}

func TestConsumerResumesFromCommittedAndMaxPollRecords(t *testing.T) {
	_, cl, _, fc := groupSetup(t, 1, 10)
	fc.setCommitted("g", tp0, 4)
	cfg := testConsumerConfig()
	cfg.MaxPollRecords = 4
	c := newTestConsumer(t, cl, cfg)
	var all []Record
	for len(all) < 6 {
		recs, err := c.Poll(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 4 {
			t.Fatalf("Poll returned %d records, MaxPollRecords is 4", len(recs))
		}
		all = append(all, recs...)
	}
	checkOffsets(t, all, []TopicPartition{tp0}, 4, 10)
}

func TestConsumerCommitSkipsNonAdvancingOffsets(t *testing.T) {
	fb, cl, _, fc := groupSetup(t, 1, 10)
	cfg := testConsumerConfig()
	cfg.ManualCommit = true
	c := newTestConsumer(t, cl, cfg)
	recs := pollN(t, c, 10)
	ctx := testCtx(t)

	if err := c.Commit(ctx, recs[2], recs[5], recs[1]); err != nil {
		t.Fatal(err)
	}
	if fc.committed("g", tp0) != 6 || fb.count(wire.CommitOffsets) != 1 {
		t.Fatalf("committed %d after %d requests; want 6 after 1", fc.committed("g", tp0), fb.count(wire.CommitOffsets))
	}
	for _, older := range [][]Record{recs[3:4], recs[5:6]} {
		if err := c.Commit(ctx, older...); err != nil {
			t.Fatalf("Commit of an older record: %v", err)
		}
	}
	if n := fb.count(wire.CommitOffsets); n != 1 {
		t.Fatalf("%d commit requests; commits at or below the committed offset must not be sent", n)
	}
	if err := c.Commit(ctx); err != nil || fc.committed("g", tp0) != 10 {
		t.Fatalf("Commit() = %v; committed %d, want 10", err, fc.committed("g", tp0))
	}
	if err := c.Commit(ctx); err != nil || fb.count(wire.CommitOffsets) != 2 {
		t.Fatalf("repeated Commit() = %v after %d requests, want no new request", err, fb.count(wire.CommitOffsets))
	}
	// Manual commit: Poll does not commit, and neither does Close.
	fc.setCommitted("g", tp0, 7)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if fc.committed("g", tp0) != 7 || fb.count(wire.CommitOffsets) != 2 {
		t.Fatal("a manual-commit Consumer committed by itself")
	}
}

func TestConsumerRejoinsOnRebalance(t *testing.T) {
	_, cl, _, fc := groupSetup(t, 2, 5)
	var ev events
	cfg := testConsumerConfig()
	ctx, cancel := context.WithCancel(testCtx(t))
	ev.hook(&cfg, func() {
		if len(ev.get()) > 1 {
			cancel() // the second assignment ends the Poll below
		}
	})
	c := newTestConsumer(t, cl, cfg)
	pollN(t, c, 10)
	member := c.MemberID()

	fc.rebalance("g")
	if _, err := c.Poll(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll = %v, want it cancelled from the second OnAssigned", err)
	}
	want := []string{"assigned [t/0 t/1]", "revoked [t/0 t/1]", "assigned [t/0 t/1]"}
	if got := ev.get(); !slices.Equal(got, want) {
		t.Fatalf("callbacks %v, want %v", got, want)
	}
	joins := fc.joinsSeen()
	if len(joins) != 2 || joins[1].MemberID != member || c.MemberID() != member || c.Generation() != 2 {
		t.Fatalf("joins %+v; member %q generation %d, want rejoin as %q in generation 2", joins, c.MemberID(), c.Generation(), member)
	}
	// Auto-commit committed the positions before rejoining, and the new
	// generation resumed from them.
	if fc.committed("g", tp0) != 5 || fc.committed("g", tp1) != 5 {
		t.Fatalf("committed %d, %d; want 5, 5", fc.committed("g", tp0), fc.committed("g", tp1))
	}
	if pos, ok := c.Position(tp0); !ok || pos != 5 {
		t.Fatalf("Position(t/0) = %d, %v after rejoin", pos, ok)
	}
}

func TestConsumerOnLostWhenRemoved(t *testing.T) {
	_, cl, _, fc := groupSetup(t, 1, 5)
	var ev events
	cfg := testConsumerConfig()
	ctx, cancel := context.WithCancel(testCtx(t))
	ev.hook(&cfg, func() {
		if len(ev.get()) > 1 {
			cancel()
		}
	})
	c := newTestConsumer(t, cl, cfg)
	pollN(t, c, 5)
	member := c.MemberID()

	fc.expire("g", member) // heartbeats now answer UnknownMember
	if _, err := c.Poll(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll = %v", err)
	}
	want := []string{"assigned [t/0]", "lost [t/0]", "assigned [t/0]"}
	if got := ev.get(); !slices.Equal(got, want) {
		t.Fatalf("callbacks %v, want %v", got, want)
	}
	joins := fc.joinsSeen()
	if len(joins) != 2 || joins[1].MemberID != "" || c.MemberID() == member || c.MemberID() == "" {
		t.Fatalf("joins %+v, member now %q (was %q): want a fresh join", joins, c.MemberID(), member)
	}
	// A commit may have been tried before the heartbeat found out; none
	// got through. Nothing was committed, so the new member starts over.
	if off := fc.committed("g", tp0); off != -1 {
		t.Fatalf("committed %d after the partitions were lost", off)
	}
	checkOffsets(t, pollN(t, c, 5), []TopicPartition{tp0}, 0, 5)
}

func TestConsumerCommitFenced(t *testing.T) {
	_, cl, _, fc := groupSetup(t, 1, 5)
	var ev events
	cfg := testConsumerConfig()
	cfg.ManualCommit = true
	cfg.SessionTimeout, cfg.HeartbeatInterval = 2*time.Hour, time.Hour // only the commit finds out
	ctx, cancel := context.WithCancel(testCtx(t))
	ev.hook(&cfg, func() {
		if len(ev.get()) > 1 {
			cancel()
		}
	})
	c := newTestConsumer(t, cl, cfg)
	recs := pollN(t, c, 5)

	fc.bumpGeneration("g")
	err := c.Commit(testCtx(t), recs...)
	if !errors.Is(err, ErrCommitFenced) || !errors.Is(err, ErrIllegalGeneration) {
		t.Fatalf("Commit = %v, want ErrCommitFenced and ErrIllegalGeneration", err)
	}
	if _, err := c.Poll(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll = %v", err)
	}
	want := []string{"assigned [t/0]", "lost [t/0]", "assigned [t/0]"}
	if got := ev.get(); !slices.Equal(got, want) {
		t.Fatalf("callbacks %v, want %v", got, want)
	}
	if joins := fc.joinsSeen(); len(joins) != 2 || joins[1].MemberID != "" {
		t.Fatalf("joins %+v, want a fresh second join", joins)
	}
	if err := c.Commit(testCtx(t), recs[4]); err != nil {
		t.Fatalf("Commit in the new generation: %v", err)
	}
}

func TestConsumerLeavesAfterMaxPollInterval(t *testing.T) {
	_, cl, _, fc := groupSetup(t, 1, 5)
	var ev events
	cfg := testConsumerConfig()
	cfg.MaxPollInterval = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(testCtx(t))
	ev.hook(&cfg, func() {
		if len(ev.get()) > 1 {
			cancel()
		}
	})
	c := newTestConsumer(t, cl, cfg)
	pollN(t, c, 5)
	member := c.MemberID()
	// No Poll: the heartbeat goroutine leaves the group.
	fc.fb.waitFor("LeaveGroup", func() bool { return len(fc.leavesSeen()) == 1 })
	if l := fc.leavesSeen(); l[0] != member || len(fc.members("g")) != 0 {
		t.Fatalf("leaves %v, members %v", l, fc.members("g"))
	}
	if _, err := c.Poll(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll = %v", err)
	}
	want := []string{"assigned [t/0]", "lost [t/0]", "assigned [t/0]"}
	if got := ev.get(); !slices.Equal(got, want) {
		t.Fatalf("callbacks %v, want %v", got, want)
	}
	if c.MemberID() == member || len(fc.members("g")) != 1 {
		t.Fatalf("member %q after rejoining (was %q)", c.MemberID(), member)
	}
}
