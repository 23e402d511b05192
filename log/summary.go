package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
)

// A segment's summary file records the largest batch max timestamp over
// the first covered bytes of its .log, so that Open knows a segment's true
// newest timestamp without reading every batch header of the log (see
// format.go for the bytes). Retention by age must see the same timestamp on
// every replica, whatever each one's crash and reopen history, and recovery
// reads only what lies after each segment's last index entry.
//
// The file is a hint, like the index: it is written when a segment is
// sealed (by a roll, or found sealed without one by Open) and for the
// active segment by Close, never fsynced. Open trusts it only if its CRC
// holds, it covers no more than the segment's recovered size, and the
// batch it names as the last one it covers is there, ending at covered,
// with the hcrc it recorded. Otherwise Open walks the batch headers the
// recovery did not scan; that costs one 73-byte read per batch of the
// segment, once: the segment's summary is then rewritten (or, for the
// active segment, written by Close).

const (
	summaryExt   = ".summary"
	summarySize  = 40
	summaryMagic = 0x4d425331 // "MBS1"

	sumOffMagic   = 0
	sumOffCRC     = 4
	sumOffCovered = 8
	sumOffMaxTs   = 16
	sumOffLastPos = 24
	sumOffLastCRC = 32
)

// summary is the content of a summary file.
type summary struct {
	covered int64  // bytes of the .log covered: [0, covered), a batch boundary
	maxTs   int64  // largest batch max timestamp in [0, covered)
	lastPos int64  // position of the last batch in [0, covered)
	lastCRC uint32 // that batch's hcrc field
}

func (s *segment) summaryPath() string {
	return s.path[:len(s.path)-len(".log")] + summaryExt
}

// writeSummary writes the summary of the segment's batches so far (no
// fsync). It writes nothing for an empty segment. Called by the writer.
func (s *segment) writeSummary(fsys FS) error {
	if !s.hasData {
		return nil
	}
	size := s.size.Load()
	var buf [summarySize]byte
	be := binary.BigEndian
	be.PutUint32(buf[sumOffMagic:], summaryMagic)
	be.PutUint64(buf[sumOffCovered:], uint64(size))
	be.PutUint64(buf[sumOffMaxTs:], uint64(s.maxTs))
	be.PutUint64(buf[sumOffLastPos:], uint64(s.lastPos))
	be.PutUint32(buf[sumOffLastCRC:], s.lastCRC)
	be.PutUint32(buf[sumOffCRC:], crc32.Checksum(buf[sumOffCovered:], castagnoli))
	f, err := fsys.OpenFile(s.summaryPath(), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("log: write segment summary: %w", err)
	}
	_, err = f.WriteAt(buf[:], 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("log: write segment summary: %w", err)
	}
	s.summaryCovered = size
	return nil
}

// errBadSummary says a summary file exists but cannot be trusted.
var errBadSummary = errors.New("bad segment summary")

// readSummary reads and checks the summary file against the segment's
// first size bytes. It returns an error wrapping fs.ErrNotExist when there
// is none and errBadSummary when it does not hold up.
func (s *segment) readSummary(fsys FS, size int64) (summary, error) {
	f, err := fsys.OpenFile(s.summaryPath(), os.O_RDONLY, 0)
	if err != nil {
		return summary{}, err
	}
	defer f.Close()
	var buf [summarySize + 1]byte
	n, err := f.ReadAt(buf[:], 0)
	if n != summarySize {
		return summary{}, fmt.Errorf("%w: %d bytes (%v)", errBadSummary, n, err)
	}
	be := binary.BigEndian
	if be.Uint32(buf[sumOffMagic:]) != summaryMagic ||
		be.Uint32(buf[sumOffCRC:]) != crc32.Checksum(buf[sumOffCovered:summarySize], castagnoli) {
		return summary{}, fmt.Errorf("%w: bad magic or crc", errBadSummary)
	}
	sum := summary{
		covered: int64(be.Uint64(buf[sumOffCovered:])),
		maxTs:   int64(be.Uint64(buf[sumOffMaxTs:])),
		lastPos: int64(be.Uint64(buf[sumOffLastPos:])),
		lastCRC: be.Uint32(buf[sumOffLastCRC:]),
	}
	if sum.covered <= 0 || sum.covered > size || sum.lastPos < 0 || sum.lastPos >= sum.covered {
		return summary{}, fmt.Errorf("%w: covers %d bytes (last batch at %d) of %d", errBadSummary, sum.covered, sum.lastPos, size)
	}
	hdr, bn, err := s.readHeader(sum.lastPos, sum.covered)
	if err != nil || sum.lastPos+bn != sum.covered || hdr.hcrc() != sum.lastCRC {
		return summary{}, fmt.Errorf("%w: its last batch (at %d) is not in the log", errBadSummary, sum.lastPos)
	}
	return sum, nil
}

// completeMaxTs makes maxTs the largest over every batch of the segment when
// recovery scanned only the batches from pos from on: it takes the summary
// file's value for the bytes it covers and walks the headers of any batches
// before from that it does not cover. Called by recovery once size is set.
func (s *segment) completeMaxTs(fsys FS, from int64, logger *slog.Logger) error {
	covered := int64(0)
	sum, err := s.readSummary(fsys, s.size.Load())
	switch {
	case err == nil:
		s.maxTs = max(s.maxTs, sum.maxTs)
		covered = sum.covered
		s.summaryCovered = covered
	case errors.Is(err, fs.ErrNotExist):
		logger.Info("segment summary missing; reading batch headers", "segment", s.path)
	default: // Open rewrites it (sealed) or removes it (active) once recovered
		logger.Info("segment summary not trusted; reading batch headers", "segment", s.path, "reason", err)
	}
	if covered >= from {
		return nil
	}
	for pos := covered; pos < from; {
		hdr, n, err := s.readHeader(pos, from)
		if err != nil {
			return err
		}
		s.maxTs = max(s.maxTs, hdr.MaxTimestamp())
		pos += n
	}
	return nil
}

// removeSummary deletes the segment's summary file, if any.
func removeSummary(fsys FS, path string) error {
	if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("log: delete segment summary: %w", err)
	}
	return nil
}
