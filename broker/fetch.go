package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/minibroker/minibroker/internal/compress"
	"github.com/minibroker/minibroker/internal/wire"
	mlog "github.com/minibroker/minibroker/log"
)

// DefaultFetchMaxBytes is used for a Fetch with MaxBytes <= 0.
const DefaultFetchMaxBytes = 1 << 20

// fetchBuffers recycles the buffers a Fetch reads into and converts from:
// a response's records alias them until it has been encoded and written.
type fetchBuffers struct {
	read  []byte
	plain []byte // decompressed records sections, appended to, never overwritten
	lrecs []mlog.Record
	wrecs []wire.Record
}

var fetchPool = sync.Pool{New: func() any { return new(fetchBuffers) }}

// serveFetch answers a Fetch on c, recycling its buffers afterwards.
func (c *conn) serveFetch(corr uint32, req *wire.FetchRequest) {
	start := time.Now()
	bufs := fetchPool.Get().(*fetchBuffers)
	resp := c.b.fetch(c.ctx, req, bufs)
	size := 0
	for i := range resp.Records {
		size += resp.Records[i].Size()
	}
	c.b.metrics.fetched(resp.ErrorCode, len(resp.Records), size, start)
	c.respond(corr, resp)
	clear(bufs.wrecs[:cap(bufs.wrecs)]) // drop references into the read buffer
	clear(bufs.lrecs[:cap(bufs.lrecs)])
	if cap(bufs.read) <= 16<<20 && cap(bufs.plain) <= 16<<20 {
		fetchPool.Put(bufs)
	}
}

// fetch serves a Fetch from this node's applied data. If there is nothing
// at the offset yet, it waits up to MaxWaitMs (capped by MaxFetchWait) for
// an append to the partition, woken by the state machine: no polling. The
// response's records alias bufs.
func (b *Broker) fetch(ctx context.Context, req *wire.FetchRequest, bufs *fetchBuffers) wire.FetchResponse {
	f := b.store.FSM()
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = DefaultFetchMaxBytes
	}
	maxBytes = min(maxBytes, b.cfg.MaxFrameBytes/2)
	wait := min(time.Duration(req.MaxWaitMs)*time.Millisecond, b.cfg.MaxFetchWait)
	var timer *time.Timer
	for {
		changed, err := f.Changed(req.Topic, req.Partition)
		if err != nil {
			return fetchErr(err)
		}
		start, end, err := f.Offsets(req.Topic, req.Partition)
		if err != nil {
			return fetchErr(err)
		}
		if req.Offset < start || req.Offset > end {
			resp := fetchErr(&mlog.OffsetRangeError{Offset: req.Offset, Start: start, End: end})
			resp.StartOffset, resp.HighWatermark = start, end
			return resp
		}
		if req.Offset < end || wait <= 0 {
			return b.readRecords(req, maxBytes, start, end, bufs)
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		select {
		case <-changed:
		case <-timer.C:
			wait = 0
		case <-b.draining: // Shutdown: answer with what there is
			wait = 0
		case <-ctx.Done():
			return fetchErr(ErrClosed)
		}
	}
}

func fetchErr(err error) wire.FetchResponse {
	return wire.FetchResponse{ErrorCode: codeOf(err), ErrorMessage: err.Error()}
}

// readRecords reads from req.Offset and converts the batches to records,
// dropping those before the offset (a batch may begin earlier). A
// compressed batch (as Kafka producers send them) is decompressed into
// bufs.plain. The decompressed bytes count against maxBytes: a batch that
// would take them past it ends the response before it, unless it is the
// first, which may decompress to MaxFrameBytes/2 (as a single batch may
// exceed maxBytes on the wire).
func (b *Broker) readRecords(req *wire.FetchRequest, maxBytes int, start, end int64, bufs *fetchBuffers) wire.FetchResponse {
	resp := wire.FetchResponse{StartOffset: start, HighWatermark: end}
	if req.Offset == end {
		return resp
	}
	buf, err := b.store.FSM().ReadInto(bufs.read, req.Topic, req.Partition, req.Offset, maxBytes)
	bufs.read = buf
	if err != nil {
		r := fetchErr(err)
		r.StartOffset, r.HighWatermark = start, end
		return r
	}
	lrecs, plain := bufs.lrecs[:0], bufs.plain[:0]
	defer func() { bufs.lrecs, bufs.plain = lrecs, plain }()
	for first := true; len(buf) > 0; first = false {
		batch, rest, err := mlog.ParseBatch(buf)
		if err != nil {
			b.logger.Error("corrupt batch in partition", "topic", req.Topic, "partition", req.Partition, "error", err)
			r := fetchErr(fmt.Errorf("%w: %v", wire.ErrStorage, err))
			r.StartOffset, r.HighWatermark = start, end
			return r
		}
		limit := maxBytes - len(plain)
		if first {
			limit = b.cfg.MaxFrameBytes / 2
		}
		n := len(lrecs)
		if lrecs, plain, err = compress.DecodeBatch(lrecs, plain, batch, limit); err != nil {
			if !first && errors.Is(err, compress.ErrTooLarge) {
				lrecs = lrecs[:n] // the next fetch starts with it
				break
			}
			r := fetchErr(fmt.Errorf("%w: %s/%d at offset %d: %v", wire.ErrStorage, req.Topic, req.Partition, batch.BaseOffset(), err))
			r.StartOffset, r.HighWatermark = start, end
			return r
		}
		buf = rest
	}
	resp.Records = bufs.wrecs[:0]
	defer func() { bufs.wrecs = resp.Records }()
	for i := range lrecs {
		lr := &lrecs[i]
		if lr.Offset < req.Offset {
			continue
		}
		r := wire.Record{Offset: lr.Offset, Timestamp: lr.Timestamp, Key: lr.Key, Value: lr.Value}
		if len(lr.Headers) > 0 {
			r.Headers = make([]wire.Header, len(lr.Headers))
			for j, h := range lr.Headers {
				r.Headers[j] = wire.Header{Key: h.Key, Value: h.Value}
			}
		}
		resp.Records = append(resp.Records, r)
	}
	return resp
}
