package replication

import (
	"testing"
	"time"
)

// TestHousekeepingAppliesRetentionByAgeToIdlePartitions: no append rolls
// an idle partition, so retention by age needs the leader's housekeeping
// command; it also expires idle producers.
func TestHousekeepingAppliesRetentionByAgeToIdlePartitions(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1,
		Config: TopicConfig{SegmentBytes: 1024, RetentionMs: 60_000}})
	pid := h.initProducer(1000)
	for i := 0; i < 20; i++ { // records stamped at 1000 ms; several segments
		h.append("t", 0, "x", 5)
	}
	if start, _, _ := h.f.Offsets("t", 0); start != 0 {
		t.Fatalf("start %d before housekeeping", start)
	}
	h.apply(CmdHousekeeping, &HousekeepingCmd{Timestamp: 30_000}) // not old enough yet
	if start, _, _ := h.f.Offsets("t", 0); start != 0 {
		t.Fatalf("retention ran early: start %d", start)
	}
	if r := h.apply(CmdHousekeeping, &HousekeepingCmd{Timestamp: 1000 + 61_000}); r != nil {
		t.Fatalf("housekeeping: %v", r)
	}
	start, end, _ := h.f.Offsets("t", 0)
	if start == 0 || start == end {
		t.Fatalf("after housekeeping start %d end %d: old sealed segments should go, the active one stay", start, end)
	}
	h.apply(CmdHousekeeping, &HousekeepingCmd{Timestamp: 1000 + ProducerIdleTimeout.Milliseconds() + 1})
	if _, ok := h.f.meta.Producers[pid]; ok {
		t.Fatal("idle producer not expired by housekeeping")
	}
}

// TestLeaderProposesHousekeeping: an idle leader still advances the log,
// one housekeeping entry per interval.
func TestLeaderProposesHousekeeping(t *testing.T) {
	c := newStoreCluster(t, 1, func(cfg *Config) { cfg.HousekeepingInterval = 20 * time.Millisecond })
	n := c.stores[c.waitLeader()].Node()
	before := n.Stats().AppliedIndex
	waitFor(t, "housekeeping entries applied", func() bool { return n.Stats().AppliedIndex >= before+3 })
}
