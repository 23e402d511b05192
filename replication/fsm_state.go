package replication

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	mlog "github.com/minibroker/minibroker/log"
	"github.com/vmihailenco/msgpack/v5"
)

// The FSM's directory:
//
//	<Dir>/CURRENT            names the live state dir, e.g. "state-3"
//	<Dir>/state-3/meta.bin   metadata as of the last snapshot (msgpack)
//	<Dir>/state-3/topics/<name>-<createIndex>/<partition>/   partition logs
//	<Dir>/staging/<n>/       hard links taken by Snapshot, until Release
//
// Restore builds a new state-N+1 beside the live one and then replaces
// CURRENT atomically (write a temp file, fsync, rename, fsync the dir), so a
// crash leaves either the old state or the new one, never a mix. Open
// removes whatever CURRENT does not name.
const (
	currentFile = "CURRENT"
	metaFile    = "meta.bin"
	stagingDir  = "staging"
)

func (f *FSM) open() error {
	if err := os.MkdirAll(f.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("replication: create fsm dir: %w", err)
	}
	cur, err := os.ReadFile(filepath.Join(f.cfg.Dir, currentFile))
	name := strings.TrimSpace(string(cur))
	switch {
	case errors.Is(err, os.ErrNotExist):
		name = "state-1"
		if err := os.MkdirAll(filepath.Join(f.cfg.Dir, name), 0o755); err != nil {
			return fmt.Errorf("replication: create state dir: %w", err)
		}
		if err := writeFileAtomic(filepath.Join(f.cfg.Dir, currentFile), []byte(name+"\n")); err != nil {
			return err
		}
		// The FSM dir may be new too: make its entry durable.
		if err := syncFile(filepath.Dir(f.cfg.Dir)); err != nil {
			return fmt.Errorf("replication: sync data dir: %w", err)
		}
	case err != nil:
		return fmt.Errorf("replication: read %s: %w", currentFile, err)
	case !strings.HasPrefix(name, "state-"):
		return fmt.Errorf("replication: %s names %q, not a state dir", currentFile, name)
	}
	f.stateDir = filepath.Join(f.cfg.Dir, name)
	if err := f.removeStale(name); err != nil {
		return err
	}
	f.meta = newMetaState()
	if data, err := os.ReadFile(filepath.Join(f.stateDir, metaFile)); err == nil {
		if f.meta, err = decodeMeta(data); err != nil {
			return fmt.Errorf("replication: %s: %w", metaFile, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replication: read %s: %w", metaFile, err)
	}
	f.applied.Store(f.meta.Index)
	f.now, f.meta.Clock = f.meta.Clock, 0 // live in f.now (see metaState.Clock)
	if f.parts, err = f.openParts(f.stateDir, f.meta); err != nil {
		return err
	}
	if err := f.syncStateDirs(); err != nil {
		return err
	}
	return f.removeOrphanTopics()
}

// syncStateDirs fsyncs the directories above the partition logs (the state
// dir, topics/ and each topic's dir), once per start: a process crash
// between creating a partition's directory and fsyncing its parent (see
// makePartitionDir) leaves a directory that exists but whose entry may not
// be durable; replay does not create it again.
func (f *FSM) syncStateDirs() error {
	fsys := f.cfg.FS
	if fsys == nil {
		fsys = mlog.OSFS{}
	}
	if len(f.meta.Topics) == 0 {
		return nil
	}
	dirs := []string{filepath.Join(f.stateDir, "topics"), f.stateDir}
	for _, t := range f.meta.sortedTopics() {
		dirs = append(dirs, filepath.Join(f.stateDir, topicDir(t.Name, t.CreateIndex)))
	}
	for _, d := range dirs {
		if err := fsys.SyncDir(d); err != nil {
			return fmt.Errorf("replication: sync %s: %w", d, err)
		}
	}
	return nil
}

// openParts opens every partition of every topic in meta under stateDir.
// On error it closes what it opened.
func (f *FSM) openParts(stateDir string, meta *metaState) (map[partKey]*partition, error) {
	parts := map[partKey]*partition{}
	for _, t := range meta.sortedTopics() {
		for i := int32(0); i < t.Partitions; i++ {
			p, err := openPartition(stateDir, t, i, f.cfg.FS, f.cfg.LogSync, f.clock, f.logger)
			if err != nil {
				for _, q := range parts {
					q.log.Close()
				}
				return nil, err
			}
			parts[partKey{t.Name, i}] = p
		}
	}
	return parts, nil
}

// removeStale deletes state dirs other than the live one and leftovers of
// snapshots and restores.
func (f *FSM) removeStale(live string) error {
	entries, err := os.ReadDir(f.cfg.Dir)
	if err != nil {
		return fmt.Errorf("replication: list fsm dir: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		if n == live || n == currentFile {
			continue
		}
		if strings.HasPrefix(n, "state-") || n == stagingDir || strings.HasSuffix(n, ".tmp") {
			if err := os.RemoveAll(filepath.Join(f.cfg.Dir, n)); err != nil {
				return fmt.Errorf("replication: remove stale %s: %w", n, err)
			}
		}
	}
	return nil
}

// removeOrphanTopics deletes topic dirs that the metadata no longer knows and
// never will again: created at or below meta.Index (so the create is not
// going to be replayed) but absent, i.e. deleted. Dirs created after
// meta.Index are kept: replay of their CreateTopic reopens them.
func (f *FSM) removeOrphanTopics() error {
	dir := filepath.Join(f.stateDir, "topics")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("replication: list topics: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		i := strings.LastIndexByte(n, '-')
		if i < 0 {
			continue
		}
		ci, err := strconv.ParseUint(n[i+1:], 10, 64)
		if err != nil {
			continue
		}
		if t, ok := f.meta.Topics[n[:i]]; (ok && t.CreateIndex == ci) || ci > f.meta.Index {
			continue
		}
		f.logger.Info("removing data of a deleted topic", "dir", n)
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			return fmt.Errorf("replication: remove orphan topic dir: %w", err)
		}
	}
	return nil
}

func encodeMeta(m *metaState) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("replication: encode metadata: %w", err)
	}
	return buf.Bytes(), nil
}

func decodeMeta(data []byte) (*metaState, error) {
	m := newMetaState()
	if err := msgpack.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("decode metadata: %w", err)
	}
	m.afterDecode()
	return m, nil
}

// writeFileAtomic replaces path with data: temp file, fsync, rename, fsync
// of the directory.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("replication: write %s: %w", path, err)
	}
	_, err = fh.Write(data)
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncFile(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replication: write %s: %w", path, err)
	}
	return nil
}
