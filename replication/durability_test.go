package replication

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"
	mlog "github.com/minibroker/minibroker/log"
)

// dirFS is the real filesystem that records directory fsyncs and can fail
// the rename of recovery points.
type dirFS struct {
	mlog.OSFS
	mu       sync.Mutex // guards synced and failRP
	synced   []string   // directories fsynced, in order
	failRP   bool       // renames of recovery-point files fail with EIO
	rpFailed int        // how many did
}

func (d *dirFS) SyncDir(name string) error {
	d.mu.Lock()
	d.synced = append(d.synced, filepath.Clean(name))
	d.mu.Unlock()
	return d.OSFS.SyncDir(name)
}

func (d *dirFS) Rename(oldpath, newpath string) error {
	d.mu.Lock()
	fail := d.failRP && filepath.Base(newpath) == "recovery-point"
	if fail {
		d.rpFailed++
	}
	d.mu.Unlock()
	if fail {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: syscall.EIO}
	}
	return d.OSFS.Rename(oldpath, newpath)
}

func (d *dirFS) setFailRP(v bool) {
	d.mu.Lock()
	d.failRP = v
	d.mu.Unlock()
}

func (d *dirFS) syncedDirs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.synced)
}

// TestCreateTopicSyncsParentDirs: creating a topic makes the new
// directories' entries durable: the topic's dir, topics/ and the state dir
// are fsynced (the partition dirs themselves are the log's).
func TestCreateTopicSyncsParentDirs(t *testing.T) {
	fsys := &dirFS{}
	h := newHarness(t, FSMConfig{FS: fsys})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 2})
	state := h.f.liveStateDir()
	synced := fsys.syncedDirs()
	for _, d := range []string{state, filepath.Join(state, "topics"), filepath.Join(state, topicDir("t", 1))} {
		if !slices.Contains(synced, d) {
			t.Errorf("%s not fsynced after CreateTopic; fsynced: %v", d, synced)
		}
	}
}

// TestSnapshotMovesRecoveryPoint: the data a snapshot fsyncs is recorded
// as durable in the log (its recovery point moves to the end of the log),
// so recovery after a crash does not rescan it.
func TestSnapshotMovesRecoveryPoint(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1})
	for i := range 10 {
		h.append("t", 0, fmt.Sprint(i), 5)
	}
	store, err := NewSnapshotStore(filepath.Join(t.TempDir(), "snaps"), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	persistTo(t, h, store)
	dir := filepath.Join(h.f.liveStateDir(), topicDir("t", 1), "0")
	st, err := os.Stat(filepath.Join(dir, "00000000000000000000.log"))
	if err != nil {
		t.Fatal(err)
	}
	rp, err := os.ReadFile(filepath.Join(dir, "recovery-point"))
	if want := fmt.Sprintf("0 %d\n", st.Size()); err != nil || string(rp) != want {
		t.Fatalf("recovery point after a snapshot: %q (%v), want %q", rp, err, want)
	}
}

// TestSnapshotFailsWhenRecoveryPointFails: the log's flusher cannot write
// the recovery point (whose directory fsync is also what makes a new
// segment's creation durable); it only logs that. A snapshot must then not
// be recorded: Persist fails and the store keeps nothing. Once the disk
// works again, the next snapshot goes through.
func TestSnapshotFailsWhenRecoveryPointFails(t *testing.T) {
	fsys := &dirFS{}
	h := newHarness(t, FSMConfig{FS: fsys})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1, Config: TopicConfig{SegmentBytes: 1024}})
	fsys.setFailRP(true)
	for i := range 40 { // several rolls: the flusher fails to record each
		h.append("t", 0, fmt.Sprint(i), 5)
	}
	store, err := NewSnapshotStore(filepath.Join(t.TempDir(), "snaps"), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := h.f.Snapshot()
	if err == nil {
		sink, cerr := store.Create(1, h.index, 1, raft.Configuration{}, 1, nil)
		if cerr != nil {
			t.Fatal(cerr)
		}
		err = snap.Persist(sink)
		snap.Release()
	}
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("snapshot with the recovery point failing: %v, want EIO", err)
	}
	if metas, _ := store.List(); len(metas) != 0 {
		t.Fatalf("a snapshot was recorded: %v", metas)
	}
	fsys.setFailRP(false)
	persistTo(t, h, store)
	if metas, _ := store.List(); len(metas) != 1 {
		t.Fatalf("%d snapshots after the disk recovered, want 1", len(metas))
	}
}
