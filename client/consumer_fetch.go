package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// maxBufferedFetches is how many fetch responses per partition may wait
// for Poll. With one more in flight, a partition holds at most
// 3 × FetchMaxBytes of records between the broker and Poll.
const maxBufferedFetches = 2

// Backoff of a partition whose topic or partition the cluster does not
// know (deleted, or not created yet): the fetcher stays idle and asks
// again slowly.
const (
	unknownTopicBackoff    = 500 * time.Millisecond
	unknownTopicBackoffMax = 5 * time.Second
)

// Backoff of a partition whose fetches come back empty at once (no long
// poll): fast enough to keep latency low, slow enough not to spin.
const (
	emptyFetchBackoff    = 5 * time.Millisecond
	emptyFetchBackoffMax = 100 * time.Millisecond
)

// partState is one assigned partition: its position, its known committed
// offset and its prefetch buffer. Every field but tp and space is guarded
// by Consumer.mu. The partition's fetch goroutine fills bufs and moves
// fetchPos; Poll drains bufs and moves pos; Seek moves both.
//
// Invariant: bufs hold the records from pos on (pos is the first buffered
// record's offset, or fetchPos when bufs is empty, unless a reset skipped
// records), in offset order, and fetchPos is past the last of them.
type partState struct {
	tp    TopicPartition
	space chan struct{} // capacity 1: poked when bufs shrinks or is dropped, to wake the fetcher

	pos       int64        // offset of the next record Poll returns; valid if posKnown
	posKnown  bool         // false while fetchPos is an unresolved StartEarliest/StartLatest
	fetchPos  int64        // next offset to fetch, or StartEarliest/StartLatest: ask ListOffsets first
	epoch     uint64       // bumped by seeks and resets: a fetch begun before drops its result
	bufs      []fetchBatch // fetched records not yet returned by Poll, at most maxBufferedFetches
	committed int64        // highest offset known committed for the group, or wire.NoOffset
}

// fetchBatch is the records of one fetch response not yet returned.
type fetchBatch struct {
	recs []Record
}

func newPartState(tp TopicPartition) *partState {
	return &partState{tp: tp, space: make(chan struct{}, 1), committed: wire.NoOffset,
		bufs: make([]fetchBatch, 0, maxBufferedFetches)}
}

// startFetchers starts one fetch goroutine per assigned partition. Called
// by the pollMu holder, with no fetchers running.
func (c *Consumer) startFetchers() {
	c.mu.Lock()
	parts := c.parts
	c.mu.Unlock()
	ctx, cancel := context.WithCancel(c.ctx)
	c.fetchCancel = cancel
	for _, ps := range parts {
		c.fetchWG.Add(1)
		if !c.cl.goTracked(func() {
			defer c.fetchWG.Done()
			c.fetchLoop(ctx, ps)
		}) {
			c.fetchWG.Done()
		}
	}
}

// stopFetchers stops the fetch goroutines and waits for them (a fetch in
// flight is abandoned). Called by the pollMu holder.
func (c *Consumer) stopFetchers() {
	if c.fetchCancel == nil {
		return
	}
	c.fetchCancel()
	c.fetchWG.Wait()
	c.fetchCancel = nil
}

// fetchLoop keeps one fetch of ps in flight while its buffer has room,
// until ctx ends. Failures are retried with backoff: NotLeader and lost
// connections by following the leader (Client.do), an unknown topic or
// partition slowly; an offset out of range resets the position by
// AutoOffsetReset.
func (c *Consumer) fetchLoop(ctx context.Context, ps *partState) {
	failures := 0 // consecutive failed fetches
	idle := 0     // consecutive early empty answers
	for {
		c.mu.Lock()
		for len(ps.bufs) >= maxBufferedFetches {
			c.mu.Unlock()
			select {
			case <-ps.space:
			case <-ctx.Done():
				return
			}
			c.mu.Lock()
		}
		off, epoch := ps.fetchPos, ps.epoch
		c.mu.Unlock()

		var err error
		if off < 0 {
			err = c.resolveStart(ctx, ps, off, epoch)
		} else {
			start := time.Now()
			var empty bool
			empty, err = c.fetchOnce(ctx, ps, off, epoch)
			// An empty answer well before FetchMaxWait (no long poll:
			// FetchMaxWait 0, or a broker that answers early) must not
			// turn this loop into a busy one.
			if err == nil && empty && time.Since(start) < c.cfg.FetchMaxWait/2+time.Millisecond {
				idle++
				if sleepCtx(ctx, backoff(emptyFetchBackoff, emptyFetchBackoffMax, idle)) != nil {
					return
				}
				continue
			}
		}
		idle = 0
		if err == nil {
			failures = 0
			continue
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return
		}
		failures++
		base, most := requestBackoff, requestBackoffMax
		if errors.Is(err, ErrUnknownTopic) || errors.Is(err, ErrUnknownPartition) {
			base, most = unknownTopicBackoff, unknownTopicBackoffMax
		}
		d := backoff(base, most, failures)
		if failures == 1 {
			c.log.Warn("minibroker: consumer fetch failed; retrying", "partition", ps.tp.String(), "backoff", d, "err", err)
		} else {
			c.log.Debug("minibroker: consumer fetch failed again", "partition", ps.tp.String(), "failures", failures, "backoff", d, "err", err)
		}
		if sleepCtx(ctx, d) != nil {
			return
		}
	}
}

// fetchOnce fetches ps from off and buffers the records, unless a seek
// (epoch changed) made them stale. empty reports an answer without
// records.
func (c *Consumer) fetchOnce(ctx context.Context, ps *partState, off int64, epoch uint64) (empty bool, err error) {
	req := &wire.FetchRequest{
		Topic:     ps.tp.Topic,
		Partition: ps.tp.Partition,
		Offset:    off,
		MaxBytes:  c.cfg.FetchMaxBytes,
		MaxWaitMs: int32(c.cfg.FetchMaxWait / time.Millisecond),
	}
	resp := new(wire.FetchResponse)
	if err := c.cl.do(ctx, anyNode, wire.Fetch, req, resp, c.cfg.FetchMaxWait+c.cl.cfg.RequestTimeout); err != nil {
		if errors.Is(err, ErrOffsetOutOfRange) && ctx.Err() == nil {
			err = c.cl.checkOutOfRange(ctx, ps.tp.Topic, ps.tp.Partition, off, resp, err)
			var oor *OffsetOutOfRangeError
			if errors.As(err, &oor) {
				c.resetOutOfRange(ps, off, epoch, oor.StartOffset, oor.HighWatermark)
				return false, nil
			}
		}
		return false, fmt.Errorf("minibroker: fetch %v at %d: %w", ps.tp, off, err)
	}
	recs := convertRecords(ps.tp, resp.Records, off)

	c.mu.Lock()
	defer c.mu.Unlock()
	if ps.epoch != epoch {
		return false, nil
	}
	if len(recs) == 0 {
		return true, nil
	}
	ps.bufs = append(ps.bufs, fetchBatch{recs: recs})
	ps.fetchPos = recs[len(recs)-1].Offset + 1
	poke(c.wake)
	return false, nil
}

// resetOutOfRange moves ps, whose fetch at off was out of the leader's
// stored range [start, end], to start or end, by AutoOffsetReset. Records
// already buffered stay.
func (c *Consumer) resetOutOfRange(ps *partState, off int64, epoch uint64, start, end int64) {
	to := start
	if c.cfg.AutoOffsetReset == ResetLatest {
		to = end
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps.epoch != epoch {
		return
	}
	c.log.Warn("minibroker: consumer position out of range; resetting", "partition", ps.tp.String(),
		"offset", off, "start_offset", start, "high_watermark", end,
		"reset", c.cfg.AutoOffsetReset.String(), "to", to)
	ps.epoch++
	ps.fetchPos = to
	if len(ps.bufs) == 0 {
		ps.pos, ps.posKnown = to, true
	}
}

// resolveStart turns a start position of StartEarliest or StartLatest
// into an offset (ListOffsets), unless a seek made it stale.
func (c *Consumer) resolveStart(ctx context.Context, ps *partState, which int64, epoch uint64) error {
	off, err := c.cl.ListOffsets(ctx, ps.tp.Topic, ps.tp.Partition, startSpec(which))
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps.epoch == epoch {
		ps.fetchPos = off
		ps.pos, ps.posKnown = off, true
	}
	return nil
}

// convertRecords turns fetched records from offset from on into Records
// of tp without copying keys, values or header values; the headers of all
// records share one allocation.
func convertRecords(tp TopicPartition, in []wire.Record, from int64) []Record {
	if len(in) == 0 {
		return nil
	}
	nh := 0
	for i := range in {
		nh += len(in[i].Headers)
	}
	var hs []Header
	if nh > 0 {
		hs = make([]Header, 0, nh)
	}
	out := make([]Record, 0, len(in))
	for i := range in {
		w := &in[i]
		if w.Offset < from {
			continue // the broker filters; this guards the position
		}
		rec := Record{
			Topic:     tp.Topic,
			Partition: tp.Partition,
			Offset:    w.Offset,
			Timestamp: time.UnixMilli(w.Timestamp),
			Key:       w.Key,
			Value:     w.Value,
		}
		if len(w.Headers) > 0 {
			start := len(hs)
			for _, h := range w.Headers {
				hs = append(hs, Header{Key: h.Key, Value: h.Value})
			}
			rec.Headers = hs[start:len(hs):len(hs)]
		}
		out = append(out, rec)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Seek makes the next Poll return tp's records from offset on, dropping
// what was prefetched. tp must be assigned (Seek in OnAssigned to choose
// where a new assignment starts). It does not block. Errors: one wrapping
// ErrNotAssigned, one wrapping ErrOffsetOutOfRange for a negative offset,
// or ErrClosed. An offset past the partition's end is reset by
// AutoOffsetReset when fetched.
func (c *Consumer) Seek(tp TopicPartition, offset int64) error {
	if offset < 0 {
		return fmt.Errorf("minibroker: seek %v to %d: %w", tp, offset, ErrOffsetOutOfRange)
	}
	return c.seek("seek", []TopicPartition{tp}, offset)
}

// SeekToBeginning makes the next Poll return records of tps (all assigned
// partitions if none are given) from their first stored offsets, which
// the fetchers look up (ListOffsets); Position reports no position until
// then. It does not block. Errors: as for Seek.
func (c *Consumer) SeekToBeginning(tps ...TopicPartition) error {
	return c.seek("seek to beginning", tps, StartEarliest)
}

// SeekToEnd makes the next Poll return only records of tps (all assigned
// partitions if none are given) produced after their high-water marks,
// which the fetchers look up (ListOffsets). It does not block. Errors:
// as for Seek.
func (c *Consumer) SeekToEnd(tps ...TopicPartition) error {
	return c.seek("seek to end", tps, StartLatest)
}

// seek moves tps (all assigned partitions if none) to offset, or to the
// unresolved StartEarliest/StartLatest. Nothing moves if one of them is
// not assigned.
func (c *Consumer) seek(what string, tps []TopicPartition, offset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if len(tps) == 0 {
		tps = c.assignmentLocked()
	}
	for _, tp := range tps {
		if c.byTP[tp] == nil {
			return fmt.Errorf("minibroker: %s %v: %w (assignment %v)", what, tp, ErrNotAssigned, c.assignmentLocked())
		}
	}
	for _, tp := range tps {
		ps := c.byTP[tp]
		ps.epoch++
		clear(ps.bufs)
		ps.bufs = ps.bufs[:0]
		ps.fetchPos = offset
		ps.pos, ps.posKnown = offset, offset >= 0
		poke(ps.space)
	}
	return nil
}
