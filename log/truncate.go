package log

import (
	"fmt"
	"io"
	"sort"
)

// Truncate drops every record at and after offset, so that NextOffset
// becomes offset. Batches are never split: if offset falls inside a batch,
// that whole batch goes and NextOffset becomes the batch's base offset.
// Truncating at or past NextOffset does nothing. It returns an
// *OffsetRangeError for an offset below StartOffset, ErrClosed,
// ErrFlushFailed (wrapped), or a wrapped I/O error. Concurrent readers wait
// while the files are cut.
//
// The steps are ordered so that a crash (or a failure) at any point leaves a
// directory that opens as the log before the Truncate, as a prefix of it, or
// as the log after it, never one that fails to open or that brings cut
// records back later:
//
//  1. wait for the flusher (every sealed segment durable, none in its hands);
//  2. move the recovery point back to the cut if it is past it, so the next
//     Open verifies everything after the cut rather than trusting it;
//  3. delete the later segments, newest first, and fsync the directory (a
//     failure stops here, with the log still holding what is on disk);
//  4. cut the segment's file and fsync it.
func (l *Log) Truncate(offset int64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	start, end := l.segs[0].base, l.segs[len(l.segs)-1].next.Load()
	if offset >= end {
		return nil
	}
	if offset < start {
		return &OffsetRangeError{Offset: offset, Start: start, End: end}
	}
	if err := l.drain(); err != nil {
		return err
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	s := l.segs[i]
	pos, hdr, _, err := s.findPos(offset, s.size.Load())
	if err != nil {
		return err
	}
	if err := s.flushIndex(); err != nil { // entries before pos reach the file as Sync would
		return err
	}
	if err := l.lowerRecoveryPoint(recoveryPoint{base: s.base, pos: pos}); err != nil {
		return err
	}

	removed := len(l.segs) - 1 - i
	for j := len(l.segs) - 1; j > i; j-- {
		g := l.segs[j]
		if err := l.cfg.FS.Remove(g.path); err != nil {
			return fmt.Errorf("log: truncate: delete segment: %w", err)
		}
		l.mu.Lock()
		l.segs = l.segs[:j]
		l.mu.Unlock()
		g.close()
		// An .index or .summary left behind is removed by Open, or
		// overwritten by the segment that takes its name.
		l.cfg.FS.Remove(g.indexPath())
		l.cfg.FS.Remove(g.summaryPath())
	}
	if removed > 0 {
		if err := l.cfg.FS.SyncDir(l.dir); err != nil {
			return fmt.Errorf("log: truncate: sync dir: %w", err)
		}
	}

	// The summary covers bytes about to go: remove it first, so that a
	// crash leaves none rather than a wrong one (Open checks it anyway).
	if err := removeSummary(l.cfg.FS, s.summaryPath()); err != nil {
		return fmt.Errorf("log: truncate: %w", err)
	}
	s.summaryCovered = 0
	l.mu.Lock()
	if err := s.f.Truncate(pos); err != nil {
		l.mu.Unlock()
		return fmt.Errorf("log: truncate: %w", err)
	}
	s.size.Store(pos)
	s.next.Store(hdr.BaseOffset())
	l.mu.Unlock()

	if err := s.dropIndexFrom(pos); err != nil {
		return err
	}
	if err := l.rescanSummary(s); err != nil {
		return err
	}
	return l.syncActive()
}

// rescanSummary recomputes a segment's writer-owned summary (last meta,
// timestamps) after its tail was cut.
func (l *Log) rescanSummary(s *segment) error {
	s.hasData, s.lastMeta, s.firstMeta, s.firstTs, s.maxTs, s.lastPos, s.lastCRC = false, 0, 0, 0, 0, 0, 0
	sc := s.scan(0, s.base, s.size.Load())
	for {
		pos := sc.pos
		b, err := sc.batch()
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		s.noteBatch(b, pos)
	}
}
