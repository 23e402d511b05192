package log

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
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
	unsynced int64     // (wmu) bytes appended to the active segment since its last fsync
	lastJob  *flushJob // (wmu) the last segment handed to the flusher, nil if none
	// removedMeta is the largest meta of the batches retention removed, as
	// the removed-meta file holds it (see removedmeta.go). (wmu)
	removedMeta uint64

	// mu guards segs and closed. Readers hold it shared for the whole of a
	// read, so a segment's files are never closed under them; the writer
	// holds it exclusively only to change the list or cut a file.
	mu     sync.RWMutex
	segs   []*segment // sorted by base; the last is the active one; never empty while open
	closed bool

	fl *flusher // the background flusher; started by Open, stopped by Close

	// rpMu guards rp and the recovery point file; it is held across the
	// file's replacement, so writes of it never interleave. Both the writer
	// and the flusher write it.
	rpMu sync.Mutex
	// rp is the recovery point the file holds (or, without a file, the one
	// Open assumed). Invariant: every byte of the log before it is durable.
	rp recoveryPoint

	// failErr is the first background fsync failure; set once by the
	// flusher, never cleared. Atomic: Append reads it every time.
	failErr atomic.Pointer[error]
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

// LastMeta is the meta value of the last batch in the log; when retention
// has removed every batch, the largest meta of those it removed; 0 if the
// log never held a batch. Replication uses it to learn the Raft index the
// log has applied up to. It waits for a write in progress.
func (l *Log) LastMeta() uint64 {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	for i := len(l.segs) - 1; i >= 0; i-- {
		if l.segs[i].hasData {
			return max(l.segs[i].lastMeta, l.removedMeta)
		}
	}
	return l.removedMeta
}

// Append writes one batch, assigning it consecutive offsets from NextOffset,
// and returns its base offset. It fills in the batch's base offset and
// checksum in place (b is modified). b must be one whole batch as made by
// AppendBatch or returned by ParseBatch. Append rolls to a new segment first
// if the active one is full or too old, and applies retention after a roll.
// It fsyncs according to Config.Sync; the segment a roll seals is fsynced
// in the background (see doc.go, Durability).
//
// On a write error (ENOSPC, a short write) nothing is appended: the partial
// write is cut off again, and later appends work once the cause is gone.
// A retention failure after a roll does not fail the Append (the batch is
// in the log): it is logged to Config.Logger and retention is tried again on
// the next roll or EnforceRetention. It returns ErrMalformedBatch, ErrClosed,
// ErrFlushFailed (wrapped) once a background fsync has failed, or a wrapped
// I/O error. Append blocks for the write (and the fsync, by policy).
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
	if err := l.failure(); err != nil {
		return 0, err
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
		s.addIndex(next, pos)
		if s.indexPending() >= indexFlushEntries {
			if err := s.flushIndex(); err != nil {
				return 0, l.undoWrite(s, pos, err)
			}
		}
	}
	l.unsynced += int64(len(b))
	if l.cfg.Sync == SyncEveryAppend || (l.cfg.Sync == SyncEveryBytes && l.unsynced >= l.cfg.SyncBytes) {
		if s.dirPending {
			if err := l.cfg.FS.SyncDir(l.dir); err != nil {
				return 0, l.undoWrite(s, pos, fmt.Errorf("log: sync dir: %w", err))
			}
			s.dirPending = false
		}
		if err := s.f.Sync(); err != nil {
			// The bytes may or may not be on disk: do not publish them.
			return 0, l.undoWrite(s, pos, fmt.Errorf("log: fsync: %w", err))
		}
		l.unsynced = 0
	}
	s.noteBatch(b, pos)
	s.size.Store(pos + int64(len(b)))
	s.next.Store(b.NextOffset())
	if rolled {
		if _, err := l.enforceRetention(math.MaxUint64); err != nil {
			l.cfg.Logger.Warn("retention after a roll failed; retrying on the next roll", "dir", l.dir, "error", err)
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
// of a segment. It does not verify checksums (ParseBatch does). The result
// is a new slice owned by the caller; ReadInto reuses a buffer instead.
//
// It returns an *OffsetRangeError (ErrOffsetOutOfRange) for an offset below
// StartOffset or past NextOffset, ErrClosed, or a wrapped I/O error. It is
// safe to call concurrently with everything, and blocks only for the read.
func (l *Log) Read(offset int64, maxBytes int) ([]byte, error) {
	return l.ReadInto(nil, offset, maxBytes)
}

// ReadInto is Read into dst's storage: the batches are read into
// dst[:cap(dst)] from its start (dst's length is ignored and its bytes
// overwritten), and the result is a prefix of that storage. If they do not
// fit in cap(dst), ReadInto reads into a new slice instead. A reader that
// walks the log passes the previous result back in, and so reads without
// allocating once its buffer has grown to what the reads need. It returns
// what Read returns; on error, the bytes of dst may have been overwritten.
func (l *Log) ReadInto(dst []byte, offset int64, maxBytes int) ([]byte, error) {
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
		return dst[:0], nil // the end of the log (an empty active segment)
	}
	pos, _, first, err := s.findPos(offset, size)
	if err != nil {
		return nil, err
	}
	n := first
	if int64(maxBytes) > n {
		n = min(int64(maxBytes), size-pos)
	}
	buf := dst[:0]
	if int64(cap(buf)) >= n {
		buf = buf[:n]
	} else {
		buf = make([]byte, n)
	}
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

// Sync makes everything appended so far durable: it fsyncs the active
// segment and its index, waits for the flusher to finish every sealed
// segment, and moves the recovery point to the end of the log, so that the
// next Open need not verify any of it. It returns ErrClosed, ErrFlushFailed (wrapped)
// once a background fsync has failed, or a wrapped I/O error. It blocks
// for the fsyncs and waits for a write in progress.
func (l *Log) Sync() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	return l.syncAll()
}

// syncAll is Sync with wmu held. The active segment is fsynced while the
// flusher may still be working on sealed ones; the recovery point moves
// only once both are done.
func (l *Log) syncAll() error {
	if err := l.failure(); err != nil {
		return err
	}
	s := l.active()
	if s.dirPending {
		if err := l.cfg.FS.SyncDir(l.dir); err != nil {
			return fmt.Errorf("log: sync dir: %w", err)
		}
		s.dirPending = false
	}
	if err := l.syncActive(); err != nil {
		return err
	}
	if err := l.drain(); err != nil {
		return err
	}
	return l.advanceRecoveryPoint(recoveryPoint{base: s.base, pos: s.size.Load()})
}

// syncActive writes the active segment's pending index entries and fsyncs
// its .log and .index. It does not move the recovery point (a per-append
// fsync must stay one fsync).
func (l *Log) syncActive() error {
	s := l.active()
	if err := s.flushIndex(); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("log: fsync: %w", err)
	}
	if err := s.idx.Sync(); err != nil {
		return fmt.Errorf("log: fsync index: %w", err)
	}
	l.unsynced = 0
	return nil
}

// Close makes the log durable as Sync does (so the next Open verifies
// nothing but segment tails), stops the flusher and closes every file. It is
// idempotent: later calls return nil. It blocks until any write in progress
// is done, the flusher has finished and readers have left; Read and writes
// after Close return ErrClosed. The files are closed even when it returns an
// error: ErrFlushFailed (wrapped) after a background fsync failure, or a
// wrapped I/O error from the final fsync.
func (l *Log) Close() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return nil
	}
	err := l.syncAll()
	if serr := l.active().writeSummary(l.cfg.FS); serr != nil {
		// Only a hint: the next Open reads the batch headers instead.
		l.cfg.Logger.Warn("writing the active segment's summary failed", "segment", l.active().path, "error", serr)
	}
	l.stopFlusher()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, s := range l.segs {
		err = errors.Join(err, s.close())
	}
	return err
}
