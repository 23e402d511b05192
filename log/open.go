package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Open opens the log in dir, creating the directory and an empty first
// segment if there is none, and recovers what it finds around the recovery
// point (see doc.go, Durability, and recoverSegments). It starts the Log's
// flusher goroutine, which Close stops.
//
// It returns ErrInvalidConfig for a bad Config, a *CorruptError for damage
// to data that was durable (before the recovery point) or a malformed
// recovery point file, and I/O errors wrapped with context. It blocks for
// the recovery, which reads only the segments' tails after a clean Close.
func Open(dir string, cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	l := &Log{dir: dir, cfg: cfg}
	if err := cfg.FS.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log: create dir: %w", err)
	}
	bases, err := l.listSegments()
	if err != nil {
		return nil, err
	}
	rp, found, err := readRecoveryPoint(cfg.FS, dir)
	if err != nil {
		return nil, err
	}
	if err := cfg.FS.Remove(filepath.Join(dir, recoveryPointTmpFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("log: remove stale recovery point: %w", err)
	}
	if l.removedMeta, err = readRemovedMeta(cfg.FS, dir); err != nil {
		return nil, err
	}
	if err := cfg.FS.Remove(filepath.Join(dir, removedMetaTmpFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("log: remove stale removed meta: %w", err)
	}
	if len(bases) == 0 {
		if found && rp != (recoveryPoint{}) {
			return nil, &CorruptError{File: filepath.Join(dir, recoveryPointFile),
				Reason: fmt.Sprintf("the recovery point is in segment %d, but there are no segments", rp.base)}
		}
		seg, err := createSegment(cfg.FS, dir, 0)
		if err != nil {
			return nil, err
		}
		if err := cfg.FS.SyncDir(dir); err != nil {
			seg.discard(cfg.FS)
			return nil, fmt.Errorf("log: sync dir: %w", err)
		}
		l.segs = []*segment{seg}
		l.rp = recoveryPoint{}
		l.startFlusher()
		return l, nil
	}
	if err := checkFormat(cfg.FS, dir, bases); err != nil {
		return nil, err
	}
	if !found {
		// Nothing is known durable: a new log whose first flush had not
		// finished (the flusher writes the file once it has fsynced the
		// first sealed segment), or a crash lost the file's creation.
		// Every segment is verified, and the log ends at the first bad
		// batch or gap. Taking the sealed segments as durable would turn
		// a crash that lost an unflushed segment's tail, while the next
		// segment's file survived, into a CorruptError.
		rp = recoveryPoint{base: bases[0]}
	}
	if rp.base < bases[0] {
		// Retention deleted the segment the recovery point is in (its
		// update had failed): verify everything.
		rp = recoveryPoint{base: bases[0]}
	}
	k := sort.Search(len(bases), func(i int) bool { return bases[i] >= rp.base })
	if k == len(bases) || bases[k] != rp.base {
		return nil, &CorruptError{File: filepath.Join(dir, recoveryPointFile),
			Reason: fmt.Sprintf("the recovery point is in segment %d, which is missing", rp.base)}
	}
	l.rp = rp
	if err := l.recoverSegments(bases, k, rp.pos); err != nil {
		return nil, err
	}
	l.refreshSummaries()
	l.startFlusher()
	// Sealed segments from the recovery point on were verified but may not
	// be durable: they go to the flusher, which moves the recovery point.
	for i := k; i < len(l.segs)-1; i++ {
		l.enqueueFlush(l.segs[i])
	}
	return l, nil
}

// closedChan is the flushed channel of segments durable since Open.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// recoverSegments opens the segments named by bases, oldest first, into
// l.segs. The recovery point is byte rpPos of segment k. Segments before k
// were durable: damage in them is a *CorruptError, and so is one that does
// not follow on from the one before. From the recovery point on, the first
// bad batch, or the first segment that does not follow on, is where the log
// ends: later segments are deleted (newest first, then the directory is
// fsynced), then the bad segment's tail is cut, and what was cut is logged.
func (l *Log) recoverSegments(bases []int64, k int, rpPos int64) error {
	fail := func(err error) error {
		l.closeSegments()
		return err
	}
	for i, base := range bases {
		synced := int64(wholeFile)
		switch {
		case i == k:
			synced = rpPos
		case i > k:
			synced = 0
		}
		seg, cut, err := openSegment(l.cfg.FS, l.dir, base, synced, l.cfg.IndexInterval, l.cfg.Logger)
		if err != nil {
			return fail(err)
		}
		if i > 0 {
			if prev := l.segs[i-1]; prev.next.Load() != base {
				seg.close()
				if i <= k {
					return fail(&CorruptError{File: prev.path, Pos: prev.size.Load(),
						Reason: fmt.Sprintf("segment ends at offset %d but the next starts at %d", prev.next.Load(), base)})
				}
				// Written after the recovery point, and what it followed
				// on from was lost: drop it and everything after it.
				n, err := l.removeSegmentFiles(bases[i:])
				if err != nil {
					return fail(err)
				}
				l.cfg.Logger.Warn("deleting segments that no longer follow on after the recovery point",
					"after", prev.path, "offsets_from", prev.next.Load(), "segment_bases", bases[i:], "bytes_cut", n)
				break
			}
		}
		if i < k {
			seg.flushed = closedChan
		}
		l.segs = append(l.segs, seg)
		if cut == nil {
			continue
		}
		n, err := l.removeSegmentFiles(bases[i+1:])
		if err != nil {
			return fail(err)
		}
		st, err := seg.f.Stat()
		if err != nil {
			return fail(fmt.Errorf("log: stat segment: %w", err))
		}
		tail := st.Size() - cut.Pos
		if err := seg.cutTail(cut.Pos); err != nil {
			return fail(err)
		}
		l.cfg.Logger.Warn("truncating the log at the first bad batch after the recovery point",
			"segment", seg.path, "pos", cut.Pos, "reason", cut.Reason, "offsets_from", seg.next.Load(),
			"bytes_cut", tail+n, "segments_deleted", bases[i+1:])
		break
	}
	return nil
}

// removeSegmentFiles deletes the files of the segments with these bases,
// which are not open, newest first, and fsyncs the directory. It returns
// the bytes of .log deleted.
func (l *Log) removeSegmentFiles(bases []int64) (int64, error) {
	var n int64
	for j := len(bases) - 1; j >= 0; j-- {
		path := filepath.Join(l.dir, segmentName(bases[j], ".log"))
		if f, err := l.cfg.FS.OpenFile(path, os.O_RDONLY, 0); err == nil {
			if st, err := f.Stat(); err == nil {
				n += st.Size()
			}
			f.Close()
		}
		if err := l.cfg.FS.Remove(path); err != nil {
			return n, fmt.Errorf("log: delete segment: %w", err)
		}
		if err := l.cfg.FS.Remove(filepath.Join(l.dir, segmentName(bases[j], ".index"))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("log: delete segment index: %w", err)
		}
		if err := removeSummary(l.cfg.FS, filepath.Join(l.dir, segmentName(bases[j], summaryExt))); err != nil {
			return n, err
		}
	}
	if len(bases) > 0 {
		if err := l.cfg.FS.SyncDir(l.dir); err != nil {
			return n, fmt.Errorf("log: sync dir: %w", err)
		}
	}
	return n, nil
}

// listSegments returns the base offsets of the .log files in dir, sorted. It
// removes index and summary files whose .log is gone (a crash
// mid-deletion).
func (l *Log) listSegments() ([]int64, error) {
	entries, err := l.cfg.FS.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("log: list dir: %w", err)
	}
	logs := map[int64]bool{}
	var others []string // .index and .summary files
	for _, e := range entries {
		name := e.Name()
		ext := filepath.Ext(name)
		base, err := strconv.ParseInt(strings.TrimSuffix(name, ext), 10, 64)
		if err != nil || len(name)-len(ext) != 20 {
			continue
		}
		switch ext {
		case ".log":
			logs[base] = true
		case ".index", summaryExt:
			others = append(others, name)
		}
	}
	for _, name := range others {
		base, _ := strconv.ParseInt(strings.TrimSuffix(name, filepath.Ext(name)), 10, 64)
		if !logs[base] {
			if err := l.cfg.FS.Remove(filepath.Join(l.dir, name)); err != nil {
				return nil, fmt.Errorf("log: remove orphan %s: %w", filepath.Ext(name), err)
			}
		}
	}
	bases := make([]int64, 0, len(logs))
	for b := range logs {
		bases = append(bases, b)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

func (l *Log) closeSegments() {
	for _, s := range l.segs {
		s.close()
	}
	l.segs = nil
}

// refreshSummaries writes the summary file of each sealed segment that has
// none covering all of it (a log written before summaries existed, or one
// lost in a machine crash), so the next Open need not read its headers
// again, and removes the active segment's if recovery did not trust it
// (Close writes it). Summaries are hints: failures are logged, not returned.
func (l *Log) refreshSummaries() {
	for i, s := range l.segs {
		var err error
		switch {
		case i < len(l.segs)-1 && s.summaryCovered != s.size.Load():
			err = s.writeSummary(l.cfg.FS)
		case i == len(l.segs)-1 && s.summaryCovered == 0:
			err = removeSummary(l.cfg.FS, s.summaryPath())
		}
		if err != nil {
			l.cfg.Logger.Warn("segment summary", "segment", s.path, "error", err)
		}
	}
}

// Format 1's batch header: length u32, crc u32 (CRC32C of [8, 4+length)),
// magic u8 = 1, and 48 bytes in all.
const (
	oldHeaderSize = 48
	oldMagic      = 1
)

// checkFormat refuses a log written in format 1: it looks at the first
// batch of the first segment that has one. A first batch that is neither
// format is left to recovery (a torn or damaged tail). It returns a
// *FormatError or a wrapped I/O error.
func checkFormat(fsys FS, dir string, bases []int64) error {
	for _, base := range bases {
		path := filepath.Join(dir, segmentName(base, ".log"))
		f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("log: open segment: %w", err)
		}
		old, size, err := isOldFormat(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("log: read %s: %w", path, err)
		}
		if old {
			return &FormatError{Path: dir, Format: 1}
		}
		if size > 0 {
			return nil
		}
	}
	return nil
}

// isOldFormat reports whether f starts with a format 1 batch whose CRC
// holds, and f's size.
func isOldFormat(f File) (bool, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return false, 0, err
	}
	size := st.Size()
	if size < oldHeaderSize {
		return false, size, nil
	}
	var hdr [batchHeaderSize]byte
	n, err := f.ReadAt(hdr[:min(int64(len(hdr)), size)], 0)
	if err != nil && n < oldHeaderSize {
		return false, size, err
	}
	if n >= batchHeaderSize && hdr[offMagic] == batchMagic {
		return false, size, nil
	}
	length := int64(binary.BigEndian.Uint32(hdr[0:])) + 4
	if hdr[8] != oldMagic || length < oldHeaderSize || length > size || length > maxBatchSize {
		return false, size, nil
	}
	b := make([]byte, length)
	if _, err := f.ReadAt(b, 0); err != nil {
		return false, size, err
	}
	return crc32.Checksum(b[8:], castagnoli) == binary.BigEndian.Uint32(b[4:]), size, nil
}
