package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// Reader reads one partition from a position that it advances as records
// are returned. It holds no goroutine or connection of its own (it uses
// the Client's) and needs no closing.
//
// A Reader is safe for concurrent use: Fetch calls are serialised, and a
// SetOffset during a Fetch wins (that Fetch returns no records).
type Reader struct {
	cl  *Client
	cfg ReaderConfig // defaults applied
	err error        // non-nil: the config was invalid; Fetch fails with it

	fetchMu sync.Mutex // serialises Fetch

	mu  sync.Mutex // guards pos, gen and hwm
	pos int64      // next offset to read, or StartEarliest/StartLatest until resolved
	gen uint64     // incremented by SetOffset: a Fetch begun earlier drops its records
	hwm int64      // high-water mark of the last fetch, -1 before
}

// Reader returns a Reader of cfg's partition. It does not block or
// contact the cluster. If cfg is invalid (see ReaderConfig.Validate;
// MaxBytes must also leave room in MaxFrame for one more record of the
// broker's largest size, as MaxBytes is a soft limit), Fetch fails with
// that *ConfigError.
func (cl *Client) Reader(cfg ReaderConfig) *Reader {
	err := cfg.Validate()
	limit := max(cl.cfg.MaxFrame-minMaxFrame, 1)
	if err == nil && int(cfg.MaxBytes) > limit {
		err = &ConfigError{"MaxBytes", fmt.Sprintf("%d exceeds MaxFrame - 1 MiB - 64 KiB (%d)", cfg.MaxBytes, limit)}
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = int32(min(DefaultFetchMaxBytes, limit))
	}
	cfg = cfg.withDefaults()
	return &Reader{cl: cl, cfg: cfg, err: err, pos: cfg.Offset, hwm: -1}
}

// Fetch returns the next records of the partition, from the reader's
// position on, and advances the position past them. If none are
// available it waits at the broker up to MaxWait for some (long poll) and
// returns an empty (nil) slice and a nil error if none came. A start
// position of StartEarliest or StartLatest is resolved first (ListOffsets).
//
// It blocks until the broker answers or ctx ends, retrying retriable
// failures (lost connections, ...) with backoff. Errors: an
// *OffsetOutOfRangeError (matching ErrOffsetOutOfRange; the position is
// outside the range the leader confirmed and is unchanged; SetOffset to
// recover), ErrUnknownTopic, ErrUnknownPartition,
// ErrClosed, a *ConfigError, ctx's error, or the last retriable error.
// Records share the memory of one answer: keeping one alive keeps a few
// KiB of its neighbours alive too.
func (r *Reader) Fetch(ctx context.Context) ([]Record, error) {
	if r.err != nil {
		return nil, r.err
	}
	r.fetchMu.Lock()
	defer r.fetchMu.Unlock()

	r.mu.Lock()
	pos, gen := r.pos, r.gen
	r.mu.Unlock()
	if pos < 0 {
		off, err := r.cl.ListOffsets(ctx, r.cfg.Topic, r.cfg.Partition, startSpec(pos))
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		if r.gen != gen {
			r.mu.Unlock()
			return nil, nil
		}
		r.pos, pos = off, off
		r.mu.Unlock()
	}

	req := &wire.FetchRequest{
		Topic:     r.cfg.Topic,
		Partition: r.cfg.Partition,
		Offset:    pos,
		MaxBytes:  r.cfg.MaxBytes,
		MaxWaitMs: int32(r.cfg.MaxWait / time.Millisecond),
	}
	resp := new(wire.FetchResponse)
	timeout := r.cfg.MaxWait + r.cl.cfg.RequestTimeout
	err := r.cl.do(ctx, anyNode, wire.Fetch, req, resp, timeout)
	if errors.Is(err, ErrOffsetOutOfRange) {
		err = r.cl.checkOutOfRange(ctx, r.cfg.Topic, r.cfg.Partition, pos, resp, err)
		var oor *OffsetOutOfRangeError
		if errors.As(err, &oor) {
			return nil, oor
		}
		if errors.Is(err, errNodeBehind) {
			// Fetch from the leader, which has applied pos. Out of range
			// there too (leadership moved meanwhile): keep the retriable
			// error, not a reason to reset.
			*resp = wire.FetchResponse{}
			if ferr := r.cl.do(ctx, leaderRead, wire.Fetch, req, resp, timeout); !errors.Is(ferr, ErrOffsetOutOfRange) {
				err = ferr
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("minibroker: fetch %s/%d at %d: %w", r.cfg.Topic, r.cfg.Partition, pos, err)
	}
	recs := r.convert(resp.Records, pos)

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen != gen {
		return nil, nil
	}
	if len(recs) > 0 {
		r.pos = recs[len(recs)-1].Offset + 1
	}
	r.hwm = resp.HighWatermark
	return recs, nil
}

// convert turns the fetched records from offset pos on into Records (see
// convertRecords).
func (r *Reader) convert(in []wire.Record, pos int64) []Record {
	return convertRecords(TopicPartition{Topic: r.cfg.Topic, Partition: r.cfg.Partition}, in, pos)
}

// SetOffset seeks: it sets the position of the next Fetch to an offset,
// StartEarliest or StartLatest. A Fetch in progress returns no records.
// It does not block on a Fetch in progress. (It is not named Seek because
// go vet reserves that name for io.Seeker's signature.) Errors: one
// wrapping ErrOffsetOutOfRange for an offset below StartEarliest (the
// position is then unchanged).
func (r *Reader) SetOffset(offset int64) error {
	if offset < StartEarliest {
		return fmt.Errorf("minibroker: seek %s/%d to %d: %w", r.cfg.Topic, r.cfg.Partition, offset, ErrOffsetOutOfRange)
	}
	r.mu.Lock()
	r.pos = offset
	r.gen++
	r.mu.Unlock()
	return nil
}

// Offset returns the position of the next Fetch: the offset after the
// last record returned, or the start position (possibly StartEarliest or
// StartLatest) if nothing has been fetched since it was set. Does not
// block.
func (r *Reader) Offset() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos
}

// HighWatermark returns the partition's high-water mark as of the last
// successful Fetch (the offset the next record will get), or -1 before
// the first. HighWatermark() - Offset() is the reader's lag. Does not
// block.
func (r *Reader) HighWatermark() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hwm
}

// startSpec is the OffsetSpec that resolves a start position of
// StartEarliest or StartLatest.
func startSpec(pos int64) OffsetSpec {
	if pos == StartLatest {
		return Latest
	}
	return Earliest
}
