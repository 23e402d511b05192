package replication

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

// fsmView is what a test compares between two FSMs: topics, record values
// and committed offsets.
func fsmView(t *testing.T, f *FSM) string {
	t.Helper()
	var b bytes.Buffer
	for _, tp := range f.Topics() {
		fmt.Fprintf(&b, "topic %s/%d@%d\n", tp.Name, tp.Partitions, tp.CreateIndex)
		for p := range tp.Partitions {
			fmt.Fprintf(&b, "  %d: %v\n", p, values(t, f, tp.Name, p))
		}
	}
	for g, offs := range f.AllGroupOffsets() {
		fmt.Fprintf(&b, "group %s %v\n", g, offs)
	}
	return b.String()
}

// TestInterruptedInstallSnapshotRestoredAtStart: a follower receives an
// InstallSnapshot; raft publishes the snapshot in the store and then calls
// Restore, and the process dies before Restore is done. Restarted, raft
// (NoSnapshotRestoreOnStart) takes the snapshot's index as applied and
// never calls Restore, so the FSM must restore the snapshot itself before
// raft starts, or the entries between its state and the snapshot are lost.
func TestInterruptedInstallSnapshotRestoredAtStart(t *testing.T) {
	// The leader's FSM, and the snapshot it sends.
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "a", Partitions: 2, Config: TopicConfig{SegmentBytes: 1024}})
	for i := range 10 {
		h.append("a", int32(i%2), fmt.Sprint("early", i), 3)
	}
	prefix := len(h.entries) // what the follower has
	for i := range 30 {
		h.append("a", int32(i%2), fmt.Sprint("late", i), 3)
	}
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "b", Partitions: 1})
	h.append("b", 0, "b", 2)
	h.apply(CmdCommitOffset, &CommitOffsetCmd{Group: "g", Topic: "a", Partition: 1, Offset: 7})
	leaderSnaps, err := NewSnapshotStore(filepath.Join(t.TempDir(), "snaps"), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := persistTo(t, h, leaderSnaps)
	want := fsmView(t, h.f)

	// The follower applied a prefix and took a snapshot of its own.
	data := t.TempDir()
	g := newHarness(t, FSMConfig{Dir: filepath.Join(data, "fsm")})
	for _, l := range h.entries[:prefix] {
		g.f.Apply(l)
	}
	g.index = uint64(prefix)
	snaps, err := NewSnapshotStore(filepath.Join(data, "snapshots"), snapshotsRetained, nil)
	if err != nil {
		t.Fatal(err)
	}
	persistTo(t, g, snaps)
	before := fsmView(t, g.f)
	// installSnapshot: the stream is spooled into the follower's store and
	// published (sink.Close); the process dies before Restore.
	meta, rc, err := leaderSnaps.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := snaps.Create(1, meta.Index, meta.Term, meta.Configuration, meta.ConfigurationIndex, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(sink, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	g.f.Close()

	f, err := NewFSM(FSMConfig{Dir: filepath.Join(data, "fsm")})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := fsmView(t, f); got != before {
		t.Fatalf("reopened FSM is not the follower's old state:\n%s\nwant\n%s", got, before)
	}
	cfg := NodeConfig{ID: "f", RaftAddr: "127.0.0.1:0", DataDir: data}.FastTimeouts()
	n, err := NewNode(cfg, f, snaps)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := fsmView(t, f); got != want {
		t.Fatalf("after restart the FSM does not hold the installed snapshot's state:\n%s\nwant\n%s", got, want)
	}
	// The next entry applies on top of the snapshot.
	h.append("b", 0, "next", 1)
	if r, ok := f.Apply(h.entries[len(h.entries)-1]).(AppendResult); !ok || r.BaseOffset != 2 {
		t.Fatalf("append after the restore: %#v", r)
	}
}

// TestNodeStartRestoresNothingWhenCurrent: the FSM's own snapshot is the
// newest one, and the FSM has applied more since: starting the node keeps
// the FSM's state (no restore, which would drop what came after).
func TestNodeStartRestoresNothingWhenCurrent(t *testing.T) {
	data := t.TempDir()
	h := newHarness(t, FSMConfig{Dir: filepath.Join(data, "fsm")})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "a", Partitions: 1})
	h.append("a", 0, "x", 3)
	snaps, err := NewSnapshotStore(filepath.Join(data, "snapshots"), snapshotsRetained, nil)
	if err != nil {
		t.Fatal(err)
	}
	persistTo(t, h, snaps)
	h.append("a", 0, "y", 3)
	want := fsmView(t, h.f)
	h.f.Close()
	f, err := NewFSM(FSMConfig{Dir: filepath.Join(data, "fsm")})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	state := f.liveStateDir()
	n, err := NewNode(NodeConfig{ID: "f", RaftAddr: "127.0.0.1:0", DataDir: data}.FastTimeouts(), f, snaps)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := fsmView(t, f); got != want || f.liveStateDir() != state {
		t.Fatalf("state changed at start (dir %s -> %s):\n%s\nwant\n%s", state, f.liveStateDir(), got, want)
	}
}

// TestRestoreFailureStopsFSM: a Restore that fails (here a snapshot cut
// short) stops the FSM and tells the node: raft has published the snapshot
// already, so going on with the old state would skip entries after a
// restart.
func TestRestoreFailureStopsFSM(t *testing.T) {
	src := newHarness(t, FSMConfig{})
	src.apply(CmdCreateTopic, &CreateTopicCmd{Name: "new", Partitions: 1})
	src.append("new", 0, "n", 100)
	stream := snapshotStream(t, src.f)

	var fatal []error
	h := newHarness(t, FSMConfig{OnFatal: func(err error) { fatal = append(fatal, err) }})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "old", Partitions: 1})
	err := h.f.Restore(io.NopCloser(bytes.NewReader(stream[:len(stream)-10])))
	if !errors.Is(err, ErrStopped) || len(fatal) != 1 || h.f.Err() == nil {
		t.Fatalf("failed restore: error %v, OnFatal calls %d, Err %v; want ErrStopped, 1, non-nil", err, len(fatal), h.f.Err())
	}
	if r, _ := h.append("old", 0, "o", 1).(error); !errors.Is(r, ErrStopped) {
		t.Fatalf("append after a failed restore: %v, want ErrStopped", r)
	}
	if _, err := h.f.Snapshot(); !errors.Is(err, ErrStopped) {
		t.Fatalf("snapshot after a failed restore: %v, want ErrStopped", err)
	}
}

var _ raft.SnapshotStore = (*SnapshotStore)(nil)

// TestRestoreSnapshotWithoutTopics: a snapshot of a state with no topics
// (only nodes, producers or groups) failed to restore ("open
// state-N.tmp/meta.bin: no such file or directory": the state dir was
// created only for partitions), so a follower could never install the
// snapshot of a cluster without topics. Found by TestModel.
func TestRestoreSnapshotWithoutTopics(t *testing.T) {
	src := newHarness(t, FSMConfig{})
	src.apply(CmdRegisterNode, &RegisterNodeCmd{ID: "n1", Addr: "127.0.0.1:1"})
	dst := restoredCopy(t, src.f) // failed: "Restore: ... meta.bin: no such file or directory"
	if got, want := digestOf(t, dst.f).Sum(), digestOf(t, src.f).Sum(); got != want {
		t.Fatal("restored state differs from the snapshot's")
	}
}
