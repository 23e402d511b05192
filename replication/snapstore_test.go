package replication

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

// persistTo takes a snapshot of h's FSM into store at h's current index.
func persistTo(t *testing.T, h *fsmHarness, store *SnapshotStore) string {
	t.Helper()
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink, err := store.Create(1, h.index, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return sink.ID()
}

// TestSnapshotStreamSurvivesReap: raft opens a snapshot to stream it to a
// follower and reads it slowly; meanwhile enough newer snapshots are taken
// that the store would reap it. The reader still gets the whole stream, and
// the old snapshot goes once the reader is closed.
func TestSnapshotStreamSurvivesReap(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 2, Config: TopicConfig{SegmentBytes: 1024}})
	for i := range 40 {
		h.append("t", int32(i%2), fmt.Sprint(i), 5)
	}
	store, err := NewSnapshotStore(filepath.Join(t.TempDir(), "snaps"), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := persistTo(t, h, store)
	_, rc, err := store.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}

	meta, rc, err := store.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// The first read returns the header only: no segment is open yet.
	head := make([]byte, 16)
	n, err := rc.Read(head)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // retain is 2: the opened snapshot is the oldest of 4
		h.append("t", 0, fmt.Sprint("more", i), 5)
		persistTo(t, h, store)
	}
	if metas, _ := store.List(); len(metas) != 2 || metas[0].ID == id || metas[1].ID == id {
		t.Fatalf("List still returns the old snapshot: %v", metas)
	}
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading an open snapshot after newer ones were taken: %v", err)
	}
	got := append(head[:n], rest...)
	if int64(len(got)) != meta.Size || !bytes.Equal(got, want) {
		t.Fatalf("stream of %d bytes differs from the %d read before (meta size %d)", len(got), len(want), meta.Size)
	}
	if _, err := os.Stat(filepath.Join(store.dir, id)); err != nil {
		t.Fatalf("snapshot removed while a reader was open: %v", err)
	}
	rc.Close()
	rc.Close() // idempotent
	if _, err := os.Stat(filepath.Join(store.dir, id)); !os.IsNotExist(err) {
		t.Fatalf("old snapshot still there after its last reader closed: %v", err)
	}
	if metas, _ := store.List(); len(metas) != 2 {
		t.Fatalf("%d snapshots retained, want 2", len(metas))
	}
}
