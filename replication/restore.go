package replication

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/raft"
)

// envRestorePause is a fault-injection hook for process-level tests: when
// it names a file, Restore creates that file once the snapshot's data is
// copied, before the new state is switched in, and then blocks forever, so
// that a test can SIGKILL the process in the middle of a restore without
// racing it. Never set it in production.
const envRestorePause = "MINIBROKER_TEST_RESTORE_PAUSE"

// restorePauseHook implements envRestorePause.
func restorePauseHook() {
	path := os.Getenv(envRestorePause)
	if path == "" {
		return
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		panic(fmt.Sprintf("replication: %s: %v", envRestorePause, err))
	}
	select {} // until the test kills the process
}

// Restore implements raft.FSM: it replaces the whole state with a snapshot
// stream (kind S) sent by the leader. The new state is built in a fresh
// state dir and fsynced; then CURRENT is switched to it atomically, and only
// then is the old state dropped. A crash at any point leaves the old state
// or the new one, never a mix. Restore runs on the FSM goroutine.
//
// A failed Restore stops the FSM (see fail; errors wrap ErrStopped): raft
// has already published the snapshot in its store before it calls Restore,
// and a restarted raft would take the snapshot's index as applied. The
// node must not go on as if it had the snapshot's state; restarted, it
// restores the snapshot before raft starts (restoreIfBehind) or refuses to
// start.
func (f *FSM) Restore(rc io.ReadCloser) error {
	if f.failed != nil {
		rc.Close()
		return fmt.Errorf("replication: restore: %w: %w", ErrStopped, f.failed)
	}
	if err := f.restore(rc); err != nil {
		return f.fail("restore", err)
	}
	return nil
}

// restoreIfBehind runs before raft starts (NewNode). raft, restarted with
// NoSnapshotRestoreOnStart, takes its newest snapshot's index as applied
// and never calls Restore. If the FSM's durable state is older than that
// snapshot — the process died while Restore copied it, or Restore failed,
// after raft had published it — the entries between would never be
// applied. So restore the snapshot now when it is ahead.
//
// "Ahead" compares the indexes of FSM entries: the manifest's Meta.Index is
// the last entry the snapshotted FSM had applied (raft's snapshot index can
// be higher by entries the FSM never sees: no-ops, barriers), and the FSM's
// own meta.Index is what its durable metadata covers (written by Persist,
// after the partition data was fsynced, or by Restore). Partition logs may
// hold later batches, but the metadata of those entries is not durable, so
// meta.Index is the index the FSM can vouch for.
//
// It blocks for the restore (a copy of all the snapshot's data). Errors:
// those of listing, opening or reading the snapshot, and of Restore.
func (f *FSM) restoreIfBehind(snaps raft.SnapshotStore) error {
	metas, err := snaps.List()
	if err != nil {
		return fmt.Errorf("replication: list snapshots: %w", err)
	}
	if len(metas) == 0 { // raft takes metas[0] too
		return nil
	}
	newest := metas[0]
	covers, err := snapshotCovers(snaps, newest.ID)
	if err != nil {
		return err
	}
	have := f.durableIndex()
	if covers <= have {
		return nil
	}
	f.logger.Warn("the state machine is behind the newest snapshot (an interrupted or failed restore): restoring it",
		"snapshot", newest.ID, "snapshot_index", covers, "fsm_index", have)
	_, rc, err := snaps.Open(newest.ID)
	if err != nil {
		return fmt.Errorf("replication: open snapshot %s: %w", newest.ID, err)
	}
	if err := f.restore(rc); err != nil {
		return fmt.Errorf("replication: restore snapshot %s at start: %w", newest.ID, err)
	}
	return nil
}

// durableIndex is the index the FSM's durable metadata covers.
func (f *FSM) durableIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.meta.Index
}

// snapshotCovers returns the index of the last FSM entry snapshot id
// holds: its manifest's Meta.Index. It reads only the header.
func snapshotCovers(snaps raft.SnapshotStore, id string) (uint64, error) {
	_, rc, err := snaps.Open(id)
	if err != nil {
		return 0, fmt.Errorf("replication: open snapshot %s: %w", id, err)
	}
	defer rc.Close()
	_, m, err := readHeader(bufio.NewReader(rc))
	if err != nil {
		return 0, fmt.Errorf("replication: snapshot %s: %w", id, err)
	}
	return m.Meta.Index, nil
}

// restore is Restore without stopping the FSM on failure.
func (f *FSM) restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	f.persistMu.Lock()
	defer f.persistMu.Unlock()

	br := bufio.NewReaderSize(rc, 1<<20)
	kind, m, err := readHeader(br)
	if err != nil {
		return err
	}
	if kind != kindStream {
		return fmt.Errorf("replication: restore needs a stream snapshot, got kind %q", kind)
	}
	oldDir := f.liveStateDir()
	n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(oldDir), "state-"))
	if err != nil {
		return fmt.Errorf("replication: state dir %s: %w", oldDir, err)
	}
	name := fmt.Sprintf("state-%d", n+1)
	newDir := filepath.Join(f.cfg.Dir, name)
	tmp := newDir + ".tmp"
	if err := f.writeState(tmp, br, m); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, newDir); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("replication: restore: %w", err)
	}
	if err := syncFile(f.cfg.Dir); err != nil {
		return fmt.Errorf("replication: restore: %w", err)
	}
	restorePauseHook()
	if err := writeFileAtomic(filepath.Join(f.cfg.Dir, currentFile), []byte(name+"\n")); err != nil {
		return err
	}

	// The new state is the durable one now; switch the in-memory state.
	parts, err := f.openParts(newDir, m.Meta)
	if err != nil {
		// The new state is durable but cannot be opened: Restore stops
		// rather than go on with the old one in memory.
		return err
	}
	f.mu.Lock()
	old := f.parts
	f.meta, f.parts, f.stateDir = m.Meta, parts, newDir
	f.now, f.meta.Clock = m.Meta.Clock, 0 // live in f.now (see metaState.Clock)
	f.mu.Unlock()
	for _, p := range old {
		p.log.Close()
		p.wake()
	}
	f.applied.Store(m.Meta.Index)
	f.sinceSnap.Store(0)
	if err := os.RemoveAll(oldDir); err != nil {
		f.logger.Warn("removing the replaced state", "dir", oldDir, "error", err)
	}
	f.logger.Info("restored snapshot", "index", m.Meta.Index, "topics", len(m.Meta.Topics), "partitions", len(m.Parts))
	return nil
}

// writeState writes a snapshot's metadata and segments into dir, fsynced.
func (f *FSM) writeState(dir string, r io.Reader, m *manifest) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("replication: restore: %w", err)
	}
	// The dir itself, for a snapshot without partitions.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("replication: restore: %w", err)
	}
	for _, p := range m.Parts {
		t, ok := m.Meta.Topics[p.Topic]
		if !ok || t.CreateIndex != p.CreateIndex || p.Partition < 0 || p.Partition >= t.Partitions {
			return fmt.Errorf("replication: restore: snapshot has data for unknown partition %s/%d", p.Topic, p.Partition)
		}
		pdir := filepath.Join(dir, p.rel())
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			return fmt.Errorf("replication: restore: %w", err)
		}
		for _, seg := range p.Segments {
			if seg.Name != filepath.Base(seg.Name) || !strings.HasSuffix(seg.Name, ".log") {
				return fmt.Errorf("replication: restore: bad segment name %q", seg.Name)
			}
			if err := copyFile(filepath.Join(pdir, seg.Name), r, seg.Size); err != nil {
				return err
			}
		}
	}
	data, err := encodeMeta(m.Meta.clone())
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, metaFile), data, 0o644); err != nil {
		return fmt.Errorf("replication: restore: %w", err)
	}
	if err := syncFile(filepath.Join(dir, metaFile)); err != nil {
		return fmt.Errorf("replication: restore: %w", err)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return syncFile(p)
	})
}

// copyFile writes exactly n bytes from r to a new file at path and fsyncs it.
func copyFile(path string, r io.Reader, n int64) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("replication: restore: %w", err)
	}
	_, err = io.CopyN(fh, r, n)
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("replication: restore %s: %w", filepath.Base(path), err)
	}
	return nil
}
