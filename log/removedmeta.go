package log

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The removed-meta file (drawn in format.go) keeps the largest meta of the
// batches that retention removed. LastMeta must not forget them: replication
// stores Raft indexes as metas and, after a crash, skips every entry at or
// below LastMeta. If retention removed every batch that reached the disk and
// the crash lost the unsynced rest, an empty log would otherwise say 0, and
// replay would append again batches that retention had already removed.
const (
	removedMetaFile    = "removed-meta"
	removedMetaTmpFile = "removed-meta.tmp"
	maxRemovedMetaSize = 32 // a uint64 in decimal and a newline fit
)

// readRemovedMeta reads dir's removed-meta file; 0 when there is none. A
// file that does not parse is a *CorruptError: it is written atomically.
func readRemovedMeta(fsys FS, dir string) (uint64, error) {
	path := filepath.Join(dir, removedMetaFile)
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("log: open removed meta: %w", err)
	}
	defer f.Close()
	buf := make([]byte, maxRemovedMetaSize+1)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("log: read removed meta: %w", err)
	}
	s, ok := strings.CutSuffix(string(buf[:n]), "\n")
	v, perr := strconv.ParseUint(s, 10, 64)
	if !ok || perr != nil || n > maxRemovedMetaSize || strconv.FormatUint(v, 10) != s {
		return 0, &CorruptError{File: path, Reason: fmt.Sprintf("removed meta %q", buf[:n])}
	}
	return v, nil
}

// writeRemovedMeta replaces dir's removed-meta file with v (replaceFile).
func writeRemovedMeta(fsys FS, dir string, v uint64) error {
	if err := replaceFile(fsys, dir, removedMetaFile, removedMetaTmpFile, []byte(strconv.FormatUint(v, 10)+"\n")); err != nil {
		return fmt.Errorf("log: write removed meta: %w", err)
	}
	return nil
}

// lastBatchMeta returns the meta of the segment's last batch (0 if it has
// none). A segment that recovery did not scan may not know it: then the
// headers are read from its last index entry on. The caller holds wmu.
func (s *segment) lastBatchMeta() (uint64, error) {
	if !s.hasData || s.lastMeta != 0 {
		return s.lastMeta, nil
	}
	size := s.size.Load()
	pos := int64(0)
	s.mu.RLock()
	if n := len(s.index); n > 0 {
		pos = int64(s.index[n-1].pos)
	}
	s.mu.RUnlock()
	var meta uint64
	for pos < size {
		hdr, n, err := s.readHeader(pos, size)
		if err != nil {
			return 0, err
		}
		meta = hdr.Meta()
		pos += n
	}
	s.lastMeta = meta
	return meta, nil
}

// noteRemoval makes durable, before retention removes segs[:k], that their
// batches' metas reach up to that of the last one. The caller holds wmu.
func (l *Log) noteRemoval(k int) error {
	m, err := l.segs[k-1].lastBatchMeta()
	if err != nil {
		return err
	}
	if m <= l.removedMeta {
		return nil
	}
	if err := writeRemovedMeta(l.cfg.FS, l.dir, m); err != nil {
		return err
	}
	l.removedMeta = m
	return nil
}
