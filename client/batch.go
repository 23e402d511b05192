package client

import (
	"context"
	"sync"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// recordOverhead approximates the bytes a record costs beyond its key,
// value and headers: its array header, offset, timestamp and length
// prefixes. It counts toward BatchBytes and MaxBufferedBytes.
const recordOverhead = 24

// messageSize is a message's size as the broker's message limit counts
// it (wire.Record.Size): key, value, and header keys and values.
func messageSize(m *Message) int {
	n := len(m.Key) + len(m.Value)
	for i := range m.Headers {
		n += len(m.Headers[i].Key) + len(m.Headers[i].Value)
	}
	return n
}

// completion is told the outcome of one message: a synchronous Produce
// waiting on w, or ProduceAsync's callback cb (either may be nil).
type completion struct {
	w  *waiter
	cb func(Result, error)
}

// waiter is a blocked Produce call. Waiters are pooled: a Produce that
// returns early (its context ended) abandons its waiter instead.
type waiter struct {
	ch  chan struct{} // capacity 1: signalled once res and err are set
	res Result
	err error
}

var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

// batch is a run of records for one partition, sent as one produce
// request (and re-sent as a whole on retry).
type batch struct {
	topic   string
	part    int32
	seq     uint64 // order of creation within the partition
	created time.Time
	recs    []wire.Record
	hdrs    []wire.Header // backing store of recs' headers
	comps   []completion  // comps[i] learns the outcome of recs[i]
	bytes   int           // counted against BatchBytes and MaxBufferedBytes
	done    chan struct{} // closed once every completion has been told

	// Owned by the partition's sender goroutine once the batch is sealed.
	attempts int    // sends so far
	free     int    // attempts not counted against Retries (see partSender.failed)
	addr     string // broker of the latest send
	acked    bool   // completed when written (AcksNone): an answer only frees its slot
	// uncertain: an attempt since the batch was last sequenced (or any
	// attempt, without idempotence) has an unknown outcome: it may have
	// been stored. An idempotent retry's OutOfOrderSequence answer clears
	// it: the broker has not stored this producer id and sequence.
	uncertain bool
	// uncertainOld: an attempt under an earlier producer id (or none) may
	// have been stored; nothing can tell any more. Never cleared.
	uncertainOld bool
	// Idempotence: the producer id and sequence the batch was last sent
	// with, kept by retries (pid 0: sent without, or not yet sent). A batch
	// whose pid differs from its sender's is sequenced afresh on its next
	// send (see partSender.sequence).
	pid  int64
	pseq int32

	// The outcome, written before the batch is handed to the dispatcher.
	base int64
	err  error
}

// add appends one message. Called with the sender's mu held.
func (b *batch) add(m *Message, comp completion, cost int) {
	r := wire.Record{Key: m.Key, Value: m.Value}
	if !m.Timestamp.IsZero() {
		r.Timestamp = m.Timestamp.UnixMilli()
	}
	if len(m.Headers) > 0 {
		start := len(b.hdrs)
		for _, h := range m.Headers {
			b.hdrs = append(b.hdrs, wire.Header{Key: h.Key, Value: h.Value})
		}
		// If a later append reallocates b.hdrs, r keeps the old array,
		// whose contents stay valid.
		r.Headers = b.hdrs[start:len(b.hdrs):len(b.hdrs)]
	}
	b.recs = append(b.recs, r)
	b.comps = append(b.comps, comp)
	b.bytes += cost
}

// result returns the Result of record i for base offset base.
func (b *batch) result(i int, base int64) Result {
	off := int64(-1)
	if base >= 0 {
		off = base + int64(i)
	}
	return Result{Topic: b.topic, Partition: b.part, Offset: off}
}

// runCallbacks calls every callback of the batch with its outcome, in
// record order, then closes done.
func (b *batch) runCallbacks() {
	for i := range b.comps {
		if cb := b.comps[i].cb; cb != nil {
			cb(b.result(i, b.base), b.err)
		}
	}
	close(b.done)
}

// budget bounds the bytes a Producer has buffered or in flight.
type budget struct {
	max  int
	mu   sync.Mutex    // guards used and wake
	used int           // bytes acquired and not released
	wake chan struct{} // closed (and cleared) by the next release; nil if no one waits
}

// acquire takes n bytes, blocking while that would exceed max (a single
// acquisition larger than max succeeds when nothing else is held).
// Errors: ctx's error, or ErrClosed once abort is closed.
func (b *budget) acquire(ctx context.Context, abort <-chan struct{}, n int) error {
	b.mu.Lock()
	for b.used > 0 && b.used+n > b.max {
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		w := b.wake
		b.mu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		case <-abort:
			return ErrClosed
		}
		b.mu.Lock()
	}
	b.used += n
	b.mu.Unlock()
	return nil
}

// release returns n bytes and wakes the waiters.
func (b *budget) release(n int) {
	b.mu.Lock()
	b.used -= n
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
	b.mu.Unlock()
}

// dispatcher queues ProduceAsync callbacks for the Producer's callback
// goroutine, so they never run on a connection's reader, a sender, or the
// caller's goroutine, and run in completion order.
type dispatcher struct {
	wake chan struct{} // capacity 1: the queue or the Producer's state changed
	done chan struct{} // closed when the callback goroutine has returned

	mu      sync.Mutex     // guards q and stopped
	q       []dispatchItem // callbacks to run, in order
	stopped bool           // the goroutine is gone: push fails
}

// dispatchItem is a completed batch whose callbacks to run, or a single
// callback (a message that failed before it joined a batch).
type dispatchItem struct {
	b   *batch
	cb  func(Result, error)
	res Result
	err error
}

func (it *dispatchItem) run() {
	if it.b != nil {
		it.b.runCallbacks()
		return
	}
	it.cb(it.res, it.err)
}

// push queues it, or returns false if the callback goroutine is gone.
func (d *dispatcher) push(it dispatchItem) bool {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return false
	}
	d.q = append(d.q, it)
	d.mu.Unlock()
	d.signal()
	return true
}

// take removes and returns the queued items.
func (d *dispatcher) take() []dispatchItem {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := d.q
	d.q = nil
	return q
}

// stop marks the dispatcher stopped if its queue is empty, reporting
// whether it did.
func (d *dispatcher) stop() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.q) > 0 {
		return false
	}
	d.stopped = true
	return true
}

func (d *dispatcher) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}
