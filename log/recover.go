package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
)

// wholeFile is the synced bound of a segment wholly before the recovery
// point: every byte of it is durable.
const wholeFile = math.MaxInt64

// openSegment opens an existing segment and recovers it. synced is how many
// bytes at the start of its .log the recovery point says are durable:
// wholeFile for a segment wholly before the recovery point, the recovery
// point's pos in its own segment, 0 for a segment after it.
//
//   - The index is loaded and checked: whole entries, strictly increasing,
//     inside the file, and the last one pointing at a batch with the right
//     base offset. Only entries for batches before synced are trusted; the
//     rest are rebuilt from the scan. An index that fails, or is missing, is
//     rebuilt by scanning the whole .log.
//   - Every batch from the last trusted index entry (or the start) to the
//     end of the file is verified (CRC, offsets that follow on). A bad batch
//     that starts before synced is a *CorruptError: those bytes were
//     fsynced, so the damage is real and is never dropped silently. The
//     first bad batch at or after synced is where the durable log ends: it is
//     returned as cut (nothing is cut yet; the caller deletes later segments
//     first, then calls cutTail).
//
// The returned segment's size and next already stop at the cut.
func openSegment(fsys FS, dir string, base, synced, interval int64, logger *slog.Logger) (*segment, *CorruptError, error) {
	s := &segment{base: base, path: filepath.Join(dir, segmentName(base, ".log"))}
	var err error
	if s.f, err = fsys.OpenFile(s.path, os.O_RDWR, 0); err != nil {
		return nil, nil, fmt.Errorf("log: open segment: %w", err)
	}
	cut, err := s.recover(fsys, synced, interval, logger)
	if err != nil {
		s.f.Close()
		if s.idx != nil {
			s.idx.Close()
		}
		return nil, nil, err
	}
	return s, cut, nil
}

func (s *segment) recover(fsys FS, synced, interval int64, logger *slog.Logger) (*CorruptError, error) {
	st, err := s.f.Stat()
	if err != nil {
		return nil, fmt.Errorf("log: stat segment: %w", err)
	}
	fileSize := st.Size()
	if synced != wholeFile && synced > fileSize {
		return nil, &CorruptError{File: s.path, Pos: fileSize,
			Reason: fmt.Sprintf("the recovery point says %d bytes were synced, the file has %d", synced, fileSize)}
	}

	dropped, idxErr := s.loadIndex(fsys, fileSize, min(synced, fileSize))
	rewrite := dropped || idxErr != nil
	if idxErr != nil {
		logger.Warn("rebuilding segment index", "segment", s.path, "reason", idxErr)
		s.index = nil
		if s.idx == nil {
			if s.idx, err = fsys.OpenFile(s.indexPath(), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
				return nil, fmt.Errorf("log: create index: %w", err)
			}
		}
	}

	// Scan from the last trusted index entry (or the start) to the end.
	pos, next := int64(0), s.base
	if n := len(s.index); n > 0 {
		pos, next = int64(s.index[n-1].pos), s.base+int64(s.index[n-1].rel)
		s.lastIndexPos = pos
	}
	sc := s.scan(pos, next, fileSize)
	var cut *CorruptError
	for {
		start := sc.pos
		b, err := sc.batch()
		if err == io.EOF {
			break
		}
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Pos < synced {
				return nil, err
			}
			cut = ce
			break
		}
		if start < synced && sc.pos > synced {
			return nil, &CorruptError{File: s.path, Pos: start,
				Reason: fmt.Sprintf("the recovery point (byte %d) falls inside this batch", synced)}
		}
		// Index what the index does not cover yet, as Append would have.
		if start-s.lastIndexPos >= interval {
			s.index = append(s.index, indexEntry{rel: uint32(b.BaseOffset() - s.base), pos: uint32(start)})
			s.lastIndexPos = start
			rewrite = true
		}
		s.noteBatch(b, start)
	}
	if rewrite {
		if err := s.writeIndexFile(); err != nil {
			return nil, err
		}
	} else {
		s.idxWritten = len(s.index)
	}
	s.size.Store(sc.pos)
	s.next.Store(sc.next)
	if pos > 0 {
		// The scan started at the last trusted index entry: the first batch
		// and the newest timestamp before it come from elsewhere.
		hdr, _, err := s.readHeader(0, sc.pos)
		if err != nil {
			return nil, err
		}
		s.firstTs, s.firstMeta = hdr.FirstTimestamp(), hdr.Meta()
		if err := s.completeMaxTs(fsys, pos, logger); err != nil {
			return nil, err
		}
	}
	return cut, nil
}

// cutTail cuts the segment's file at pos, where recovery found the first
// bad batch after the recovery point, and fsyncs the cut so that the bytes
// cut cannot come back after another crash and be taken for batches that
// follow on from new appends. size and next are already set.
func (s *segment) cutTail(pos int64) error {
	if err := s.f.Truncate(pos); err != nil {
		return fmt.Errorf("log: truncate torn tail: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("log: fsync after cutting the tail: %w", err)
	}
	return s.dropIndexFrom(pos)
}

// noteBatch updates the writer-owned summary fields for a batch appended or
// found at the end of the segment, at pos. Recovery that starts its scan
// past the first batch corrects firstTs, firstMeta and maxTs afterwards.
func (s *segment) noteBatch(b Batch, pos int64) {
	if !s.hasData {
		s.hasData = true
		s.firstTs, s.firstMeta = b.FirstTimestamp(), b.Meta()
	}
	s.lastMeta, s.lastPos, s.lastCRC = b.Meta(), pos, b.hcrc()
	if ts := b.MaxTimestamp(); ts > s.maxTs {
		s.maxTs = ts
	}
}

// loadIndex reads and checks the index file, keeping only the entries for
// batches that start before trusted. It leaves s.idx open (when the file
// exists). dropped says whether entries were left out (the file must be
// rewritten); the error says why the index cannot be trusted at all.
func (s *segment) loadIndex(fsys FS, fileSize, trusted int64) (dropped bool, err error) {
	f, err := fsys.OpenFile(s.indexPath(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return false, fmt.Errorf("open index: %w", err)
	}
	s.idx = f
	st, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat index: %w", err)
	}
	if st.Size()%indexEntrySize != 0 {
		return false, fmt.Errorf("index size %d is not a whole number of entries", st.Size())
	}
	if st.Size() == 0 {
		return false, nil // missing or empty: the scan from 0 rebuilds it
	}
	if st.Size()/indexEntrySize > fileSize/batchHeaderSize+1 {
		return false, fmt.Errorf("index has more entries than the log has batches")
	}
	buf := make([]byte, st.Size())
	if _, err := f.ReadAt(buf, 0); err != nil {
		return false, fmt.Errorf("read index: %w", err)
	}
	idx := make([]indexEntry, 0, len(buf)/indexEntrySize)
	for i := 0; i < len(buf)/indexEntrySize; i++ {
		e := indexEntry{
			rel: binary.BigEndian.Uint32(buf[i*indexEntrySize:]),
			pos: binary.BigEndian.Uint32(buf[i*indexEntrySize+4:]),
		}
		if int64(e.pos) >= trusted {
			dropped = true // written after the recovery point: rebuilt by the scan
			break
		}
		if i > 0 && (e.rel <= idx[i-1].rel || e.pos <= idx[i-1].pos) {
			return false, fmt.Errorf("index entry %d out of order", i)
		}
		idx = append(idx, e)
	}
	if len(idx) == 0 {
		return dropped, nil
	}
	last := idx[len(idx)-1]
	hdr, _, err := s.readHeader(int64(last.pos), fileSize)
	if err != nil {
		return false, fmt.Errorf("last index entry: %w", err)
	}
	if hdr.BaseOffset() != s.base+int64(last.rel) {
		return false, fmt.Errorf("last index entry says offset %d, batch there has %d", s.base+int64(last.rel), hdr.BaseOffset())
	}
	s.index = idx
	return dropped, nil
}
