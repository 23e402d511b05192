package log

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"time"
)

// maybeRoll starts a new segment if the active one cannot take a batch of
// size bytes and count records, or is older than SegmentAge. An empty active
// segment is never rolled: a batch larger than SegmentBytes gets a segment of
// its own. Called with wmu held.
func (l *Log) maybeRoll(size, count int64) (bool, error) {
	s := l.active()
	cur := s.size.Load()
	if cur == 0 {
		return false, nil
	}
	full := cur+size > l.cfg.SegmentBytes ||
		s.next.Load()-s.base+count > math.MaxUint32 // relative offsets are uint32
	old := l.cfg.SegmentAge > 0 && s.hasData &&
		l.cfg.Now().Sub(time.UnixMilli(s.firstTs)) >= l.cfg.SegmentAge
	if !full && !old {
		return false, nil
	}
	return true, l.roll()
}

// roll seals the active segment (fsyncing it and its index, so that recovery
// only ever has to check the active segment's tail) and starts a new one.
// Called with wmu held.
func (l *Log) roll() error {
	s := l.active()
	if err := l.syncActive(); err != nil {
		return err
	}
	seg, err := createSegment(l.cfg.FS, l.dir, s.next.Load())
	if err != nil {
		return err
	}
	if err := l.cfg.FS.SyncDir(l.dir); err != nil {
		seg.close()
		return fmt.Errorf("log: sync dir: %w", err)
	}
	l.mu.Lock()
	l.segs = append(l.segs, seg)
	l.mu.Unlock()
	return nil
}

// EnforceRetention deletes the oldest sealed segments while the log without
// the oldest would still hold at least RetentionBytes, and sealed segments
// whose newest record is older than RetentionAge (by Config.Now). The active
// segment is never deleted. StartOffset moves to the first remaining
// segment. It returns how many segments went. Append calls it after each
// roll; call it periodically for age-based retention on an idle log.
func (l *Log) EnforceRetention() (int, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return 0, ErrClosed
	}
	return l.enforceRetention()
}

func (l *Log) enforceRetention() (int, error) {
	if l.cfg.RetentionBytes == 0 && l.cfg.RetentionAge == 0 {
		return 0, nil
	}
	now := l.cfg.Now()
	l.mu.RLock()
	var total int64
	for _, s := range l.segs {
		total += s.size.Load()
	}
	var drop int
	for _, s := range l.segs[:len(l.segs)-1] {
		size := s.size.Load()
		bySize := l.cfg.RetentionBytes > 0 && total-size >= l.cfg.RetentionBytes
		byAge := l.cfg.RetentionAge > 0 && now.Sub(time.UnixMilli(s.maxTs)) > l.cfg.RetentionAge
		if !bySize && !byAge {
			break
		}
		total -= size
		drop++
	}
	l.mu.RUnlock()
	if drop == 0 {
		return 0, nil
	}
	l.mu.Lock()
	gone := l.segs[:drop]
	l.segs = append([]*segment(nil), l.segs[drop:]...)
	l.mu.Unlock()
	return drop, l.removeSegments(gone)
}

// removeSegments closes and deletes segments already taken out of l.segs.
// No reader can reach them any more. The .log goes first: an .index whose
// .log is gone is cleaned up by Open.
func (l *Log) removeSegments(segs []*segment) error {
	var err error
	for _, s := range segs {
		err = errors.Join(err, s.close(),
			l.cfg.FS.Remove(s.path), l.cfg.FS.Remove(s.indexPath()))
	}
	if err != nil {
		return fmt.Errorf("log: delete segments: %w", err)
	}
	if err := l.cfg.FS.SyncDir(l.dir); err != nil {
		return fmt.Errorf("log: sync dir: %w", err)
	}
	return nil
}

// Truncate drops every record at and after offset, so that NextOffset
// becomes offset. Batches are never split: if offset falls inside a batch,
// that whole batch goes and NextOffset becomes the batch's base offset.
// Truncating at or past NextOffset does nothing. It returns an
// *OffsetRangeError for an offset below StartOffset, ErrClosed, or a wrapped
// I/O error. Concurrent readers wait while the files are cut.
func (l *Log) Truncate(offset int64) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return ErrClosed
	}
	l.mu.RLock()
	start, end := l.segs[0].base, l.segs[len(l.segs)-1].next.Load()
	l.mu.RUnlock()
	if offset >= end {
		return nil
	}
	if offset < start {
		return &OffsetRangeError{Offset: offset, Start: start, End: end}
	}
	l.mu.Lock()
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	s := l.segs[i]
	pos, hdr, _, err := s.findPos(offset, s.size.Load())
	if err != nil {
		l.mu.Unlock()
		return err
	}
	gone := append([]*segment(nil), l.segs[i+1:]...)
	l.segs = l.segs[:i+1]
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
	if err := l.syncActive(); err != nil {
		return err
	}
	return l.removeSegments(gone)
}

// rescanSummary recomputes a segment's writer-owned summary (last meta,
// timestamps) after its tail was cut.
func (l *Log) rescanSummary(s *segment) error {
	s.hasData, s.lastMeta, s.firstTs, s.maxTs = false, 0, 0, 0
	sc := s.scan(0, s.base, s.size.Load())
	for {
		b, err := sc.batch()
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		s.noteBatch(b)
	}
}

// SegmentRef names one segment file and how many of its bytes belong to the
// log at the moment it was listed.
type SegmentRef struct {
	Base int64  // base offset
	Name string // file name within the directory, e.g. 00000000000000000000.log
	Size int64  // bytes of whole batches
}

// LinkSegments hard-links every segment's .log file into dir (which must
// exist, on the same filesystem) and returns what it linked, oldest first.
// Sealed segments never change, and the active one only grows or, on a
// Truncate, shrinks below what a caller has synced; so the first Size bytes
// of each link stay valid after retention deletes the log's own name for
// the file. It does not fsync, to stay cheap: fsync the links (they share
// the segments' inodes) before relying on the bytes being durable.
// Replication builds snapshots from it.
func (l *Log) LinkSegments(dir string) ([]SegmentRef, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return nil, ErrClosed
	}
	l.mu.RLock()
	segs := append([]*segment(nil), l.segs...)
	l.mu.RUnlock()
	refs := make([]SegmentRef, 0, len(segs))
	for _, s := range segs {
		ref := SegmentRef{Base: s.base, Name: filepath.Base(s.path), Size: s.size.Load()}
		if err := l.cfg.FS.Link(s.path, filepath.Join(dir, ref.Name)); err != nil {
			return nil, fmt.Errorf("log: link segment: %w", err)
		}
		refs = append(refs, ref)
	}
	return refs, nil
}
