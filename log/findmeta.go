package log

import "sort"

// FindMeta returns the base offset of the batch whose meta value is meta.
// It requires what replication guarantees: meta values increase along the
// log (replication stores each batch's Raft index there). ok is false when
// no batch in the log carries meta: it was never appended, or retention or
// Truncate removed it.
//
// It binary-searches the segments by the meta of their first batch, then
// the segment's sparse index, and scans at most IndexInterval bytes of
// batch headers: O(log n) header reads. It does not verify checksums. It is
// safe to call concurrently with everything and blocks only for the reads.
// It returns ErrClosed, a *CorruptError for a header that does not parse,
// or a wrapped I/O error.
func (l *Log) FindMeta(meta uint64) (base int64, ok bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, false, ErrClosed
	}
	// The last segment whose first batch's meta is <= meta. An empty
	// segment (only the active one can be) sorts last.
	i := sort.Search(len(l.segs), func(i int) bool {
		if err != nil {
			return true
		}
		s := l.segs[i]
		size := s.size.Load()
		if size == 0 {
			return true
		}
		var hdr Batch
		hdr, _, err = s.readHeader(0, size)
		return err != nil || hdr.Meta() > meta
	}) - 1
	if err != nil {
		return 0, false, err
	}
	if i < 0 {
		return 0, false, nil // before the first batch still in the log
	}
	return l.segs[i].findMeta(meta)
}

// findMeta looks for meta in the segment, whose first batch's meta is at
// most meta. The caller holds Log.mu shared.
func (s *segment) findMeta(meta uint64) (int64, bool, error) {
	size := s.size.Load()
	var err error
	// The last index entry whose batch's meta is <= meta; the index is held
	// shared while searching so that entries are not cut under it.
	s.mu.RLock()
	j := sort.Search(len(s.index), func(j int) bool {
		if err != nil {
			return true
		}
		at := int64(s.index[j].pos)
		if at >= size {
			return true // indexed, but not yet published to readers
		}
		var hdr Batch
		hdr, _, err = s.readHeader(at, size)
		return err != nil || hdr.Meta() > meta
	})
	var pos int64
	if j > 0 {
		pos = int64(s.index[j-1].pos)
	}
	s.mu.RUnlock()
	if err != nil {
		return 0, false, err
	}
	for pos < size {
		hdr, n, err := s.readHeader(pos, size)
		if err != nil {
			return 0, false, err
		}
		switch m := hdr.Meta(); {
		case m == meta:
			return hdr.BaseOffset(), true, nil
		case m > meta:
			return 0, false, nil
		}
		pos += n
	}
	return 0, false, nil
}
