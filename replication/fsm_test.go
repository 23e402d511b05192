package replication

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"

	mlog "github.com/minibroker/minibroker/log"
	"github.com/minibroker/minibroker/log/logtest"
)

// fsmHarness drives an FSM directly, as raft would, numbering entries.
type fsmHarness struct {
	t       *testing.T
	dir     string
	f       *FSM
	index   uint64
	entries []*raft.Log // everything applied, for replays
}

func newHarness(t *testing.T, cfg FSMConfig) *fsmHarness {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(t.TempDir(), "fsm")
	}
	f, err := NewFSM(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &fsmHarness{t: t, dir: cfg.Dir, f: f}
}

func (h *fsmHarness) apply(ct CommandType, body any) any {
	h.t.Helper()
	data, err := encodeCommand(ct, body)
	if err != nil {
		h.t.Fatal(err)
	}
	h.index++
	l := &raft.Log{Index: h.index, Term: 1, Type: raft.LogCommand, Data: data}
	h.entries = append(h.entries, l)
	return h.f.Apply(l)
}

// batchOf encodes n records whose values are "<tag>-<i>".
func batchOf(t testing.TB, tag string, n int) []byte {
	t.Helper()
	recs := make([]mlog.Record, n)
	for i := range recs {
		recs[i] = mlog.Record{Timestamp: 1000, Value: []byte(fmt.Sprintf("%s-%d", tag, i))}
	}
	b, err := mlog.AppendBatch(nil, recs, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (h *fsmHarness) append(topic string, p int32, tag string, n int) any {
	return h.apply(CmdAppend, &AppendCmd{Topic: topic, Partition: p, Timestamp: 5000, Batch: batchOf(h.t, tag, n)})
}

// values reads every record value of a partition.
func values(t testing.TB, f *FSM, topic string, p int32) []string {
	t.Helper()
	start, end, err := f.Offsets(topic, p)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for off := start; off < end; {
		buf, err := f.Read(topic, p, off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for len(buf) > 0 {
			b, rest, err := mlog.ParseBatch(buf)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := b.Records(nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				out = append(out, string(r.Value))
			}
			off, buf = b.NextOffset(), rest
		}
	}
	return out
}

func TestFSMAppliesCommands(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	if r := h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "orders", Partitions: 2}); r != nil {
		t.Fatalf("create: %v", r)
	}
	r := h.append("orders", 1, "a", 3)
	if ar, ok := r.(AppendResult); !ok || ar.BaseOffset != 0 || ar.Count != 3 {
		t.Fatalf("append: %#v", r)
	}
	if ar := h.append("orders", 1, "b", 2).(AppendResult); ar.BaseOffset != 3 {
		t.Fatalf("second append at %d, want 3", ar.BaseOffset)
	}
	if got := values(t, h.f, "orders", 1); fmt.Sprint(got) != "[a-0 a-1 a-2 b-0 b-1]" {
		t.Fatalf("values %v", got)
	}
	if r := h.apply(CmdCommitOffset, &CommitOffsetCmd{Group: "g", Topic: "orders", Partition: 1, Offset: 4, Generation: 2}); r != nil {
		t.Fatalf("commit: %v", r)
	}
	if c, ok := h.f.CommittedOffset("g", "orders", 1); !ok || c.Offset != 4 || c.Generation != 2 {
		t.Fatalf("committed %+v %v", c, ok)
	}
	if r := h.apply(CmdRegisterNode, &RegisterNodeCmd{ID: "n1", Addr: "127.0.0.1:9"}); r != nil {
		t.Fatalf("register: %v", r)
	}
	if n := h.f.Nodes(); len(n) != 1 || n[0].Addr != "127.0.0.1:9" || n[0].Num != 1 {
		t.Fatalf("nodes %v", n)
	}
	ch, _ := h.f.Changed("orders", 1)
	if r := h.apply(CmdDeleteTopic, &DeleteTopicCmd{Name: "orders"}); r != nil {
		t.Fatalf("delete: %v", r)
	}
	select {
	case <-ch:
	default:
		t.Fatal("delete did not wake waiters")
	}
	if _, ok := h.f.Topic("orders"); ok {
		t.Fatal("topic still there")
	}
	if _, ok := h.f.CommittedOffset("g", "orders", 1); ok {
		t.Fatal("offsets of a deleted topic remain")
	}
	if ents, _ := os.ReadDir(filepath.Join(h.f.liveStateDir(), "topics")); len(ents) != 0 {
		t.Fatalf("topic data remains: %v", ents)
	}
}

func TestFSMRejectsBadCommandsAlike(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1})
	cases := []struct {
		name string
		got  any
		want error
	}{
		{"unknown topic", h.append("nope", 0, "x", 1), ErrUnknownTopic},
		{"unknown partition", h.append("t", 1, "x", 1), ErrUnknownPartition},
		{"negative partition", h.append("t", -1, "x", 1), ErrUnknownPartition},
		{"topic exists", h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1}), ErrTopicExists},
		{"bad name", h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "../x", Partitions: 1}), ErrInvalidTopic},
		{"zero partitions", h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "z", Partitions: 0}), ErrInvalidTopic},
		{"delete unknown", h.apply(CmdDeleteTopic, &DeleteTopicCmd{Name: "nope"}), ErrUnknownTopic},
		{"commit unknown", h.apply(CmdCommitOffset, &CommitOffsetCmd{Group: "g", Topic: "nope"}), ErrUnknownTopic},
		{"garbage batch", h.apply(CmdAppend, &AppendCmd{Topic: "t", Batch: []byte("garbage")}), ErrBadCommand},
		{"garbage body", h.apply(CmdAppend, "not a struct"), ErrBadCommand},
	}
	for _, c := range cases {
		err, _ := c.got.(error)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if got := values(t, h.f, "t", 0); len(got) != 0 {
		t.Fatalf("rejected appends stored data: %v", got)
	}
	if r := h.f.Apply(&raft.Log{Index: 99, Type: raft.LogCommand}); !errors.Is(r.(error), ErrBadCommand) {
		t.Fatalf("empty entry: %v", r)
	}
}

func TestFSMUnknownCommandPanics(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	defer func() {
		if recover() == nil {
			t.Fatal("unknown command type did not panic")
		}
	}()
	h.f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{200, 0x80}})
}

// TestFSMReplayAppliesNothingTwice restarts the FSM and replays every entry
// from the start, as raft does after a crash with no snapshot, and then from
// a snapshot's index: nothing is applied twice.
func TestFSMReplayAppliesNothingTwice(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 2})
	for i := 0; i < 10; i++ {
		h.append("t", int32(i%2), fmt.Sprint(i), 2)
	}
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "gone", Partitions: 1})
	h.append("gone", 0, "g", 1)
	h.apply(CmdDeleteTopic, &DeleteTopicCmd{Name: "gone"})
	h.apply(CmdCommitOffset, &CommitOffsetCmd{Group: "g", Topic: "t", Partition: 0, Offset: 7})
	want0, want1 := values(t, h.f, "t", 0), values(t, h.f, "t", 1)

	replay := func(from int) {
		t.Helper()
		if err := h.f.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := NewFSM(FSMConfig{Dir: h.dir})
		if err != nil {
			t.Fatal(err)
		}
		h.f = f
		for _, l := range h.entries[from:] {
			f.Apply(l)
		}
		if g0, g1 := values(t, f, "t", 0), values(t, f, "t", 1); fmt.Sprint(g0) != fmt.Sprint(want0) || fmt.Sprint(g1) != fmt.Sprint(want1) {
			t.Fatalf("after replay from %d:\n p0 %v\n want %v\n p1 %v\n want %v", from, g0, want0, g1, want1)
		}
		if _, ok := f.Topic("gone"); ok {
			t.Fatal("deleted topic came back")
		}
		if c, _ := f.CommittedOffset("g", "t", 0); c.Offset != 7 {
			t.Fatalf("committed offset %d", c.Offset)
		}
	}
	replay(0)

	// A snapshot at the current index, then more entries, then a replay
	// from the snapshot's index.
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	store, err := NewSnapshotStore(filepath.Join(t.TempDir(), "snaps"), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink, _ := store.Create(1, h.index, 1, raft.Configuration{}, 1, nil)
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	snapIndex := len(h.entries)
	h.append("t", 0, "after", 1)
	want0 = append(want0, "after-0")
	replay(snapIndex)
	replay(0)
}

// TestSnapshotRestoreRoundTrip persists a snapshot through the manifest
// store, streams it as raft would to a follower, and restores it there.
func TestSnapshotRestoreRoundTrip(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 2, Config: TopicConfig{SegmentBytes: 1024}})
	for i := 0; i < 50; i++ {
		h.append("t", int32(i%2), fmt.Sprint(i), 5)
	}
	h.apply(CmdCommitOffset, &CommitOffsetCmd{Group: "g", Topic: "t", Partition: 1, Offset: 3})
	h.apply(CmdRegisterNode, &RegisterNodeCmd{ID: "a", Addr: "x:1"})

	store, err := NewSnapshotStore(filepath.Join(t.TempDir(), "snaps"), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink, err := store.Create(1, h.index, 3, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	// Appends after the snapshot must not show up in it.
	h.append("t", 0, "late", 1)

	metas, err := store.List()
	if err != nil || len(metas) != 1 {
		t.Fatalf("List: %v %v", metas, err)
	}
	meta, rc, err := store.Open(metas[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || int64(len(stream)) != meta.Size {
		t.Fatalf("stream %d bytes, meta says %d: %v", len(stream), meta.Size, err)
	}

	g := newHarness(t, FSMConfig{})
	g.apply(CmdCreateTopic, &CreateTopicCmd{Name: "old", Partitions: 1})
	if err := g.f.Restore(io.NopCloser(bytes.NewReader(stream))); err != nil {
		t.Fatal(err)
	}
	want := values(t, h.f, "t", 0)
	want = want[:len(want)-1] // without "late-0"
	if got := values(t, g.f, "t", 0); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restored p0 %v\nwant %v", got, want)
	}
	if got, want := values(t, g.f, "t", 1), values(t, h.f, "t", 1); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restored p1 %v\nwant %v", got, want)
	}
	if _, ok := g.f.Topic("old"); ok {
		t.Fatal("restore kept a topic the snapshot does not have")
	}
	if c, ok := g.f.CommittedOffset("g", "t", 1); !ok || c.Offset != 3 {
		t.Fatal("restore lost a committed offset")
	}
	// The restored state is durable: a restart finds it.
	g.f.Close()
	f2, err := NewFSM(FSMConfig{Dir: g.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if got := values(t, f2, "t", 0); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after restart p0 %v", got)
	}
	// And it continues from the snapshot's index: the late append applies.
	if r := f2.Apply(h.entries[len(h.entries)-1]); r.(AppendResult).BaseOffset < 0 {
		t.Fatalf("append after restore: %#v", r)
	}
}

// TestRestoreInterruptedKeepsOldState cuts a snapshot stream short: the
// restore fails, and the FSM (live and after a restart) has its old state.
func TestRestoreInterruptedKeepsOldState(t *testing.T) {
	src := newHarness(t, FSMConfig{})
	src.apply(CmdCreateTopic, &CreateTopicCmd{Name: "new", Partitions: 1})
	src.append("new", 0, "n", 100)
	stream := snapshotStream(t, src.f)

	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "old", Partitions: 1})
	h.append("old", 0, "o", 3)
	cut := stream[:len(stream)-10]
	if err := h.f.Restore(io.NopCloser(bytes.NewReader(cut))); err == nil {
		t.Fatal("restore of a truncated stream succeeded")
	}
	if got := values(t, h.f, "old", 0); len(got) != 3 {
		t.Fatalf("old state damaged: %v", got)
	}
	h.f.Close()
	f, err := NewFSM(FSMConfig{Dir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.Topic("new"); ok {
		t.Fatal("half-restored state visible after restart")
	}
	ents, _ := os.ReadDir(h.dir)
	for _, e := range ents {
		if e.Name() != currentFile && e.Name() != filepath.Base(f.liveStateDir()) {
			t.Fatalf("leftover %s after restart", e.Name())
		}
	}
}

// snapshotStream is a snapshot of f as the byte stream raft sends to a
// follower.
func snapshotStream(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := snap.Persist(&bufSink{Buffer: &buf}); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	return buf.Bytes()
}

// restoredCopy streams a snapshot of f, as raft sends one to a follower,
// and restores it on a fresh FSM.
func restoredCopy(t *testing.T, f *FSM) *fsmHarness {
	t.Helper()
	stream := snapshotStream(t, f)
	g := newHarness(t, FSMConfig{})
	if err := g.f.Restore(io.NopCloser(bytes.NewReader(stream))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	return g
}

type bufSink struct{ *bytes.Buffer }

func (bufSink) ID() string    { return "buf" }
func (bufSink) Close() error  { return nil }
func (bufSink) Cancel() error { return nil }

// TestFSMStopsOnDiskError: a write error inside Apply stops the FSM; it
// applies nothing after, and replay after a restart applies the entry.
func TestFSMStopsOnDiskError(t *testing.T) {
	fsys := &logtest.FullFS{}
	var fatal []error
	h := newHarness(t, FSMConfig{FS: fsys, OnFatal: func(err error) { fatal = append(fatal, err) }})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1})
	h.append("t", 0, "ok", 1)
	fsys.SetFull(true)
	r := h.append("t", 0, "full", 1)
	if err, _ := r.(error); !errors.Is(err, ErrStopped) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v", r)
	}
	fsys.SetFull(false)
	if err, _ := h.append("t", 0, "later", 1).(error); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped FSM applied a later entry: %v", err)
	}
	if len(fatal) != 1 {
		t.Fatalf("OnFatal called %d times", len(fatal))
	}
	if _, err := h.f.Snapshot(); !errors.Is(err, ErrStopped) {
		t.Fatalf("snapshot of a stopped FSM: %v, want ErrStopped", err)
	}
	if got := values(t, h.f, "t", 0); fmt.Sprint(got) != "[ok-0]" {
		t.Fatalf("values %v", got)
	}
	h.f.Close()
	f, err := NewFSM(FSMConfig{Dir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range h.entries {
		f.Apply(l)
	}
	if got := values(t, f, "t", 0); fmt.Sprint(got) != "[ok-0 full-0 later-0]" {
		t.Fatalf("after restart and replay: %v", got)
	}
}

// TestRetentionKeepsSegmentsOfRetainedSnapshot: retention deletes segments
// from the live log after a snapshot; the snapshot still streams and
// restores the data it was taken with.
func TestRetentionKeepsSegmentsOfRetainedSnapshot(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1,
		Config: TopicConfig{SegmentBytes: 1024, RetentionBytes: 2048}})
	for i := 0; i < 20; i++ {
		h.append("t", 0, fmt.Sprint(i), 5)
	}
	want := values(t, h.f, "t", 0)
	store, err := NewSnapshotStore(filepath.Join(t.TempDir(), "snaps"), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := h.f.Snapshot()
	sink, _ := store.Create(1, h.index, 1, raft.Configuration{}, 1, nil)
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	startBefore, _, _ := h.f.Offsets("t", 0)
	for i := 20; i < 60; i++ {
		h.append("t", 0, fmt.Sprint(i), 5)
	}
	if start, _, _ := h.f.Offsets("t", 0); start <= startBefore {
		t.Fatalf("retention did not move the start offset (%d -> %d)", startBefore, start)
	}
	metas, _ := store.List()
	_, rc, err := store.Open(metas[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	g := newHarness(t, FSMConfig{})
	if err := g.f.Restore(rc); err != nil {
		t.Fatal(err)
	}
	if got := values(t, g.f, "t", 0); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restored %d values, want the %d the snapshot was taken with", len(got), len(want))
	}
}

func rawLog(index uint64, data []byte) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

// TestNodeNumbersAreStableAndNeverReused: the first registration of a node
// id gives it the next numeric id; re-registering (a new address) keeps
// it, removal keeps it, and a node registered after a removal gets a new
// number, not the removed one's.
func TestNodeNumbersAreStableAndNeverReused(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	reg := func(id, addr, kafka string) {
		t.Helper()
		if r := h.apply(CmdRegisterNode, &RegisterNodeCmd{ID: id, Addr: addr, KafkaAddr: kafka}); r != nil {
			t.Fatalf("register %s: %v", id, r)
		}
	}
	num := func(id string) int32 {
		t.Helper()
		n, ok := h.f.NodeNum(id)
		if !ok {
			t.Fatalf("node %s has no number", id)
		}
		return n
	}
	reg("b", "127.0.0.1:1", "127.0.0.1:11")
	reg("a", "127.0.0.1:2", "")
	if num("b") != 1 || num("a") != 2 {
		t.Fatalf("b=%d a=%d, want 1 and 2 in order of registration", num("b"), num("a"))
	}
	reg("b", "127.0.0.1:3", "127.0.0.1:13")
	reg("a", "", "") // removed
	reg("c", "127.0.0.1:4", "127.0.0.1:14")
	if num("b") != 1 || num("a") != 2 || num("c") != 3 {
		t.Fatalf("b=%d a=%d c=%d, want 1 2 3", num("b"), num("a"), num("c"))
	}
	nodes := h.f.Nodes()
	if len(nodes) != 2 || nodes[0].ID != "b" || nodes[0].KafkaAddr != "127.0.0.1:13" || nodes[0].Num != 1 ||
		nodes[1].ID != "c" || nodes[1].KafkaAddr != "127.0.0.1:14" || nodes[1].Num != 3 {
		t.Fatalf("nodes %+v", nodes)
	}
	reg("c", "127.0.0.1:4", "") // Kafka listener turned off
	if n := h.f.Nodes(); n[1].KafkaAddr != "" {
		t.Fatalf("kafka addr kept after registering none: %+v", n[1])
	}
}
