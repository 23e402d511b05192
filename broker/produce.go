package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
	mlog "github.com/minibroker/minibroker/log"
	"github.com/minibroker/minibroker/replication"
)

// DefaultProduceTimeout bounds a produce request whose TimeoutMs is 0.
const DefaultProduceTimeout = 30 * time.Second

// produce validates a produce request and hands it to Raft from the
// connection's reader goroutine, so requests keep their order; the wait for
// the acknowledgement and the response happen in a request goroutine.
// Everything that can be checked before Raft is checked then, whatever the
// acks level (the records here; the rest in replication.Store.ValidateAppend,
// which Submit runs: topic, partition, producer id, sequence, and
// acks=all for an idempotent producer), so that acks=0 and acks=1 do not
// acknowledge a write that Apply is certain to refuse.
func (c *conn) produce(corr uint32, req *wire.ProduceRequest) {
	b := c.b
	start := time.Now()
	slot := acksSlot(req.Acks)
	fail := func(err error) {
		resp := wire.ProduceResponse{ErrorCode: codeOf(err), ErrorMessage: err.Error(), BaseOffset: -1}
		resp.LeaderID, resp.LeaderAddr = b.leaderClientAddr()
		b.metrics.produced(slot, resp.ErrorCode, 0, 0, start)
		c.respond(corr, resp)
	}
	if err := c.authorizeRequest(req); err != nil {
		fail(err)
		return
	}
	acks, err := acksOf(req.Acks)
	if err != nil {
		fail(err)
		return
	}
	batch, err := b.encodeBatch(req.Records)
	if err != nil {
		fail(err)
		return
	}
	timeout := DefaultProduceTimeout
	if req.TimeoutMs > 0 {
		timeout = time.Duration(req.TimeoutMs) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	if req.ProducerID != 0 {
		// The native protocol has no producer epochs: its producers stay
		// in epoch 0 (InitProducer hands out a new id instead).
		batch.SetProducer(req.ProducerID, 0, req.Sequence)
	}
	pending, err := b.store.Submit(ctx, req.Topic, req.Partition, batch, acks)
	if err != nil {
		cancel()
		fail(err)
		return
	}
	records, size := len(req.Records), len(batch)
	if acks == replication.AcksNone {
		cancel()
		b.metrics.produced(slot, wire.CodeNone, records, size, start)
		c.respond(corr, wire.ProduceResponse{BaseOffset: -1})
		return
	}
	c.async(func() {
		defer cancel()
		res, err := pending.Wait(ctx)
		if err != nil {
			fail(err)
			return
		}
		b.metrics.produced(slot, wire.CodeNone, records, size, start)
		c.respond(corr, wire.ProduceResponse{BaseOffset: res.BaseOffset})
	})
}

func acksOf(a int8) (replication.Acks, error) {
	switch a {
	case wire.AcksNone:
		return replication.AcksNone, nil
	case wire.AcksLeader:
		return replication.AcksLeader, nil
	case wire.AcksAll:
		return replication.AcksAll, nil
	}
	return 0, wire.Err(wire.CodeMalformed, fmt.Sprintf("acks %d: want 0, 1 or -1", a))
}

// lrecsPool recycles encodeBatch's record slices.
var lrecsPool = sync.Pool{New: func() any { return new([]mlog.Record) }}

// Size estimates for encodeBatch's buffer: the batch header (73 bytes),
// and per record its length, attributes, timestamp delta, offset delta, key
// and value lengths and header count (varints, at their longest).
const (
	batchOverhead  = 80
	recordOverhead = 4*binary.MaxVarintLen32 + binary.MaxVarintLen64 + 2
)

// encodeBatch checks the records against MaxMessageBytes and encodes them
// as one log batch, stamping the current time on records without one.
func (b *Broker) encodeBatch(recs []wire.Record) (mlog.Batch, error) {
	if len(recs) == 0 {
		return nil, wire.Err(wire.CodeMalformed, "produce request without records")
	}
	now := time.Now().UnixMilli()
	lp := lrecsPool.Get().(*[]mlog.Record)
	defer func() {
		clear(*lp) // drop the references into the request
		lrecsPool.Put(lp)
	}()
	if cap(*lp) < len(recs) {
		*lp = make([]mlog.Record, len(recs))
	}
	lrecs := (*lp)[:len(recs)]
	size := batchOverhead
	for i := range recs {
		r := &recs[i]
		if n := r.Size(); n > b.cfg.MaxMessageBytes {
			return nil, wire.Err(wire.CodeMessageTooLarge,
				fmt.Sprintf("record %d is %d bytes, the limit is %d", i, n, b.cfg.MaxMessageBytes))
		}
		size += len(r.Key) + len(r.Value) + recordOverhead
		lr := &lrecs[i]
		lr.Timestamp, lr.Key, lr.Value = r.Timestamp, r.Key, r.Value
		if lr.Timestamp == 0 {
			lr.Timestamp = now
		}
		if len(r.Headers) > 0 {
			lr.Headers = make([]mlog.Header, len(r.Headers))
			for j, h := range r.Headers {
				lr.Headers[j] = mlog.Header{Key: h.Key, Value: h.Value}
				size += len(h.Key) + len(h.Value) + 2*binary.MaxVarintLen32
			}
		}
	}
	// One allocation of about the right size, instead of growing from
	// nothing (the batch becomes the Raft entry: it cannot be reused).
	batch, err := mlog.AppendBatch(make([]byte, 0, size), lrecs, 0)
	if err != nil {
		return nil, wire.Err(wire.CodeMessageTooLarge, err.Error())
	}
	return batch, nil
}

// initProducer allocates a producer id through Raft (leader only).
func (b *Broker) initProducer(ctx context.Context) wire.InitProducerResponse {
	id, err := b.store.InitProducer(ctx)
	if err != nil {
		return wire.InitProducerResponse{ErrorCode: codeOf(err), ErrorMessage: b.errText(err)}
	}
	return wire.InitProducerResponse{ProducerID: id}
}
