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
)

// Restore implements raft.FSM: it replaces the whole state with a snapshot
// stream (kind S) sent by the leader. The new state is built in a fresh
// state dir and fsynced; then CURRENT is switched to it atomically, and only
// then is the old state dropped. A crash at any point leaves the old state
// or the new one, never a mix. Restore runs on the FSM goroutine.
func (f *FSM) Restore(rc io.ReadCloser) error {
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
	if err := writeFileAtomic(filepath.Join(f.cfg.Dir, currentFile), []byte(name+"\n")); err != nil {
		return err
	}

	// The new state is the durable one now; switch the in-memory state.
	parts, err := f.openParts(newDir, m.Meta)
	if err != nil {
		// The new state is durable but cannot be opened: stop rather than
		// go on with the old one in memory.
		return f.fail("restore", err)
	}
	f.mu.Lock()
	old := f.parts
	f.meta, f.parts, f.stateDir = m.Meta, parts, newDir
	f.mu.Unlock()
	for _, p := range old {
		p.log.Close()
		p.wake()
	}
	f.applied = m.Meta.Index
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
