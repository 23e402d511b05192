package replication

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
)

// producers returns a copy of the FSM's producer state, sorted by id.
func producers(f *FSM) []*producerState {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.meta.sortedProducers()
}

func fmtProducers(ps []*producerState) string {
	var b bytes.Buffer
	for _, p := range ps {
		fmt.Fprintf(&b, "producer %d (last seen %d):", p.ID, p.LastSeen)
		for _, pp := range p.Parts {
			fmt.Fprintf(&b, " %s/%d epoch=%d next=%d recent=%+v;", pp.Topic, pp.Partition, pp.Epoch, pp.NextSeq, pp.Recent)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// snapshot takes a snapshot of h's FSM as raft would, which records the
// metadata in the FSM's directory, and returns its index.
func (h *fsmHarness) snapshot() uint64 {
	h.t.Helper()
	snap, err := h.f.Snapshot()
	if err != nil {
		h.t.Fatal(err)
	}
	defer snap.Release()
	if err := snap.Persist(&bufSink{Buffer: new(bytes.Buffer)}); err != nil {
		h.t.Fatal(err)
	}
	return h.index
}

// restartAndReplay closes h's FSM, opens its directory again and applies
// the entries after index from, as raft does after a restart: it replays
// its log from the last snapshot's index.
func (h *fsmHarness) restartAndReplay(from uint64) {
	h.t.Helper()
	if err := h.f.Close(); err != nil {
		h.t.Fatal(err)
	}
	f, err := NewFSM(FSMConfig{Dir: h.dir})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { f.Close() })
	h.f = f
	for _, l := range h.entries {
		if l.Index > from {
			f.Apply(l)
		}
	}
}

// TestNegativeSequenceForNewPartitionDoesNotPanic: an idempotent append
// with sequence -1, by a known producer to a partition it never wrote,
// made dedupCheck dereference the producer's missing partition state:
// every replica panicked in Apply, again on every restart. It is rejected
// with ErrInvalidSequence, changes nothing, and the FSM goes on.
func TestNegativeSequenceForNewPartitionDoesNotPanic(t *testing.T) {
	// The check on its own first: it runs under FSM.mu, so a panic through
	// Apply would leave the harness's Close blocked instead of failing.
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("dedupCheck panicked: %v", r)
			}
		}()
		m := newMetaState()
		m.Producers[7] = &producerState{ID: 7}
		r, done := m.dedupCheck(&AppendCmd{Topic: "t", ProducerID: 7, Sequence: -1}, 1)
		if err, _ := r.(error); !done || !errors.Is(err, ErrInvalidSequence) {
			t.Fatalf("dedupCheck = %v, %v; want ErrInvalidSequence", r, done)
		}
	}()

	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 2})
	fresh := h.initProducer(1000) // has written nowhere
	wrote := h.initProducer(1000) // has written to t/0 only
	if r, ok := h.appendSeq(wrote, 0, "a", 2, 1000).(AppendResult); !ok || r.BaseOffset != 0 {
		t.Fatalf("first batch: %v", r)
	}
	before := producers(h.f)
	for _, c := range []struct {
		name string
		pid  int64
		p    int32
		seq  int32
	}{
		{"new producer, new partition", fresh, 0, -1},
		{"producer's other partition", wrote, 1, -1},
		{"producer's partition", wrote, 0, -1},
		{"most negative", wrote, 1, math.MinInt32},
	} {
		r := h.apply(CmdAppend, &AppendCmd{Topic: "t", Partition: c.p, Timestamp: 2000, Batch: idemBatch(t, "x", 1, c.pid, 0, c.seq),
			ProducerID: c.pid, Sequence: c.seq})
		wantErr(t, c.name, r, ErrInvalidSequence)
	}
	if after := producers(h.f); !reflect.DeepEqual(after, before) {
		t.Fatalf("a rejected batch changed the producers:\n%swas\n%s", fmtProducers(after), fmtProducers(before))
	}
	if n := len(values(t, h.f, "t", 0)) + len(values(t, h.f, "t", 1)); n != 2 {
		t.Fatalf("%d records stored, want 2", n)
	}
	// The FSM goes on, and so does a replay of the same entries.
	if r, ok := h.appendSeq(fresh, 0, "b", 1, 3000).(AppendResult); !ok || r.BaseOffset != 2 {
		t.Fatalf("next batch: %v", r)
	}
	want := producers(h.f)
	h.restartAndReplay(0)
	if got := producers(h.f); !reflect.DeepEqual(got, want) {
		t.Fatalf("after replay:\n%swant\n%s", fmtProducers(got), fmtProducers(want))
	}
}

// TestSequenceOverflowRejected: a batch whose sequence plus record count
// passes MaxInt32 wrapped NextSeq's sum negative, so NextSeq stayed put
// and the same batch was stored again when resent. It is rejected; a batch
// that ends exactly at MaxInt32 is fine.
func TestSequenceOverflowRejected(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1})
	pid := h.initProducer(1000)
	h.appendSeq(pid, 0, "a", 1, 1000)
	// Skip the two billion records it would take to get here.
	h.f.mu.Lock()
	h.f.meta.Producers[pid].find("t", 0).NextSeq = math.MaxInt32 - 5
	h.f.mu.Unlock()

	wantErr(t, "past MaxInt32", h.appendSeq(pid, math.MaxInt32-5, "x", 10, 1001), ErrInvalidSequence)
	wantErr(t, "past MaxInt32, resent", h.appendSeq(pid, math.MaxInt32-5, "x", 10, 1002), ErrInvalidSequence)
	if r, ok := h.appendSeq(pid, math.MaxInt32-5, "y", 5, 1003).(AppendResult); !ok || r.Duplicate || r.BaseOffset != 1 {
		t.Fatalf("batch up to MaxInt32: %v", r)
	}
	wantErr(t, "at MaxInt32", h.appendSeq(pid, math.MaxInt32, "z", 1, 1004), ErrInvalidSequence)
	if got := fmt.Sprint(values(t, h.f, "t", 0)); got != "[a-0 y-0 y-1 y-2 y-3 y-4]" {
		t.Fatalf("stored %s", got)
	}
	if next := producers(h.f)[0].Parts[0].NextSeq; next != math.MaxInt32 {
		t.Fatalf("NextSeq %d, want MaxInt32", next)
	}
}

// TestReplayDoesNotRecordRejectedIdempotentBatch: replay after a restart
// recorded every idempotent batch as stored, even one Apply had refused,
// so the replaying node's NextSeq ran ahead of the others' and it refused
// the producer's next batch as a duplicate; and it recorded replayed
// batches' offsets as -1. Replay now takes Apply's decision and finds the
// offsets in the log: the state equals the straight-applied one, with or
// without a snapshot before the restart.
func TestReplayDoesNotRecordRejectedIdempotentBatch(t *testing.T) {
	for _, snapAfterFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshot=%v", snapAfterFirst), func(t *testing.T) {
			h := newHarness(t, FSMConfig{})
			h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1})
			pid := h.initProducer(1000)
			h.append("t", 0, "plain", 3) // offsets 0-2
			if r := h.appendSeq(pid, 0, "a", 10, 1001).(AppendResult); r.BaseOffset != 3 {
				t.Fatalf("seq 0: %+v", r)
			}
			var from uint64
			if snapAfterFirst {
				from = h.snapshot()
			}
			wantErr(t, "seq 5", h.appendSeq(pid, 5, "b", 10, 1002), ErrDuplicateSequence)
			if r := h.appendSeq(pid, 10, "c", 1, 1003).(AppendResult); r.BaseOffset != 13 {
				t.Fatalf("seq 10: %+v", r)
			}
			want := producers(h.f)

			h.restartAndReplay(from)
			if got := producers(h.f); !reflect.DeepEqual(got, want) {
				t.Fatalf("after replay:\n%swant (straight-applied)\n%s", fmtProducers(got), fmtProducers(want))
			}
			if r, ok := h.appendSeq(pid, 11, "d", 1, 1004).(AppendResult); !ok || r.Duplicate || r.BaseOffset != 14 {
				t.Fatalf("next batch after replay: %v", r)
			}
			if r, ok := h.appendSeq(pid, 10, "c", 1, 1005).(AppendResult); !ok || !r.Duplicate || r.BaseOffset != 13 {
				t.Fatalf("retry after replay: %v, want a duplicate at 13", r)
			}
		})
	}
}

// TestReplayPlacesBatchesRetentionRemoved: batches applied after the last
// snapshot that retention removed before the restart are no longer in the
// log to be found; replay places them from the batches after them, and
// the producer state still equals the straight-applied one.
func TestReplayPlacesBatchesRetentionRemoved(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1,
		Config: TopicConfig{SegmentBytes: 1024, RetentionBytes: 2048}})
	a := h.initProducer(1000)
	b := h.initProducer(1000)
	from := h.snapshot()
	h.append("t", 0, "p", 3)
	h.appendSeq(a, 0, "a", 5, 1001)
	h.append("t", 0, "q", 2)
	h.appendSeq(a, 5, "a", 4, 1002)
	wantErr(t, "refused", h.appendSeq(a, 2, "a", 5, 1003), ErrDuplicateSequence)
	if r := h.appendSeq(a, 0, "a", 5, 1003).(AppendResult); !r.Duplicate {
		t.Fatalf("retry: %+v", r)
	}
	h.append("t", 0, "r", 1)
	h.appendSeq(a, 9, "a", 2, 1004)
	last := h.appendSeq(a, 11, "a", 3, 1004).(AppendResult)
	seq := int32(0)
	for range 40 {
		h.appendSeq(b, seq, "b", 6, 1005)
		seq += 6
	}
	start, _, err := h.f.Offsets("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if start <= last.BaseOffset {
		t.Fatalf("log starts at %d: retention has not removed producer a's batches (last at %d)", start, last.BaseOffset)
	}
	want := producers(h.f)
	h.restartAndReplay(from)
	if got := producers(h.f); !reflect.DeepEqual(got, want) {
		t.Fatalf("after replay:\n%swant (straight-applied)\n%s", fmtProducers(got), fmtProducers(want))
	}
}
