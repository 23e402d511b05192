package replication

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

// Replay, snapshot and determinism of the consumer-group state.

// metaBytes encodes the FSM's metadata as a snapshot would.
func metaBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	f.mu.RLock()
	m := f.meta.clone()
	f.mu.RUnlock()
	b, err := encodeMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// groupHistory applies a history of group commands interleaved with
// appends to a topic whose partitions roll and lose old segments to
// retention, so that replaying it later meets logs that have moved on.
func groupHistory(h *fsmHarness) {
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 2, Config: TopicConfig{SegmentBytes: 1024, RetentionBytes: 2048}})
	for i := 0; i < 10; i++ {
		h.append("t", int32(i%2), fmt.Sprint(i), 5)
	}
	h.sync("g", 1, member("b", tps("t", 1)), member("a", tps("t", 0)))
	h.commit("g", "a", 1, oc("t", 0, 20), oc("t", 0, 26)) // 26 is past the end (25): refused
	h.commit("g", "b", 1, oc("t", 1, 25))
	h.reset(ResetOffsetsCmd{Group: "r", Topic: "t", Mode: ResetLatest})
	h.reset(ResetOffsetsCmd{Group: "e", Topic: "t", Mode: ResetEarliest})
	h.commit("s", "", -1, oc("t", 0, 5))
	for i := 10; i < 100; i++ {
		h.append("t", int32(i%2), fmt.Sprint(i), 5)
	}
	h.remove("g", 1, "b")
	h.sync("g", 2, member("a", tps("t", 0, 1)))
	h.commit("g", "a", 2, oc("t", 1, 30))
	h.apply(CmdDeleteGroup, &DeleteGroupCmd{Group: "s"})
	for i := 100; i < 120; i++ {
		h.append("t", int32(i%2), fmt.Sprint(i), 5)
	}
}

func TestGroupCommandsReplayIdempotent(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	groupHistory(h)
	if start, _, _ := h.f.Offsets("t", 0); start == 0 {
		t.Fatal("retention did not move the log start; the test needs it")
	}
	if got := committed(t, h.f, "g", "t", 0); got != 20 {
		t.Fatalf("g t/0 = %d, want 20", got)
	}
	if got := committed(t, h.f, "r", "t", 0); got != 25 {
		t.Fatalf("reset to latest = %d, want 25", got)
	}
	want := metaBytes(t, h.f)

	// The same entries again, on the live FSM: all skipped.
	for _, l := range h.entries {
		h.f.Apply(l)
	}
	if !bytes.Equal(metaBytes(t, h.f), want) {
		t.Fatal("applying the same entries twice changed the state")
	}

	// A restart without a snapshot replays every entry while the
	// partition logs already hold all the data (and retention has removed
	// the oldest): commits and resets must come out as they did.
	restart := func(from int) {
		t.Helper()
		h.f.Close()
		f, err := NewFSM(FSMConfig{Dir: h.dir})
		if err != nil {
			t.Fatal(err)
		}
		h.f = f
		for _, l := range h.entries[from:] {
			f.Apply(l)
		}
		if got := metaBytes(t, f); !bytes.Equal(got, want) {
			t.Fatalf("replay from entry %d: state differs\n r: %v\n e: %v\n g: %v", from,
				f.GroupOffsets("r"), f.GroupOffsets("e"), f.GroupOffsets("g"))
		}
	}
	restart(0)

	// A snapshot halfway, then a restart that replays from it.
	h.f.Close()
	f, err := NewFSM(FSMConfig{Dir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	h.f = f
	half := len(h.entries) / 2
	for _, l := range h.entries[:half] {
		f.Apply(l)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	store, err := NewSnapshotStore(filepath.Join(t.TempDir(), "snaps"), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink, _ := store.Create(1, uint64(half), 1, raft.Configuration{}, 1, nil)
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	restart(half)
}

func TestGroupSnapshotRestoreRoundTrip(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	groupHistory(h)
	stream := func(f *FSM) []byte {
		t.Helper()
		snap, err := f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer snap.Release()
		var buf bytes.Buffer
		if err := snap.Persist(&bufSink{Buffer: &buf}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	s1 := stream(h.f)
	if s2 := stream(h.f); !bytes.Equal(s1, s2) {
		t.Fatal("two snapshots of the same state differ")
	}
	g := newHarness(t, FSMConfig{})
	if err := g.f.Restore(io.NopCloser(bytes.NewReader(s1))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.f.Groups(), h.f.Groups()) || len(h.f.Groups()) != 1 {
		t.Fatalf("groups after restore: %+v\nwant %+v", g.f.Groups(), h.f.Groups())
	}
	for _, name := range []string{"g", "r", "e", "s"} {
		if !reflect.DeepEqual(g.f.GroupOffsets(name), h.f.GroupOffsets(name)) {
			t.Fatalf("offsets of %s after restore: %+v\nwant %+v", name, g.f.GroupOffsets(name), h.f.GroupOffsets(name))
		}
	}
	if fmt.Sprint(g.f.GroupNames()) != "[e g r]" {
		t.Fatalf("GroupNames %v", g.f.GroupNames())
	}
	if s3 := stream(g.f); !bytes.Equal(s3, s1) {
		t.Fatal("a snapshot of the restored state differs from the one it was restored from")
	}
	// The restored state fences as the original did, and survives a restart.
	g.index = h.index
	wantErr(t, "commit by a removed member", g.commit("g", "b", 1, oc("t", 1, 1)), ErrUnknownMember)
	g.f.Close()
	f, err := NewFSM(FSMConfig{Dir: g.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !reflect.DeepEqual(f.Groups(), h.f.Groups()) {
		t.Fatal("restored groups lost in a restart")
	}
}

// TestMetaWithoutGroupsDecodes: metadata written before groups existed
// decodes (no groups), and a state without groups encodes exactly as it
// did then.
func TestMetaWithoutGroupsDecodes(t *testing.T) {
	type oldMeta struct { // metaState before groups
		Index        uint64            `msgpack:"i"`
		Topics       map[string]*Topic `msgpack:"t"`
		OffsetList   []offsetEntry     `msgpack:"o"`
		Nodes        map[string]string `msgpack:"nd"`
		ProducerList []*producerState  `msgpack:"pr"`
	}
	old := oldMeta{
		Index:        9,
		Topics:       map[string]*Topic{"t": {Name: "t", Partitions: 1, CreateIndex: 1}},
		OffsetList:   []offsetEntry{{OffsetKey{"g", "t", 0}, CommittedOffset{Offset: 3}}},
		Nodes:        map[string]string{"n1": "a:1"},
		ProducerList: []*producerState{{ID: 2, LastSeen: 5, Parts: []producerPart{}}}, // as clone writes it
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(&old); err != nil {
		t.Fatal(err)
	}
	m, err := decodeMeta(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if m.Groups == nil || len(m.Groups) != 0 || m.Offsets[OffsetKey{"g", "t", 0}].Offset != 3 {
		t.Fatalf("decoded %+v", m)
	}
	again, err := encodeMeta(m.clone())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, buf.Bytes()) {
		t.Fatal("a state without groups no longer encodes as before")
	}
}

// TestGroupStateDeterministic: two FSMs fed the same entries hold
// byte-identical metadata, and a SyncGroup's member and assignment order
// does not matter.
func TestGroupStateDeterministic(t *testing.T) {
	h1 := groupHarness(t)
	for i := 0; i < 30; i++ {
		g := fmt.Sprint("g", i)
		h1.sync(g, 1, member("y", tps("t", 1), tps("u", 4, 2)), member("x", tps("t", 0)))
		h1.commit(g, "x", 1, oc("t", 0, int64(i%10)))
		h1.commit(fmt.Sprint("s", i), "", -1, oc("t", 1, int64(i%10)))
	}
	h2 := newHarness(t, FSMConfig{})
	for _, l := range h1.entries {
		h2.f.Apply(l)
	}
	if !bytes.Equal(metaBytes(t, h1.f), metaBytes(t, h2.f)) {
		t.Fatal("same entries, different state")
	}

	a, b := groupHarness(t), groupHarness(t)
	a.sync("g", 1, member("y", tps("t", 1), tps("u", 4, 2)), member("x", tps("t", 0)))
	b.sync("g", 1, member("x", tps("t", 0)), member("y", tps("u", 2), tps("t", 1), tps("u", 4)))
	if !bytes.Equal(metaBytes(t, a.f), metaBytes(t, b.f)) {
		ga, _ := a.f.Group("g")
		gb, _ := b.f.Group("g")
		t.Fatalf("member order changed the state:\n%+v\n%+v", ga, gb)
	}
}
