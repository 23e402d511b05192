package replication

import (
	"fmt"
	"path/filepath"
	"strings"
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

// TestHousekeepingReplayDeletesWhatPeersDeleted is defect 5 of issue #14:
// a node that replays a housekeeping entry after a crash already has the
// appends that followed it in its log (replay skips them), and must still
// delete exactly what its peers deleted when they applied the entry: the
// retention decision depends only on the log as it was at the entry's
// index and the entry's time. One FSM applies appends, a housekeeping
// entry and more appends; another applies the same entries, "crashes" and
// replays them all. Both must end alike.
func TestHousekeepingReplayDeletesWhatPeersDeleted(t *testing.T) {
	const n = 40                        // records per batch: 3 batches make at least the 1 KiB minimum segment
	b := int64(len(batchOf(t, "a", n))) // every batch below has this size
	tests := []struct {
		name  string
		cfg   TopicConfig
		hk    int64 // the housekeeping entry's time
		after int   // appends after it
	}{
		// The later appends grow the active segment without a roll: size
		// retention at replay time would count their bytes.
		{"by size", TopicConfig{SegmentBytes: 3 * b, RetentionBytes: 3 * b}, 5000, 2},
		// The later appends roll: age retention at replay time would take
		// the segment active at the entry for a sealed one. (They are
		// stamped before the housekeeping's time, as when proposals race
		// or a new leader's clock lags, so no retention after a roll
		// catches up.)
		{"by age", TopicConfig{SegmentBytes: 3 * b, RetentionMs: 60_000}, 1000 + 61_000, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newHarness(t, FSMConfig{})
			if r := a.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1, Config: tc.cfg}); r != nil {
				t.Fatalf("create topic: %v", r)
			}
			for i := 0; i < 7; i++ { // segments of 3 batches: 0-2 | 3-5 | 6
				a.append("t", 0, "a", n)
			}
			if r := a.apply(CmdHousekeeping, &HousekeepingCmd{Timestamp: tc.hk}); r != nil {
				t.Fatalf("housekeeping: %v", r)
			}
			for i := 0; i < tc.after; i++ {
				a.append("t", 0, "a", n)
			}
			want := partitionShape(t, a.f)

			r := newHarness(t, FSMConfig{})
			for _, l := range a.entries {
				r.f.Apply(l)
			}
			if got := partitionShape(t, r.f); got != want {
				t.Fatalf("straight application differs:\n got  %s\n want %s", got, want)
			}
			if err := r.f.Close(); err != nil {
				t.Fatal(err)
			}
			f, err := NewFSM(FSMConfig{Dir: r.dir})
			if err != nil {
				t.Fatal(err)
			}
			r.f = f
			// Raft replays from its last snapshot, here none: from the
			// start. The appends are in the log and are skipped; the
			// housekeeping entry is applied again.
			for _, l := range a.entries {
				f.Apply(l)
			}
			if got := partitionShape(t, f); got != want {
				t.Fatalf("after replaying the housekeeping entry:\n got  %s\n want %s (its peer, which applied it once)", got, want)
			}
		})
	}
}

// partitionShape describes partition 0 of topic t: its offsets and the
// base offsets of its segment files.
func partitionShape(t *testing.T, f *FSM) string {
	t.Helper()
	start, end, err := f.Offsets("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	topic, _ := f.Topic("t")
	logs, err := filepath.Glob(filepath.Join(f.liveStateDir(), topicDir("t", topic.CreateIndex), "0", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, p := range logs {
		segs = append(segs, strings.TrimSuffix(filepath.Base(p), ".log"))
	}
	return fmt.Sprintf("offsets [%d, %d), segments %v", start, end, segs)
}

// TestHousekeepingReplayKeepsLaterProducers: a Housekeeping entry replayed
// under metadata newer than it (a snapshot the FSM persisted and raft did
// not record) expired producers by its time in that newer state, so a
// producer created after the entry, stamped by a leader whose clock was
// more than ProducerIdleTimeout behind, was forgotten by the replaying
// node only. The metadata already holds the entry's expiry.
func TestHousekeepingReplayKeepsLaterProducers(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	now := int64(1_700_000_000_000)
	if r := h.apply(CmdHousekeeping, &HousekeepingCmd{Timestamp: now}); r != nil {
		t.Fatal(r)
	}
	late := now - 2*ProducerIdleTimeout.Milliseconds() // a leader with a clock far behind
	if _, ok := h.apply(CmdInitProducer, &InitProducerCmd{Timestamp: late}).(int64); !ok {
		t.Fatal("InitProducer did not return an id")
	}
	h.snapshot() // metadata at index 2 on disk; raft does not record it
	want, err := h.f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	h.restartAndReplay(0)
	if ps := producers(h.f); len(ps) != 1 {
		t.Fatalf("after replay %d producers, want the one created after the housekeeping", len(ps))
	}
	checkDigest(t, h.f, want)
}
