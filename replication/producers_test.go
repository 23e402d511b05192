package replication

import (
	"errors"
	"fmt"
	"testing"

	mlog "github.com/minibroker/minibroker/log"
)

func (h *fsmHarness) initProducer(ts int64) int64 {
	h.t.Helper()
	r := h.apply(CmdInitProducer, &InitProducerCmd{Timestamp: ts})
	id, ok := r.(int64)
	if !ok {
		h.t.Fatalf("init producer: %v", r)
	}
	return id
}

func (h *fsmHarness) appendSeq(pid int64, seq int32, tag string, n int, ts int64) any {
	return h.appendEpoch(pid, 0, seq, tag, n, ts)
}

// appendEpoch appends an idempotent batch to t/0 in epoch epoch.
func (h *fsmHarness) appendEpoch(pid int64, epoch int16, seq int32, tag string, n int, ts int64) any {
	return h.apply(CmdAppend, &AppendCmd{Topic: "t", Partition: 0, Timestamp: ts, Batch: idemBatch(h.t, tag, n, pid, epoch, seq),
		ProducerID: pid, Sequence: seq, ProducerEpoch: epoch})
}

// idemBatch is batchOf with the producer fields set in the batch header.
func idemBatch(t testing.TB, tag string, n int, pid int64, epoch int16, seq int32) []byte {
	b := mlog.Batch(batchOf(t, tag, n))
	b.SetProducer(pid, epoch, seq)
	return b
}

func TestIdempotentAppendAcksRetriesAgainWithTheOriginalOffset(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1})
	pid := h.initProducer(1000)
	if r := h.appendSeq(pid, 0, "a", 3, 1000).(AppendResult); r.BaseOffset != 0 || r.Duplicate {
		t.Fatalf("first append: %+v", r)
	}
	h.append("t", 0, "other", 2) // a non-idempotent writer in between
	r := h.appendSeq(pid, 0, "a", 3, 1001).(AppendResult)
	if !r.Duplicate || r.BaseOffset != 0 {
		t.Fatalf("retry: %+v, want a duplicate at offset 0", r)
	}
	if r := h.appendSeq(pid, 3, "b", 1, 1002).(AppendResult); r.BaseOffset != 5 || r.Duplicate {
		t.Fatalf("next batch: %+v", r)
	}
	if got := fmt.Sprint(values(t, h.f, "t", 0)); got != "[a-0 a-1 a-2 other-0 other-1 b-0]" {
		t.Fatalf("stored %s", got)
	}
	cases := []struct {
		name string
		r    any
		want error
	}{
		{"gap", h.appendSeq(pid, 9, "gap", 1, 1003), ErrOutOfOrderSequence},
		{"unknown producer", h.appendSeq(424242, 0, "x", 1, 1003), ErrUnknownProducer},
	}
	for _, c := range cases {
		if err, _ := c.r.(error); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.r, c.want)
		}
	}
	// Push the first batch out of the remembered window: then a retry of it
	// is a DuplicateSequence error (stored, offset forgotten), not stored.
	seq := int32(4)
	for i := 0; i < recentBatches; i++ {
		h.appendSeq(pid, seq, fmt.Sprint("w", i), 1, 1004)
		seq++
	}
	if err, _ := h.appendSeq(pid, 0, "a", 3, 1005).(error); !errors.Is(err, ErrDuplicateSequence) {
		t.Fatalf("old retry: %v", err)
	}
	if n := len(values(t, h.f, "t", 0)); n != 6+recentBatches {
		t.Fatalf("%d records stored, want %d: a duplicate was stored", n, 6+recentBatches)
	}
}

func TestIdleProducersExpireByLeaderTime(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1})
	old := h.initProducer(0)
	busy := h.initProducer(0)
	day := ProducerIdleTimeout.Milliseconds()
	h.appendSeq(busy, 0, "b", 1, day-10)
	h.initProducer(day + 1) // expiry runs when a producer id is handed out
	if err, _ := h.appendSeq(old, 0, "x", 1, day+2).(error); !errors.Is(err, ErrUnknownProducer) {
		t.Fatalf("expired producer: %v", err)
	}
	if r, ok := h.appendSeq(busy, 1, "b", 1, day+2).(AppendResult); !ok || r.Duplicate {
		t.Fatalf("active producer: %v", r)
	}
}

// TestDedupStateSurvivesSnapshotRestoreAndReplay: a follower restored from
// a snapshot, and a node replaying its raft log after a restart, both
// still recognise a retried batch.
func TestDedupStateSurvivesSnapshotRestoreAndReplay(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1})
	pid := h.initProducer(1)
	h.appendSeq(pid, 0, "a", 2, 1)
	h.appendSeq(pid, 2, "b", 2, 1)

	g := restoredCopy(t, h.f)
	g.index = h.index
	if r := g.appendSeq(pid, 2, "b", 2, 2).(AppendResult); !r.Duplicate || r.BaseOffset != 2 {
		t.Fatalf("retry after restore: %+v", r)
	}
	if r := g.appendSeq(pid, 4, "c", 1, 2).(AppendResult); r.Duplicate || r.BaseOffset != 4 {
		t.Fatalf("next after restore: %+v", r)
	}

	// Restart without a snapshot and replay every entry: nothing is stored
	// twice and the retry is still recognised, with its original offset
	// (replay finds it in the log).
	h.f.Close()
	f, err := NewFSM(FSMConfig{Dir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	h.f = f
	for _, l := range h.entries {
		f.Apply(l)
	}
	if got := fmt.Sprint(values(t, f, "t", 0)); got != "[a-0 a-1 b-0 b-1]" {
		t.Fatalf("after replay: %s", got)
	}
	if r := h.appendSeq(pid, 2, "b", 2, 3).(AppendResult); !r.Duplicate || r.BaseOffset != 2 {
		t.Fatalf("retry after replay: %+v", r)
	}
}
