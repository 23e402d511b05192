package client

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// Producer sends messages to topic partitions, batching them per
// partition by size (BatchBytes) and time (Linger), with up to MaxInFlight
// requests per partition outstanding, all on the leader's one connection,
// so that a partition's batches are stored in the order they were
// produced while no failure occurs.
//
// Delivery is at-least-once. A batch that fails with a retriable error
// (NotLeader, a lost connection, a timeout, ...) is sent again, up to
// Retries times with backoff. Non-retriable errors (ErrUnknownTopic,
// ErrMessageTooLarge, ...) fail a batch's messages at once. A final error
// that may hide a stored attempt matches ErrOutcomeUnknown.
//
// # Idempotence
//
// By default (IdempotenceAuto with AcksAll; see Idempotence) the Producer
// is idempotent. Each partition's sender gets a producer id from the
// leader (InitProducer, before its first batch) and numbers its records;
// a retry resends the same batch with the same numbers. The broker keeps
// the numbers in its replicated state, so it stores a batch once however
// often the Producer sends it, also when a retry goes to a new leader
// after a failover, and answers a retry with the offsets of the stored
// copy (Offset -1 if the copy is too old for the broker to remember
// where it is: it keeps the last 5 batches per id and partition). It
// also stores a partition's batches only in order, so a batch sent after
// one that is being retried waits for it (its OutOfOrderSequence answers
// are retried, and do not use up its Retries while the earlier batch is
// outstanding). Idempotence thus removes the duplicates and the
// reordering that the Producer's own retries would cause, within the life
// of the Producer. It does not remove:
//
//   - Duplicates from resending: a restarted Producer gets new producer
//     ids, so messages an application sends again after a crash or a
//     failed Produce are new messages to the broker.
//   - Duplicates on the consumer side: a consumer that reads a record and
//     crashes before committing its offset reads it again (delivery to
//     consumers is at-least-once).
//   - Duplicates across a reset. When a batch fails for good (its retries
//     are used up, or a non-retriable error), its partition's numbering
//     has a gap that nothing will fill, so the sender waits for the
//     answers of the batches in flight, gets a new producer id and
//     numbers the batches still unacknowledged afresh from 0, in order.
//     It does the same when the broker has forgotten the id
//     (ErrUnknownProducer: idle for a day). A batch renumbered after an
//     attempt whose outcome was unknown may be stored twice; the Producer
//     logs a warning when it does that.
//
// An idempotent batch's final error matches ErrOutcomeUnknown only if an
// attempt may have been stored and no later answer of the broker about
// the same producer id and sequence ruled that out (an OutOfOrderSequence
// answer does: the broker has not stored it).
//
// Without idempotence (IdempotenceOff, or Acks other than AcksAll), a
// retry after ErrOutcomeUnknown, ErrTimeout or ErrConnectionLost stores
// the batch twice if the failed attempt had in fact been stored, and a
// retry can reorder: batches sent after the failed one may be stored
// before it. Set MaxInFlight to 1 to rule out reordering then (duplicates
// remain possible).
//
// A Producer is safe for concurrent use. Close it to deliver what is
// buffered; closing the Client instead fails buffered messages.
type Producer struct {
	cl          *Client
	cfg         ProducerConfig // defaults applied
	cfgErr      error          // non-nil: the config was invalid; every call fails with it
	timeoutMs   int32          // ProduceRequest.TimeoutMs
	respTimeout time.Duration  // how long a sent batch waits for its answer
	sticky      sticky
	budget      budget
	disp        dispatcher
	idem        bool        // cfg.Idempotence is on for cfg.Acks
	idemDropped atomic.Bool // IdempotenceAuto against a broker without InitProducer: idempotence given up for good

	mu     sync.RWMutex            // guards parts, closed and live
	parts  map[partKey]*partSender // one sender per partition produced to
	closed bool                    // Close has begun: no new messages
	live   int                     // sender goroutines running

	closeOnce sync.Once
}

type partKey struct {
	topic string
	part  int32
}

// Producer returns a Producer using cfg (zero fields take their
// defaults). It does not block. If cfg is invalid (see
// ProducerConfig.Validate; BatchBytes must also be at most MaxFrame/2)
// every call of the returned Producer fails with that *ConfigError; if
// the Client is closed, with ErrClosed.
func (cl *Client) Producer(cfg ProducerConfig) *Producer {
	err := cfg.Validate()
	cfg = cfg.withDefaults()
	if err == nil && cfg.BatchBytes > cl.cfg.MaxFrame/2 {
		err = &ConfigError{"BatchBytes", fmt.Sprintf("%d exceeds half of MaxFrame (%d)", cfg.BatchBytes, cl.cfg.MaxFrame)}
	}
	p := &Producer{
		cl:          cl,
		cfg:         cfg,
		cfgErr:      err,
		timeoutMs:   int32(min(cl.cfg.RequestTimeout.Milliseconds(), math.MaxInt32)),
		respTimeout: cl.cfg.RequestTimeout + cl.cfg.RequestTimeout/4,
		sticky:      sticky{batchBytes: cfg.BatchBytes, topics: make(map[string]*stickyTopic)},
		budget:      budget{max: cfg.MaxBufferedBytes},
		disp:        dispatcher{wake: make(chan struct{}, 1), done: make(chan struct{})},
		parts:       make(map[partKey]*partSender),
		idem:        cfg.Idempotence.enabled(cfg.Acks),
	}
	if err != nil || !cl.goTracked(p.dispatchLoop) {
		p.closed = true
		p.disp.stopped = true
		close(p.disp.done)
	}
	return p
}

// Produce sends msg and waits for its acknowledgement (see Acks). It
// blocks while msg's topic metadata is fetched, while the buffer is full
// (MaxBufferedBytes), and until the message is acked or has failed; the
// Result has Offset -1 unless Acks is AcksAll (and for an idempotent
// retry of a batch stored too long ago for the broker to remember where).
//
// If ctx ends first, Produce returns ctx's error but the message stays
// queued and may still be written. Errors: ErrMessageTooLarge (checked
// before sending against wire.DefaultMaxMessage), ErrUnknownTopic,
// ErrUnknownPartition, ErrClosed, a *ConfigError, ctx's error, or the
// broker's final error after retries (see Producer). Safe for concurrent
// use.
func (p *Producer) Produce(ctx context.Context, msg Message) (Result, error) {
	w := waiterPool.Get().(*waiter)
	if err := p.enqueue(ctx, &msg, completion{w: w}); err != nil {
		waiterPool.Put(w)
		return Result{Topic: msg.Topic, Partition: -1, Offset: -1}, err
	}
	select {
	case <-w.ch:
		res, err := w.res, w.err
		w.res, w.err = Result{}, nil
		waiterPool.Put(w)
		return res, err
	case <-ctx.Done():
		return Result{Topic: msg.Topic, Partition: -1, Offset: -1},
			fmt.Errorf("minibroker: produce to %q: %w (the message stays queued and may still be written)", msg.Topic, ctx.Err())
	}
}

// ProduceAsync queues msg and returns; fn (which may be nil) is called
// exactly once with the outcome, with the errors Produce would return.
// Callbacks run one at a time on the Producer's callback goroutine (never
// on the caller's), a partition's in the order its batches complete; a
// slow callback delays the others. A callback may call Produce or
// ProduceAsync but must not call Flush or Close of the same Producer
// (they wait for it).
//
// ProduceAsync blocks while msg's topic metadata is fetched and while the
// buffer is full (MaxBufferedBytes). Safe for concurrent use.
func (p *Producer) ProduceAsync(msg Message, fn func(Result, error)) {
	if err := p.enqueue(context.Background(), &msg, completion{cb: fn}); err != nil && fn != nil {
		p.deliver(dispatchItem{cb: fn, res: Result{Topic: msg.Topic, Partition: -1, Offset: -1}, err: err})
	}
}

// Flush sends every buffered message at once (without waiting for
// Linger) and waits until all messages whose Produce or ProduceAsync call
// returned before Flush was called have been acked or have failed, and
// their callbacks have returned. It returns nil then, even if some failed
// (their errors go to Produce and the callbacks), or ctx's error, or the
// *ConfigError of an invalid Producer. Safe for concurrent use; must not
// be called from a ProduceAsync callback.
func (p *Producer) Flush(ctx context.Context) error {
	if p.cfgErr != nil {
		return p.cfgErr
	}
	var dones []chan struct{}
	for _, s := range p.senders() {
		dones = s.flush(dones)
	}
	for _, d := range dones {
		select {
		case <-d:
		case <-ctx.Done():
			return fmt.Errorf("minibroker: flush: %w", ctx.Err())
		}
	}
	return nil
}

// Close stops accepting messages (later calls fail with ErrClosed), sends
// everything buffered, and blocks until every message has been acked or
// has failed (retries included) and every callback has returned. It is
// idempotent, safe for concurrent use, and returns nil; it must not be
// called from a ProduceAsync callback. Closing the Client instead fails
// buffered messages with ErrClosed.
func (p *Producer) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		for _, s := range p.senders() {
			s.stop()
		}
		p.disp.signal()
		<-p.disp.done
	})
	return nil
}

// senders returns the partition senders.
func (p *Producer) senders() []*partSender {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]*partSender, 0, len(p.parts))
	for _, s := range p.parts {
		out = append(out, s)
	}
	return out
}

// enqueue checks m, chooses its partition, reserves buffer space and adds
// it to the partition's open batch.
func (p *Producer) enqueue(ctx context.Context, m *Message, comp completion) error {
	if p.cfgErr != nil {
		return p.cfgErr
	}
	size := messageSize(m)
	if size > wire.DefaultMaxMessage {
		return fmt.Errorf("minibroker: produce to %q: message of %d bytes exceeds the %d-byte limit: %w",
			m.Topic, size, wire.DefaultMaxMessage, ErrMessageTooLarge)
	}
	if m.Topic == "" {
		return fmt.Errorf("minibroker: produce: empty topic name: %w", ErrUnknownTopic)
	}
	if p.isClosed() {
		return ErrClosed
	}
	part, err := p.choose(ctx, m, size)
	if err != nil {
		return err
	}
	cost := size + recordOverhead
	if err := p.budget.acquire(ctx, p.cl.ctx.Done(), cost); err != nil {
		return fmt.Errorf("minibroker: produce to %q: waiting for buffer space: %w", m.Topic, err)
	}
	s, err := p.sender(m.Topic, part)
	if err == nil {
		err = s.append(m, comp, cost)
	}
	if err != nil {
		p.budget.release(cost)
		return err
	}
	return nil
}

func (p *Producer) isClosed() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.closed
}

// choose returns m's partition: explicit, from the configured
// Partitioner, by key hash, or sticky for a nil key.
func (p *Producer) choose(ctx context.Context, m *Message, size int) (int32, error) {
	n, err := p.cl.partitions(ctx, m.Topic)
	if err != nil {
		return -1, fmt.Errorf("minibroker: produce to %q: %w", m.Topic, err)
	}
	if n <= 0 {
		return -1, fmt.Errorf("minibroker: produce to %q: the topic has no partitions: %w", m.Topic, ErrUnknownPartition)
	}
	var part int32
	switch {
	case m.Partition > 0:
		part = m.Partition
	case p.cfg.Partitioner != nil:
		part = p.custom(m, n)
	case m.Key != nil:
		part = HashKey(m.Key, n)
	default:
		part = p.sticky.pick(m.Topic, n, size)
	}
	if part < 0 || part >= n {
		return -1, fmt.Errorf("minibroker: produce to %q: partition %d (topic has %d): %w", m.Topic, part, n, ErrUnknownPartition)
	}
	return part, nil
}

// custom asks the configured Partitioner about a copy of m, so that m
// itself does not escape to the heap on the common path.
func (p *Producer) custom(m *Message, n int32) int32 {
	c := *m
	return p.cfg.Partitioner.Partition(&c, n)
}

// sender returns the sender of a partition, starting it if needed.
func (p *Producer) sender(topic string, part int32) (*partSender, error) {
	k := partKey{topic, part}
	p.mu.RLock()
	s, closed := p.parts[k], p.closed
	p.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if s != nil {
		return s, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if s = p.parts[k]; s != nil {
		return s, nil
	}
	s = newPartSender(p, topic, part)
	if !p.cl.goTracked(s.run) {
		return nil, ErrClosed
	}
	p.live++
	p.parts[k] = s
	return s, nil
}

// senderExited is called by each sender goroutine as it returns.
func (p *Producer) senderExited() {
	p.mu.Lock()
	p.live--
	p.mu.Unlock()
	p.disp.signal()
}

// deliver hands it to the callback goroutine, or to a goroutine of its
// own if that is gone (a Producer closed or broken from the start).
func (p *Producer) deliver(it dispatchItem) {
	if !p.disp.push(it) {
		go it.run()
	}
}

// dispatchLoop is the callback goroutine. It returns once the Producer is
// closed (or the Client is), every sender has exited, and the queue is
// empty.
func (p *Producer) dispatchLoop() {
	defer close(p.disp.done)
	clientDone := p.cl.ctx.Done()
	for {
		items := p.disp.take()
		for i := range items {
			items[i].run()
		}
		if len(items) > 0 {
			continue
		}
		p.mu.RLock()
		finished := (p.closed || p.cl.ctx.Err() != nil) && p.live == 0
		p.mu.RUnlock()
		if finished && p.disp.stop() {
			return
		}
		if finished {
			continue
		}
		select {
		case <-p.disp.wake:
		case <-clientDone:
			clientDone = nil
		}
	}
}
