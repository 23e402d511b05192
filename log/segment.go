package log

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
)

// indexFlushEntries is how many index entries the writer keeps pending in
// memory before it writes them to the .index file in one write. Pending
// entries are also written when the segment is sealed and on Sync, Close and
// Truncate. Readers use the in-memory index, so pending entries serve reads
// at once; the file is only a hint for the next Open.
const indexFlushEntries = 256

// indexEntry says that the batch whose base offset is base+rel starts at pos.
type indexEntry struct {
	rel uint32
	pos uint32
}

// segment is one .log file, its .index and its .summary.
//
// Ownership: base, path, f and idx never change after the segment is made.
// The writer (the goroutine holding Log.wmu) owns the fields marked (wmu).
// Readers read size and next atomically and the index under mu.
type segment struct {
	base int64
	path string // the .log file
	f    File
	idx  File

	// size is the number of bytes of whole, fully written batches: readers
	// may read [0, size). Invariant: the writer stores size before next, and
	// only after the bytes are written, so a reader that loads next and then
	// size never sees a batch that is not all there.
	size atomic.Int64
	// next is the offset after the segment's last record (== base if empty).
	next atomic.Int64

	mu    sync.RWMutex // guards index
	index []indexEntry // strictly increasing in rel and pos

	// idxWritten is how many entries of index are in the .index file
	// (entries [idxWritten, len(index)) are pending). Invariant: the file
	// holds exactly the first idxWritten entries, plus possibly the torn
	// remains of a failed write after them, which the next write overwrites
	// and a cut truncates.
	idxWritten   int    // (wmu)
	lastIndexPos int64  // (wmu) pos of the last index entry, 0 if none
	lastMeta     uint64 // (wmu) meta of the last batch, 0 if empty
	firstMeta    uint64 // (wmu) meta of the first batch, 0 if empty
	firstTs      int64  // (wmu) first batch's first timestamp (ms), for roll by age
	lastPos      int64  // (wmu) position of the last batch, 0 if empty
	lastCRC      uint32 // (wmu) hcrc field of the last batch, 0 if empty
	hasData      bool   // (wmu) at least one batch
	// maxTs is the largest batch max timestamp (ms) over every batch of the
	// segment, for retention by age (never below 0). Invariant: it is the
	// same whatever the Log's open history, so that retention decides alike
	// on every replica: Open completes what recovery did not scan from the
	// summary file or the batch headers (see summary.go).
	maxTs int64 // (wmu)
	// summaryCovered is how many bytes of the .log the summary file on disk
	// covers, as far as this Log knows (0: none, or unknown).
	summaryCovered int64 // (wmu)
	// dirPending says the segment's creation may not be durable yet (roll
	// did not fsync the directory): an fsync of the segment that promises
	// durability (SyncEveryBytes, Sync) fsyncs the directory first.
	dirPending bool // (wmu)

	// flushed is closed once the segment, sealed, is durable (its .log and
	// .index fsynced by the flusher) or the flusher gave up on it (then the
	// Log has failed; see Log.failure). Nil while the segment is active.
	// (wmu) A segment made active again by Truncate gets a new channel when
	// it is sealed again.
	flushed chan struct{}
}

func segmentName(base int64, ext string) string { return fmt.Sprintf("%020d%s", base, ext) }

// createSegment makes a new empty segment with the given base offset. If it
// fails after creating the .log, it removes the .log again (best effort), so
// that a failed roll leaves no stray segment behind.
func createSegment(fsys FS, dir string, base int64) (*segment, error) {
	s := &segment{base: base, path: filepath.Join(dir, segmentName(base, ".log"))}
	var err error
	if s.f, err = fsys.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
		return nil, fmt.Errorf("log: create segment: %w", err)
	}
	if s.idx, err = fsys.OpenFile(s.indexPath(), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
		s.f.Close()
		fsys.Remove(s.path)
		return nil, fmt.Errorf("log: create index: %w", err)
	}
	s.next.Store(base)
	return s, nil
}

func (s *segment) indexPath() string {
	return s.path[:len(s.path)-len(".log")] + ".index"
}

func (s *segment) close() error {
	return errors.Join(s.f.Close(), s.idx.Close())
}

// discard closes a segment that never held data and removes its files, best
// effort: it undoes createSegment.
func (s *segment) discard(fsys FS) {
	s.close()
	fsys.Remove(s.path)
	fsys.Remove(s.indexPath())
}

// syncFiles fsyncs the .log and then the .index.
func (s *segment) syncFiles() error {
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("log: fsync %s: %w", s.path, err)
	}
	if err := s.idx.Sync(); err != nil {
		return fmt.Errorf("log: fsync %s: %w", s.indexPath(), err)
	}
	return nil
}

// readHeader reads the batch header at pos and checks that the whole batch
// lies within limit. It returns the header and the batch's size.
func (s *segment) readHeader(pos, limit int64) (Batch, int64, error) {
	if limit-pos < batchHeaderSize {
		return nil, 0, &CorruptError{File: s.path, Pos: pos, Reason: "truncated batch header"}
	}
	var hdr [batchHeaderSize]byte
	if _, err := s.f.ReadAt(hdr[:], pos); err != nil {
		return nil, 0, fmt.Errorf("log: read %s at %d: %w", s.path, pos, err)
	}
	n, reason := checkHeader(hdr[:])
	if reason != "" {
		return nil, 0, &CorruptError{File: s.path, Pos: pos, Reason: "bad batch header: " + reason}
	}
	if pos+n > limit {
		return nil, 0, &CorruptError{File: s.path, Pos: pos, Reason: "batch runs past the end"}
	}
	return Batch(hdr[:]), n, nil
}

// findPos returns the position of the batch that holds offset, looking only
// at [0, limit), and that batch's header and size. The caller guarantees
// base <= offset < the segment's next offset as of limit.
func (s *segment) findPos(offset, limit int64) (int64, Batch, int64, error) {
	rel := offset - s.base
	s.mu.RLock()
	i := sort.Search(len(s.index), func(i int) bool { return int64(s.index[i].rel) > rel })
	var pos int64
	if i > 0 {
		pos = int64(s.index[i-1].pos)
	}
	s.mu.RUnlock()
	for pos < limit {
		hdr, n, err := s.readHeader(pos, limit)
		if err != nil {
			return 0, nil, 0, err
		}
		if hdr.NextOffset() > offset {
			return pos, hdr, n, nil
		}
		pos += n
	}
	return 0, nil, 0, &CorruptError{File: s.path, Pos: pos, Reason: fmt.Sprintf("offset %d not found", offset)}
}

// addIndex records in memory that a batch with base offset off starts at
// pos. The entry reaches the .index file with the next flushIndex. Called by
// the writer only.
func (s *segment) addIndex(off, pos int64) {
	e := indexEntry{rel: uint32(off - s.base), pos: uint32(pos)}
	s.mu.Lock()
	s.index = append(s.index, e)
	s.mu.Unlock()
	s.lastIndexPos = pos
}

// indexPending is the number of index entries not yet in the file.
func (s *segment) indexPending() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.index) - s.idxWritten
}

// flushIndex writes the pending index entries to the .index file in one
// write (no fsync). On error they stay pending. Called by the writer only.
func (s *segment) flushIndex() error {
	s.mu.RLock()
	pending := s.index[s.idxWritten:]
	buf := make([]byte, len(pending)*indexEntrySize)
	for i, e := range pending {
		binary.BigEndian.PutUint32(buf[i*indexEntrySize:], e.rel)
		binary.BigEndian.PutUint32(buf[i*indexEntrySize+4:], e.pos)
	}
	s.mu.RUnlock()
	if len(buf) == 0 {
		return nil
	}
	if _, err := s.idx.WriteAt(buf, int64(s.idxWritten)*indexEntrySize); err != nil {
		return fmt.Errorf("log: write index: %w", err)
	}
	s.idxWritten += len(pending)
	return nil
}

// dropIndexFrom forgets index entries at or after pos and cuts the file to
// the entries written before them (which also drops the remains of a failed
// write).
func (s *segment) dropIndexFrom(pos int64) error {
	s.mu.Lock()
	i := sort.Search(len(s.index), func(i int) bool { return int64(s.index[i].pos) >= pos })
	s.index = s.index[:i]
	s.mu.Unlock()
	s.lastIndexPos = 0
	if i > 0 {
		s.lastIndexPos = int64(s.index[i-1].pos)
	}
	s.idxWritten = min(s.idxWritten, i)
	if err := s.idx.Truncate(int64(s.idxWritten) * indexEntrySize); err != nil {
		return fmt.Errorf("log: truncate index: %w", err)
	}
	return nil
}

// writeIndexFile replaces the index file's content with s.index.
func (s *segment) writeIndexFile() error {
	s.idxWritten = 0
	if err := s.idx.Truncate(0); err != nil {
		return fmt.Errorf("log: rewrite index: %w", err)
	}
	if err := s.flushIndex(); err != nil {
		return fmt.Errorf("log: rewrite index: %w", err)
	}
	return nil
}

// scanner reads batches sequentially from a segment file, verifying each.
type scanner struct {
	s    *segment
	r    *bufio.Reader
	pos  int64 // position of the next batch
	next int64 // expected base offset of the next batch
	buf  []byte
}

func (s *segment) scan(pos, next, size int64) *scanner {
	return &scanner{
		s:    s,
		r:    bufio.NewReaderSize(io.NewSectionReader(s.f, pos, size-pos), 256<<10),
		pos:  pos,
		next: next,
	}
}

// batch returns the next verified batch, io.EOF at a clean end, or a
// *CorruptError describing the first bad batch (torn, bad CRC, or offsets
// that do not follow on). The returned batch is valid until the next call.
func (sc *scanner) batch() (Batch, error) {
	hdr := sc.buf[:0]
	if cap(hdr) < batchHeaderSize {
		hdr = make([]byte, batchHeaderSize)
	}
	hdr = hdr[:batchHeaderSize]
	if _, err := io.ReadFull(sc.r, hdr); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return nil, sc.corrupt("torn batch header")
		}
		return nil, fmt.Errorf("log: scan %s: %w", sc.s.path, err)
	}
	length, reason := checkHeader(hdr)
	if reason != "" {
		return nil, sc.corrupt("bad batch header: " + reason)
	}
	if int64(cap(sc.buf)) < length {
		sc.buf = make([]byte, length)
	}
	b := Batch(sc.buf[:length])
	copy(b, hdr)
	if _, err := io.ReadFull(sc.r, b[batchHeaderSize:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, sc.corrupt("torn batch")
		}
		return nil, fmt.Errorf("log: scan %s: %w", sc.s.path, err)
	}
	if err := b.checkCRCs(); err != nil {
		return nil, sc.corrupt(err.(*CorruptError).Reason)
	}
	if b.BaseOffset() != sc.next {
		return nil, sc.corrupt(fmt.Sprintf("base offset %d, expected %d", b.BaseOffset(), sc.next))
	}
	sc.pos += length
	sc.next = b.NextOffset()
	return b, nil
}

func (sc *scanner) corrupt(reason string) error {
	return &CorruptError{File: sc.s.path, Pos: sc.pos, Reason: reason}
}
