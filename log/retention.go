package log

import (
	"errors"
	"fmt"
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

// roll seals the active segment and starts a new one. The sealed segment's
// pending index entries are written now; its fsync is the flusher's. The
// new segment's creation is made durable by the next directory fsync (the
// flusher's recovery point update, Sync, or the first SyncEveryBytes fsync
// in the segment; see segment.dirPending), not here: a directory fsync here
// waits for the journal, and with it for the flusher's writeback of the
// previous segment, tens of milliseconds. Under SyncEveryAppend both fsyncs
// happen here instead, before anything is appended to the new segment, as
// every append is durable when it returns.
// If the roll fails after creating the new segment's files, it removes
// them again, so a failed roll leaves the directory as it was. Called with
// wmu held.
func (l *Log) roll() error {
	s := l.active()
	if l.cfg.Sync == SyncEveryAppend {
		if err := l.syncActive(); err != nil {
			return err
		}
	} else if err := s.flushIndex(); err != nil {
		return err
	}
	if err := s.writeSummary(l.cfg.FS); err != nil {
		// Only a hint: Open reads the batch headers instead.
		l.cfg.Logger.Warn("writing the sealed segment's summary failed", "segment", s.path, "error", err)
	}
	seg, err := createSegment(l.cfg.FS, l.dir, s.next.Load())
	if err != nil {
		return err
	}
	if l.cfg.Sync == SyncEveryAppend {
		if err := l.cfg.FS.SyncDir(l.dir); err != nil {
			seg.discard(l.cfg.FS)
			return fmt.Errorf("log: sync dir: %w", err)
		}
	} else {
		seg.dirPending = true
	}
	l.mu.Lock()
	l.segs = append(l.segs, seg)
	l.mu.Unlock()
	l.unsynced = 0 // the sealed segment's bytes are the flusher's now
	l.enqueueFlush(s)
	return nil
}

// EnforceRetention deletes the oldest sealed segments while the log without
// the oldest would still hold at least RetentionBytes, and sealed segments
// whose newest record is older than RetentionAge (by Config.Now). It
// decides on the log as it was when its last batch with meta <= upTo had
// been appended: the segments that existed then (a segment exists from its
// first batch on; the first one always does), the last of them taken as
// the active segment, and only those batches' bytes. Later batches and
// segments are neither counted nor deleted. Replication passes the Raft
// index of its housekeeping entry, so that a replica replaying the entry
// after a crash, with later entries already in its log, deletes what its
// peers deleted when they applied it (batch metas must not decrease from
// batch to batch for this to hold). math.MaxUint64 means the whole log:
// the active segment is never deleted.
//
// StartOffset moves to the first remaining segment. It returns how many
// segments went. Append calls it (on the whole log) after each roll; call
// it periodically for age-based retention on an idle log.
//
// Segments go oldest first, each once the flusher is done with it (which it
// normally is), and each taken out of the log only after its .log file is
// deleted: a failure leaves the log and the directory agreeing, and the next
// call tries again. It returns ErrClosed, ErrFlushFailed (wrapped), a
// *CorruptError if a batch header it reads to find upTo's place is bad, or
// a wrapped I/O error, and blocks for the deletions. It waits for a write
// in progress.
func (l *Log) EnforceRetention(upTo uint64) (int, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return 0, ErrClosed
	}
	return l.enforceRetention(upTo)
}

func (l *Log) enforceRetention(upTo uint64) (int, error) {
	if l.cfg.RetentionBytes == 0 && l.cfg.RetentionAge == 0 {
		return 0, nil
	}
	if err := l.failure(); err != nil {
		return 0, err
	}
	now := l.cfg.Now()
	// The writer (holding wmu) is the only one that changes segs.
	n, tail, err := l.segmentsAt(upTo)
	if err != nil {
		return 0, err
	}
	total := tail
	for _, s := range l.segs[:n-1] {
		total += s.size.Load()
	}
	var drop int
	for _, s := range l.segs[:n-1] {
		size := s.size.Load()
		bySize := l.cfg.RetentionBytes > 0 && total-size >= l.cfg.RetentionBytes
		byAge := l.cfg.RetentionAge > 0 && now.Sub(time.UnixMilli(s.maxTs)) > l.cfg.RetentionAge
		if !bySize && !byAge {
			break
		}
		total -= size
		drop++
	}
	if drop > 0 {
		if err := l.noteRemoval(drop); err != nil {
			return 0, err
		}
	}
	k := 0
	for ; k < drop; k++ {
		if err = l.removeOldest(); err != nil {
			break
		}
	}
	if k > 0 {
		if serr := l.cfg.FS.SyncDir(l.dir); serr != nil {
			err = errors.Join(err, fmt.Errorf("log: sync dir: %w", serr))
		}
	}
	return k, err
}

// segmentsAt says how many of the log's segments, oldest first, existed
// when its last batch with meta <= upTo had been appended, and how many
// bytes of the last of them (the active one then) those batches took. A
// segment exists from its first batch on: rolls happen only in Append,
// right before the batch that starts the new segment, so this is the same
// on every replica that appended the same batches, whatever it appended
// since. The first segment always exists; an empty segment (only ever the
// last) exists once every batch of the log is within upTo. Called with wmu
// held.
func (l *Log) segmentsAt(upTo uint64) (int, int64, error) {
	var logLast uint64
	for i := len(l.segs) - 1; i >= 0; i-- {
		if l.segs[i].hasData {
			logLast = l.segs[i].lastMeta
			break
		}
	}
	n := 1
	for _, s := range l.segs[1:] {
		if s.hasData && s.firstMeta > upTo || !s.hasData && logLast > upTo {
			break
		}
		n++
	}
	size, err := l.segs[n-1].bytesUpTo(upTo)
	return n, size, err
}

// bytesUpTo is how many bytes at the start of the segment the batches with
// meta <= upTo take, for metas that do not decrease. It reads a few batch
// headers, found by a binary search over the index, only when upTo falls
// inside the segment. Called by the writer.
func (s *segment) bytesUpTo(upTo uint64) (int64, error) {
	size := s.size.Load()
	switch {
	case !s.hasData || s.lastMeta <= upTo:
		return size, nil
	case s.firstMeta > upTo:
		return 0, nil
	}
	s.mu.RLock()
	idx := s.index // the writer, who alone appends to it, is us
	s.mu.RUnlock()
	var herr error
	i := sort.Search(len(idx), func(i int) bool {
		if herr != nil {
			return true
		}
		hdr, _, err := s.readHeader(int64(idx[i].pos), size)
		if err != nil {
			herr = err
			return true
		}
		return hdr.Meta() > upTo
	})
	if herr != nil {
		return 0, herr
	}
	pos := int64(0)
	if i > 0 {
		pos = int64(idx[i-1].pos)
	}
	for pos < size {
		hdr, n, err := s.readHeader(pos, size)
		if err != nil {
			return 0, err
		}
		if hdr.Meta() > upTo {
			return pos, nil
		}
		pos += n
	}
	return size, nil
}

// removeOldest deletes the oldest segment, which is sealed. The .log goes
// first: an .index whose .log is gone is cleaned up by Open. Readers may
// still be reading the segment through its open files; it is closed once
// they have left.
func (l *Log) removeOldest() error {
	s := l.segs[0]
	<-s.flushed
	if err := l.failure(); err != nil {
		return err
	}
	if err := l.cfg.FS.Remove(s.path); err != nil {
		return fmt.Errorf("log: delete segment: %w", err)
	}
	l.mu.Lock()
	l.segs = append([]*segment(nil), l.segs[1:]...)
	l.mu.Unlock()
	err := s.close()
	if rerr := l.cfg.FS.Remove(s.indexPath()); rerr != nil {
		err = errors.Join(err, rerr)
	}
	err = errors.Join(err, removeSummary(l.cfg.FS, s.summaryPath()))
	if err != nil {
		return fmt.Errorf("log: delete segment: %w", err)
	}
	return nil
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
// the file. It waits for the flusher first, so the sealed segments are
// durable when it returns (normally at once: the flusher is done with them
// long before); it does not fsync the active segment, to stay cheap: fsync
// its link (it shares the segment's inode) before relying on its bytes
// being durable. Replication builds snapshots from it. It returns
// ErrClosed, ErrFlushFailed (wrapped) or a wrapped I/O error.
func (l *Log) LinkSegments(dir string) ([]SegmentRef, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.isClosed() {
		return nil, ErrClosed
	}
	if err := l.drain(); err != nil {
		return nil, err
	}
	refs := make([]SegmentRef, 0, len(l.segs))
	for _, s := range l.segs {
		ref := SegmentRef{Base: s.base, Name: filepath.Base(s.path), Size: s.size.Load()}
		if err := l.cfg.FS.Link(s.path, filepath.Join(dir, ref.Name)); err != nil {
			return nil, fmt.Errorf("log: link segment: %w", err)
		}
		refs = append(refs, ref)
	}
	return refs, nil
}
