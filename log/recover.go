package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// openSegment opens an existing segment and recovers it:
//
//   - The index is loaded and checked: whole entries, strictly increasing,
//     inside the file, and the last entry pointing at a batch with the right
//     base offset. An index that fails, or is missing, is rebuilt by scanning
//     the whole .log.
//   - Every batch after the last index entry is verified (CRC, offsets that
//     follow on). In the active segment a bad batch and everything after it
//     is a torn or corrupt tail: it is cut and the cut is logged. In a sealed
//     segment it is a *CorruptError: data is never dropped silently there.
func openSegment(fsys FS, dir string, base int64, active bool, interval int64, logger *slog.Logger) (*segment, error) {
	s := &segment{base: base, path: filepath.Join(dir, segmentName(base, ".log"))}
	var err error
	if s.f, err = fsys.OpenFile(s.path, os.O_RDWR, 0); err != nil {
		return nil, fmt.Errorf("log: open segment: %w", err)
	}
	if err := s.recover(fsys, active, interval, logger); err != nil {
		s.f.Close()
		if s.idx != nil {
			s.idx.Close()
		}
		return nil, err
	}
	return s, nil
}

func (s *segment) recover(fsys FS, active bool, interval int64, logger *slog.Logger) error {
	st, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("log: stat segment: %w", err)
	}
	fileSize := st.Size()

	idxErr := s.loadIndex(fsys, fileSize)
	rewrite := idxErr != nil
	if idxErr != nil {
		logger.Warn("rebuilding segment index", "segment", s.path, "reason", idxErr)
		s.index = nil
		if s.idx == nil {
			if s.idx, err = fsys.OpenFile(s.indexPath(), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
				return fmt.Errorf("log: create index: %w", err)
			}
		}
	}

	// Scan from the last index entry (or the start) to the end of the file.
	pos, next := int64(0), s.base
	if n := len(s.index); n > 0 {
		pos, next = int64(s.index[n-1].pos), s.base+int64(s.index[n-1].rel)
		s.lastIndexPos = pos
	}
	sc := s.scan(pos, next, fileSize)
	var scanErr error
	for {
		b, err := sc.batch()
		if err != nil {
			if err != io.EOF {
				scanErr = err
			}
			break
		}
		// Index what the index does not cover yet, as Append would have.
		if start := sc.pos - int64(len(b)); start-s.lastIndexPos >= interval {
			s.index = append(s.index, indexEntry{rel: uint32(b.BaseOffset() - s.base), pos: uint32(start)})
			s.lastIndexPos = start
			rewrite = true
		}
		s.noteBatch(b)
	}
	if scanErr != nil {
		var ce *CorruptError
		if !errors.As(scanErr, &ce) || !active {
			return scanErr
		}
		logger.Warn("truncating corrupt or torn segment tail",
			"segment", s.path, "pos", sc.pos, "bytes_cut", fileSize-sc.pos,
			"next_offset", sc.next, "reason", ce.Reason)
		if err := s.f.Truncate(sc.pos); err != nil {
			return fmt.Errorf("log: truncate torn tail: %w", err)
		}
		if err := s.dropIndexFrom(sc.pos); err != nil {
			return err
		}
	}
	if rewrite {
		if err := s.writeIndexFile(); err != nil {
			return err
		}
	}
	s.size.Store(sc.pos)
	s.next.Store(sc.next)
	if s.hasData && s.firstTs == 0 {
		hdr, _, err := s.readHeader(0, sc.pos)
		if err != nil {
			return err
		}
		s.firstTs = hdr.FirstTimestamp()
	}
	return nil
}

// noteBatch updates the writer-owned summary fields for a batch appended or
// found at the end of the segment.
func (s *segment) noteBatch(b Batch) {
	if !s.hasData {
		s.hasData = true
		if b.BaseOffset() == s.base {
			s.firstTs = b.FirstTimestamp()
		}
	}
	s.lastMeta = b.Meta()
	if ts := b.MaxTimestamp(); ts > s.maxTs {
		s.maxTs = ts
	}
}

// loadIndex reads and checks the index file. It leaves s.idx open (when the
// file exists) and returns why the index cannot be trusted, if it cannot.
func (s *segment) loadIndex(fsys FS, fileSize int64) error {
	f, err := fsys.OpenFile(s.indexPath(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open index: %w", err)
	}
	s.idx = f
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat index: %w", err)
	}
	if st.Size()%indexEntrySize != 0 {
		return fmt.Errorf("index size %d is not a whole number of entries", st.Size())
	}
	if st.Size() == 0 {
		return nil // missing or empty: the scan from 0 rebuilds it
	}
	if st.Size()/indexEntrySize > fileSize/batchHeaderSize+1 {
		return fmt.Errorf("index has more entries than the log has batches")
	}
	buf := make([]byte, st.Size())
	if _, err := f.ReadAt(buf, 0); err != nil {
		return fmt.Errorf("read index: %w", err)
	}
	idx := make([]indexEntry, len(buf)/indexEntrySize)
	for i := range idx {
		e := indexEntry{
			rel: binary.BigEndian.Uint32(buf[i*indexEntrySize:]),
			pos: binary.BigEndian.Uint32(buf[i*indexEntrySize+4:]),
		}
		if i > 0 && (e.rel <= idx[i-1].rel || e.pos <= idx[i-1].pos) {
			return fmt.Errorf("index entry %d out of order", i)
		}
		if int64(e.pos) >= fileSize {
			return fmt.Errorf("index entry %d points past the log (%d >= %d)", i, e.pos, fileSize)
		}
		idx[i] = e
	}
	last := idx[len(idx)-1]
	hdr, _, err := s.readHeader(int64(last.pos), fileSize)
	if err != nil {
		return fmt.Errorf("last index entry: %w", err)
	}
	if hdr.BaseOffset() != s.base+int64(last.rel) {
		return fmt.Errorf("last index entry says offset %d, batch there has %d", s.base+int64(last.rel), hdr.BaseOffset())
	}
	s.index = idx
	return nil
}
