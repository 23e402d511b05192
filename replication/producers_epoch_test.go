package replication

import (
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
	mlog "github.com/minibroker/minibroker/log"
)

// TestProducerEpochStaleRefused: once a partition has stored a batch of a
// producer's epoch 1, a batch of epoch 0 is refused with
// ErrInvalidProducerEpoch, whatever its sequence (even one that would be
// the next, or a retry's), and changes nothing.
func TestProducerEpochStaleRefused(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1})
	pid := h.initProducer(1000)
	if r, ok := h.appendEpoch(pid, 0, 0, "a", 2, 1001).(AppendResult); !ok || r.BaseOffset != 0 {
		t.Fatalf("epoch 0: %v", r)
	}
	if r, ok := h.appendEpoch(pid, 1, 0, "b", 3, 1002).(AppendResult); !ok || r.BaseOffset != 2 {
		t.Fatalf("epoch 1: %v", r)
	}
	before := producers(h.f)
	wantErr(t, "stale retry", h.appendEpoch(pid, 0, 0, "a", 2, 1003), ErrInvalidProducerEpoch)
	wantErr(t, "stale next", h.appendEpoch(pid, 0, 2, "c", 1, 1003), ErrInvalidProducerEpoch)
	wantErr(t, "stale at the new next", h.appendEpoch(pid, 0, 3, "c", 1, 1003), ErrInvalidProducerEpoch)
	wantErr(t, "negative", h.appendEpoch(pid, -1, 3, "c", 1, 1003), ErrInvalidProducerEpoch)
	if after := producers(h.f); !reflect.DeepEqual(after, before) {
		t.Fatalf("a refused batch changed the producers:\n%swas\n%s", fmtProducers(after), fmtProducers(before))
	}
	if n := len(values(t, h.f, "t", 0)); n != 5 {
		t.Fatalf("%d records stored, want 5", n)
	}
}

// TestProducerEpochBumpStartsOver: a batch in a higher epoch must start at
// sequence 0 (else ErrOutOfOrderSequence) and resets the partition's
// state: sequences count from it, the old epoch's batches are no longer
// acked as duplicates, the new epoch's are.
func TestProducerEpochBumpStartsOver(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1})
	pid := h.initProducer(1000)
	h.appendEpoch(pid, 0, 0, "a", 4, 1001)
	h.appendEpoch(pid, 0, 4, "a", 1, 1001)
	wantErr(t, "bump not at 0", h.appendEpoch(pid, 1, 5, "x", 1, 1002), ErrOutOfOrderSequence)
	wantErr(t, "bump not at 0", h.appendEpoch(pid, 2, 1, "x", 1, 1002), ErrOutOfOrderSequence)
	if r, ok := h.appendEpoch(pid, 2, 0, "b", 2, 1003).(AppendResult); !ok || r.BaseOffset != 5 || r.Duplicate {
		t.Fatalf("bump to 2 at 0: %v", r)
	}
	pp := producers(h.f)[0].Parts[0]
	if pp.Epoch != 2 || pp.NextSeq != 2 || len(pp.Recent) != 1 {
		t.Fatalf("after the bump: %+v", pp)
	}
	if r, ok := h.appendEpoch(pid, 2, 0, "b", 2, 1004).(AppendResult); !ok || !r.Duplicate || r.BaseOffset != 5 {
		t.Fatalf("retry in the new epoch: %v, want a duplicate at 5", r)
	}
	wantErr(t, "gap in the new epoch", h.appendEpoch(pid, 2, 3, "c", 1, 1004), ErrOutOfOrderSequence)
	if r, ok := h.appendEpoch(pid, 2, 2, "c", 1, 1004).(AppendResult); !ok || r.BaseOffset != 7 {
		t.Fatalf("next in the new epoch: %v", r)
	}
	// The first batch of a producer in a partition may come in any epoch.
	other := h.initProducer(1005)
	if r, ok := h.appendEpoch(other, 3, 0, "o", 1, 1005).(AppendResult); !ok || r.BaseOffset != 8 {
		t.Fatalf("first batch in epoch 3: %v", r)
	}
	wantErr(t, "then epoch 2", h.appendEpoch(other, 2, 1, "o", 1, 1006), ErrInvalidProducerEpoch)

	// Replay reaches the same state.
	want := producers(h.f)
	h.restartAndReplay(0)
	if got := producers(h.f); !reflect.DeepEqual(got, want) {
		t.Fatalf("after replay:\n%swant (straight-applied)\n%s", fmtProducers(got), fmtProducers(want))
	}
}

// TestReplayPlacesRemovedBatchesAcrossEpochs: retention removed a
// producer's batches of two epochs, both starting at sequence 0, before a
// restart; replay places the new epoch's batch at its own offset, not the
// old epoch's batch's, as straight application remembered it.
func TestReplayPlacesRemovedBatchesAcrossEpochs(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1,
		Config: TopicConfig{SegmentBytes: 1024, RetentionBytes: 2048}})
	a := h.initProducer(1000)
	b := h.initProducer(1000)
	from := h.snapshot()
	h.appendEpoch(a, 0, 0, "a", 5, 1001)
	last := h.appendEpoch(a, 1, 0, "a", 3, 1002).(AppendResult)
	seq := int32(0)
	for range 40 {
		h.appendSeq(b, seq, "b", 6, 1005)
		seq += 6
	}
	if start, _, err := h.f.Offsets("t", 0); err != nil || start <= last.BaseOffset {
		t.Fatalf("log starts at %d (%v): retention has not removed producer a's batches", start, err)
	}
	want := producers(h.f)
	h.restartAndReplay(from)
	if got := producers(h.f); !reflect.DeepEqual(got, want) {
		t.Fatalf("after replay:\n%swant (straight-applied)\n%s", fmtProducers(got), fmtProducers(want))
	}
}

// TestAppendCommandMustMatchItsBatch: the producer fields of an Append
// command repeat its batch header's; a command that disagrees is refused
// with ErrBadCommand and stores nothing, applied or replayed.
func TestAppendCommandMustMatchItsBatch(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1})
	pid := h.initProducer(1000)
	for _, c := range []struct {
		name string
		cmd  AppendCmd
	}{
		{"idempotent batch, plain command", AppendCmd{Batch: idemBatch(t, "x", 1, pid, 0, 0)}},
		{"plain batch, idempotent command", AppendCmd{Batch: batchOf(t, "x", 1), ProducerID: pid}},
		{"other epoch", AppendCmd{Batch: idemBatch(t, "x", 1, pid, 1, 0), ProducerID: pid}},
		{"other sequence", AppendCmd{Batch: idemBatch(t, "x", 1, pid, 0, 1), ProducerID: pid}},
		{"other producer", AppendCmd{Batch: idemBatch(t, "x", 1, pid+1, 0, 0), ProducerID: pid}},
		{"producer 0 in the batch", AppendCmd{Batch: idemBatch(t, "x", 1, 0, 0, 0)}},
	} {
		c.cmd.Topic, c.cmd.Timestamp = "t", 2000
		wantErr(t, c.name, h.apply(CmdAppend, &c.cmd), ErrBadCommand)
	}
	if n := len(values(t, h.f, "t", 0)); n != 0 {
		t.Fatalf("%d records stored", n)
	}
	if r, ok := h.appendSeq(pid, 0, "ok", 1, 2001).(AppendResult); !ok || r.BaseOffset != 0 {
		t.Fatalf("a matching command: %v", r)
	}
}

// TestAppendStoresTermAsLeaderEpoch: Apply stores the Raft entry's term as
// the batch's Kafka partition leader epoch, and its index as meta.
func TestAppendStoresTermAsLeaderEpoch(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1})
	for i, term := range []uint64{7, 1 << 40} {
		data := encodeAppend(&AppendCmd{Topic: "t", Timestamp: 5000, Batch: batchOf(t, "x", 1)})
		h.index++
		if r, ok := h.f.Apply(&raft.Log{Index: h.index, Term: term, Type: raft.LogCommand, Data: data}).(AppendResult); !ok || r.BaseOffset != int64(i) {
			t.Fatalf("append: %v", r)
		}
	}
	buf, err := h.f.ReadInto(nil, "t", 0, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int32{7, 1<<31 - 1} {
		b, rest, err := mlog.ParseBatch(buf)
		if err != nil {
			t.Fatal(err)
		}
		if b.LeaderEpoch() != want || b.Meta() == 0 {
			t.Fatalf("batch at %d: leader epoch %d meta %d, want epoch %d", b.BaseOffset(), b.LeaderEpoch(), b.Meta(), want)
		}
		buf = rest
	}
}

// TestDecodeAppendWithoutEpoch: an Append command written before producer
// epochs (a 6-field array) decodes with epoch 0; the 7-field one round
// trips.
func TestDecodeAppendWithoutEpoch(t *testing.T) {
	c := AppendCmd{Topic: "t", Partition: 2, Timestamp: 9, Batch: []byte("b"), ProducerID: 5, Sequence: 6, ProducerEpoch: 7}
	enc := encodeAppend(&c)
	if enc[1] != 0x97 {
		t.Fatalf("array header %#x, want a fixarray of 7", enc[1])
	}
	got, err := decodeAppend(enc[1:])
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	// The same command as the previous version encoded it: drop the epoch.
	old := append([]byte{0x96}, enc[2:len(enc)-9]...)
	got, err = decodeAppend(old)
	c.ProducerEpoch = 0
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("6-field array: %+v, %v", got, err)
	}
}

// TestDigestCoversProducerEpoch: two replicas whose producer state differs
// only in the epoch have different metadata digests.
func TestDigestCoversProducerEpoch(t *testing.T) {
	var metas []string
	for _, epoch := range []int16{0, 1} {
		h := newHarness(t, FSMConfig{})
		h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1})
		pid := h.initProducer(1000)
		h.appendSeq(pid, 0, "a", 1, 1001)
		h.f.mu.Lock()
		h.f.meta.Producers[pid].Parts[0].Epoch = epoch // the only difference
		h.f.mu.Unlock()
		d, err := h.f.Digest()
		if err != nil {
			t.Fatal(err)
		}
		metas = append(metas, d.Meta)
	}
	if metas[0] == metas[1] {
		t.Fatal("the metadata digest does not cover the producer epoch")
	}
}
