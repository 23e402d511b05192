package log

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Log is one partition's segmented log. It is safe for concurrent use by one
// writer and many readers; writing methods are serialized internally.
type Log struct {
	dir string
	cfg Config // immutable after Open

	// wmu serializes the writing methods (Append, Truncate, EnforceRetention,
	// Sync, LinkSegments, Close) and guards the fields marked (wmu) here and
	// in segment.
	wmu      sync.Mutex
	unsynced int64 // (wmu) bytes appended since the last fsync

	// mu guards segs and closed. Readers hold it shared for the whole of a
	// read, so a segment's files are never closed under them; the writer
	// holds it exclusively only to change the list or cut a file.
	mu     sync.RWMutex
	segs   []*segment // sorted by base; the last is the active one; never empty while open
	closed bool
}

// Open opens the log in dir, creating the directory and an empty first
// segment if there is none, and recovers what it finds (see openSegment).
// It returns ErrInvalidConfig for a bad Config, a *CorruptError for a corrupt
// sealed segment, and I/O errors wrapped with context.
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
	for i, base := range bases {
		seg, err := openSegment(cfg.FS, dir, base, i == len(bases)-1, cfg.IndexInterval, cfg.Logger)
		if err != nil {
			l.closeSegments()
			return nil, err
		}
		if i > 0 {
			if prev := l.segs[i-1]; prev.next.Load() != base {
				seg.close()
				l.closeSegments()
				return nil, &CorruptError{File: prev.path, Pos: prev.size.Load(),
					Reason: fmt.Sprintf("segment ends at offset %d but the next starts at %d", prev.next.Load(), base)}
			}
		}
		l.segs = append(l.segs, seg)
	}
	if len(l.segs) == 0 {
		seg, err := createSegment(cfg.FS, dir, 0)
		if err != nil {
			return nil, err
		}
		l.segs = []*segment{seg}
		if err := cfg.FS.SyncDir(dir); err != nil {
			l.closeSegments()
			return nil, fmt.Errorf("log: sync dir: %w", err)
		}
	}
	return l, nil
}

// listSegments returns the base offsets of the .log files in dir, sorted. It
// removes index files whose .log is gone (a crash mid-deletion).
func (l *Log) listSegments() ([]int64, error) {
	entries, err := l.cfg.FS.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("log: list dir: %w", err)
	}
	logs := map[int64]bool{}
	var indexes []int64
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
		case ".index":
			indexes = append(indexes, base)
		}
	}
	for _, b := range indexes {
		if !logs[b] {
			if err := l.cfg.FS.Remove(filepath.Join(l.dir, segmentName(b, ".index"))); err != nil {
				return nil, fmt.Errorf("log: remove orphan index: %w", err)
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

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// StartOffset is the first offset still in the log. It does not block on the
// writer.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.segs) == 0 {
		return 0
	}
	return l.segs[0].base
}

// NextOffset is the offset the next appended record will get: one past the
// last record (the high-water mark of an unreplicated log).
func (l *Log) NextOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.segs) == 0 {
		return 0
	}
	return l.segs[len(l.segs)-1].next.Load()
}

// Size is the total size in bytes of the log's segments.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size.Load()
	}
	return n
}

// LastMeta is the meta value of the last batch in the log, 0 if it is empty.
// Replication uses it to learn the Raft index the log has applied up to.
func (l *Log) LastMeta() uint64 {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	for i := len(l.segs) - 1; i >= 0; i-- {
		if l.segs[i].hasData {
			return l.segs[i].lastMeta
		}
	}
	return 0
}

// Append writes one batch, assigning it consecutive offsets from NextOffset,
// and returns its base offset. It fills in the batch's base offset and
// checksum in place (b is modified). b must be one whole batch as made by
// AppendBatch or returned by ParseBatch. Append rolls to a new segment first
// if the active one is full or too old, and applies retention after a roll.
// It fsyncs according to Config.Sync.
//
// On a write error (ENOSPC, a short write) nothing is appended: the partial
// write is cut off again, and later appends work once the cause is gone.
// It returns ErrMalformedBatch, ErrClosed or a wrapped I/O error. Append
// blocks for the write (and the fsync, by policy).
func (l *Log) Append(b Batch) (int64, error) {
	n, err := batchLen(b)
	if err != nil {
		return 0, err
	}
	if n != len(b) {
		return 0, fmt.Errorf("%w: %d bytes after the batch", ErrMalformedBatch, len(b)-n)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return 0, ErrClosed
	}
	rolled, err := l.maybeRoll(int64(len(b)), int64(b.Count()))
	if err != nil {
		return 0, err
	}
	s := l.active()
	pos, next := s.size.Load(), s.next.Load()
	b.setBase(next)
	if _, err := s.f.WriteAt(b, pos); err != nil {
		return 0, l.undoWrite(s, pos, fmt.Errorf("log: append: %w", err))
	}
	if pos-s.lastIndexPos >= l.cfg.IndexInterval {
		if err := s.addIndex(next, pos); err != nil {
			return 0, l.undoWrite(s, pos, err)
		}
	}
	l.unsynced += int64(len(b))
	if l.cfg.Sync == SyncEveryAppend || (l.cfg.Sync == SyncEveryBytes && l.unsynced >= l.cfg.SyncBytes) {
		if err := s.f.Sync(); err != nil {
			// The bytes may or may not be on disk: do not publish them.
			return 0, l.undoWrite(s, pos, fmt.Errorf("log: fsync: %w", err))
		}
		l.unsynced = 0
	}
	s.noteBatch(b)
	s.size.Store(pos + int64(len(b)))
	s.next.Store(b.NextOffset())
	if rolled {
		if _, err := l.enforceRetention(); err != nil {
			return next, err
		}
	}
	return next, nil
}

// undoWrite cuts a failed append back off the active segment so the file
// holds only whole batches, and returns cause (joined with any error from
// the cut itself).
func (l *Log) undoWrite(s *segment, pos int64, cause error) error {
	if err := s.f.Truncate(pos); err != nil {
		return errors.Join(cause, fmt.Errorf("log: cut failed append: %w", err))
	}
	if err := s.dropIndexFrom(pos); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

func (l *Log) active() *segment {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.segs[len(l.segs)-1]
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// Read returns whole batches starting with the one that holds offset, as
// many as fit in maxBytes, and at least one even if it alone is larger. The
// first batch may begin before offset; callers skip the records before it.
// Reading at NextOffset returns no bytes and no error. Read stops at the end
// of a segment. It does not verify checksums (ParseBatch does).
//
// It returns an *OffsetRangeError (ErrOffsetOutOfRange) for an offset below
// StartOffset or past NextOffset, ErrClosed, or a wrapped I/O error. It is
// safe to call concurrently with everything, and blocks only for the read.
func (l *Log) Read(offset int64, maxBytes int) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	start, end := l.segs[0].base, l.segs[len(l.segs)-1].next.Load()
	if offset < start || offset > end {
		return nil, &OffsetRangeError{Offset: offset, Start: start, End: end}
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	s := l.segs[i]
	next := s.next.Load()
	size := s.size.Load() // loaded after next: covers at least [base, next)
	if offset >= next {
		return nil, nil // the end of the log (an empty active segment)
	}
	pos, _, first, err := s.findPos(offset, size)
	if err != nil {
		return nil, err
	}
	n := first
	if int64(maxBytes) > n {
		n = min(int64(maxBytes), size-pos)
	}
	buf := make([]byte, n)
	if _, err := s.f.ReadAt(buf, pos); err != nil {
		return nil, fmt.Errorf("log: read %s at %d: %w", s.path, pos, err)
	}
	// Keep whole batches only.
	var keep int64
	for keep < n {
		if n-keep < batchHeaderSize {
			break
		}
		bl, err := batchLen(buf[keep:])
		if err != nil {
			break
		}
		keep += int64(bl)
	}
	return buf[:keep], nil
}

// Sync fsyncs the active segment and its index. Sealed segments were synced
// when they were sealed. It returns ErrClosed or a wrapped I/O error.
func (l *Log) Sync() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	return l.syncActive()
}

func (l *Log) syncActive() error {
	s := l.active()
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("log: fsync: %w", err)
	}
	if err := s.idx.Sync(); err != nil {
		return fmt.Errorf("log: fsync index: %w", err)
	}
	l.unsynced = 0
	return nil
}

// Close fsyncs the active segment and closes every file. It is idempotent:
// later calls return nil. It blocks until any write in progress is done and
// readers have left; Read and writes after Close return ErrClosed.
func (l *Log) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return nil
	}
	err := l.syncActive()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, s := range l.segs {
		err = errors.Join(err, s.close())
	}
	return err
}
