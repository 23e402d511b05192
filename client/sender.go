package client

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// partSender owns the batches of one partition of one Producer: callers
// append records to the open batch under mu; the sender goroutine (run)
// seals batches when they are full or have lingered, sends up to
// MaxInFlight of them on the leader's connection, handles the answers the
// connection delivers, retries and completes batches.
//
//	Produce ──append──> cur ──full/linger──> ready ──send──> in flight ──answer──> complete
//	                                           ^                          │
//	                                           └──── retriable failure ───┘
type partSender struct {
	p     *Producer
	topic string
	part  int32
	wake  chan struct{} // capacity 1: something changed (batch, answer, stop)

	mu          sync.Mutex          // guards the fields down to stopped
	cur         *batch              // the open batch taking records; nil if none
	ready       []*batch            // sealed, unsent batches (retries included), ascending seq
	replies     []reply             // answers delivered by connections, not yet handled
	outstanding map[*batch]struct{} // every batch created and not yet completed
	nextSeq     uint64              // seq of the next batch
	lastCount   int                 // records in the last batch created: capacity hint
	stopping    bool                // Producer.Close: send all now, exit when done
	stopped     bool                // the goroutine is exiting: append fails

	// Owned by the run goroutine.
	inflight     int       // batches sent and not yet answered
	backoffUntil time.Time // no sends before this
	// Idempotence: the producer id new batches are sequenced under and
	// the sequence of the next one. pid 0: none yet, or the last one was
	// abandoned (see abandonPID); then nothing is sent while batches are
	// in flight, and the next send asks for a new id.
	pid       int64
	nextPSeq  int32
	drainSaid bool // the wait for the answers after abandoning pid has been logged
}

// reply is a connection's answer to one produce request.
type reply struct {
	b    *batch
	resp wire.ProduceResponse
	err  error // no usable answer: connection lost, timeout, undecodable
}

func newPartSender(p *Producer, topic string, part int32) *partSender {
	return &partSender{
		p:           p,
		topic:       topic,
		part:        part,
		wake:        make(chan struct{}, 1),
		outstanding: make(map[*batch]struct{}),
	}
}

func (s *partSender) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// append adds a message to the open batch, sealing the batch first if the
// message would overflow it, and after if it is full. It fails with
// ErrClosed once the sender is exiting.
func (s *partSender) append(m *Message, comp completion, cost int) error {
	batchBytes := s.p.cfg.BatchBytes
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return ErrClosed
	}
	wake := false
	b := s.cur
	if b != nil && b.bytes+cost > batchBytes {
		s.ready = append(s.ready, b)
		s.lastCount = len(b.recs)
		b = nil
	}
	if b == nil {
		b = &batch{
			topic:   s.topic,
			part:    s.part,
			seq:     s.nextSeq,
			created: time.Now(),
			recs:    make([]wire.Record, 0, max(s.lastCount, 1)),
			comps:   make([]completion, 0, max(s.lastCount, 1)),
			done:    make(chan struct{}),
		}
		s.nextSeq++
		s.outstanding[b] = struct{}{}
		s.cur = b
		wake = true // to arm the linger timer, or send at once
	}
	b.add(m, comp, cost)
	if b.bytes >= batchBytes {
		s.ready = append(s.ready, b)
		s.cur = nil
		s.lastCount = len(b.recs)
		wake = true
	}
	s.mu.Unlock()
	if wake {
		s.signal()
	}
	return nil
}

// flush seals the open batch so it is sent without lingering, and appends
// the done channels of all uncompleted batches to dones.
func (s *partSender) flush(dones []chan struct{}) []chan struct{} {
	s.mu.Lock()
	if s.cur != nil {
		s.lastCount = len(s.cur.recs)
		s.ready = append(s.ready, s.cur)
		s.cur = nil
	}
	for b := range s.outstanding {
		dones = append(dones, b.done)
	}
	s.mu.Unlock()
	s.signal()
	return dones
}

// stop makes the sender send everything it holds and exit when done.
func (s *partSender) stop() {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.signal()
}

// run is the sender goroutine.
func (s *partSender) run() {
	defer s.p.senderExited()
	cfg := &s.p.cfg
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	clientDone := s.p.cl.ctx.Done()
	var replies []reply
	var sendq []*batch
	for {
		s.mu.Lock()
		replies, s.replies = s.replies, replies[:0]
		s.mu.Unlock()
		for i := range replies {
			s.handle(&replies[i])
			replies[i] = reply{}
		}

		aborted := s.p.cl.ctx.Err() != nil
		if aborted {
			s.abortQueued()
		}
		// An abandoned producer id: wait for the answers of the batches
		// still in flight under it before sequencing anything afresh.
		draining := s.pid == 0 && s.inflight > 0 && s.p.idempotent()
		if draining && !s.drainSaid {
			s.drainSaid = true
			s.p.cl.log.Debug("minibroker: waiting for the answers to batches sent under an abandoned producer id",
				"topic", s.topic, "partition", s.part, "in_flight", s.inflight)
		}
		now := time.Now()
		sendq = sendq[:0]
		s.mu.Lock()
		if !aborted && !draining && !now.Before(s.backoffUntil) {
			for s.inflight+len(sendq) < cfg.MaxInFlight {
				if len(s.ready) > 0 {
					sendq = append(sendq, s.ready[0])
					s.ready[0] = nil
					s.ready = s.ready[1:]
				} else if s.cur != nil && (s.stopping || !now.Before(s.cur.created.Add(cfg.Linger))) {
					s.lastCount = len(s.cur.recs)
					sendq = append(sendq, s.cur)
					s.cur = nil
				} else {
					break
				}
			}
		}
		var next time.Time // when to look again without a wake-up (draining: an answer wakes us)
		if !aborted && !draining && s.inflight+len(sendq) < cfg.MaxInFlight {
			if len(s.ready) > 0 {
				next = s.backoffUntil
			} else if s.cur != nil {
				next = s.cur.created.Add(cfg.Linger)
				if next.Before(s.backoffUntil) {
					next = s.backoffUntil
				}
			}
		}
		exit := (s.stopping || aborted) && s.cur == nil && len(s.ready) == 0 &&
			len(sendq) == 0 && s.inflight == 0 && len(s.replies) == 0
		if exit {
			s.stopped = true
		}
		s.mu.Unlock()
		if exit {
			return
		}
		if len(sendq) > 0 {
			for i, b := range sendq {
				if !s.send(b) {
					// The leader is unreachable: keep the rest for after
					// the backoff rather than fail each of them now.
					for _, rest := range sendq[i+1:] {
						s.requeue(rest)
					}
					break
				}
			}
			clear(sendq)
			continue
		}
		var timerC <-chan time.Time
		if !next.IsZero() {
			timer.Reset(time.Until(next))
			timerC = timer.C
		}
		select {
		case <-s.wake:
		case <-timerC:
		case <-clientDone:
			clientDone = nil
		}
		timer.Stop()
	}
}

// abortQueued fails every unsent batch with ErrClosed (the Client is
// closed) and makes append fail from now on.
func (s *partSender) abortQueued() {
	s.mu.Lock()
	s.stopped = true
	queued := s.ready
	if s.cur != nil {
		queued = append(queued, s.cur)
	}
	s.cur, s.ready = nil, nil
	s.mu.Unlock()
	for _, b := range queued {
		s.complete(b, -1, fmt.Errorf("minibroker: produce to %s/%d: %w", s.topic, s.part, ErrClosed))
	}
}

// send sends b to the leader, reporting whether it went out. It blocks
// while the leader's connection is dialed and, for an idempotent Producer
// without a producer id, while InitProducer gets one. A failure to send
// is handled at once (retry or fail).
func (s *partSender) send(b *batch) bool {
	s.inflight++
	b.attempts++
	b.addr = ""
	cl := s.p.cl
	c, err := cl.leaderConn(cl.ctx)
	if err == nil {
		b.addr = c.addr
		err = s.sequence(c, b)
	}
	if errors.Is(err, errSeqExhausted) {
		// Not an attempt: b goes again under a new producer id.
		s.inflight--
		b.attempts--
		s.requeue(b)
		return false
	}
	if err != nil {
		s.inflight--
		s.failed(b, err, nil, false)
		return false
	}
	req := &wire.ProduceRequest{
		Topic:      s.topic,
		Partition:  s.part,
		Acks:       s.p.cfg.Acks.wire(),
		TimeoutMs:  s.p.timeoutMs,
		Records:    b.recs,
		ProducerID: b.pid,
		Sequence:   b.pseq,
	}
	version := uint16(0)
	if b.pid != 0 {
		version = 1 // Produce v1: ProducerID and Sequence
	}
	_, written, err := c.sendVersion(wire.Produce, version, req, s.p.respTimeout, s.onAnswer(b))
	if err != nil {
		// Nothing was written: the outcome is known.
		s.inflight--
		s.failed(b, err, nil, false)
		return false
	}
	if written && s.p.cfg.Acks == AcksNone {
		b.acked = true
		s.complete(b, -1, nil)
	}
	return true
}

// onAnswer returns the connection handler of one send of b: it queues the
// answer for the sender goroutine.
func (s *partSender) onAnswer(b *batch) handler {
	return func(body []byte, err error) {
		r := reply{b: b, err: err}
		if err == nil {
			if derr := wire.DecodeBody(body, &r.resp); derr != nil {
				r.err = fmt.Errorf("minibroker: produce response: %w", derr)
			}
		}
		s.mu.Lock()
		s.replies = append(s.replies, r)
		s.mu.Unlock()
		s.signal()
	}
}

// handle processes one answer.
func (s *partSender) handle(r *reply) {
	s.inflight--
	b := r.b
	switch {
	case b.acked:
		// AcksNone: completed when written; the answer only frees the slot.
	case r.err != nil:
		b.uncertain = true // the request was written: it may have been stored
		s.failed(b, r.err, nil, true)
	case r.resp.ErrorCode != wire.CodeNone:
		if b.pid != 0 && s.idempotentAnswer(b, &r.resp) {
			return
		}
		s.failed(b, r.resp.Err(), &r.resp, true)
	default:
		base := r.resp.BaseOffset
		if s.p.cfg.Acks != AcksAll {
			base = -1
		}
		s.complete(b, base, nil)
	}
}

// failed retries b after a failure (err; resp is the broker's answer, if
// any; written: the request reached the connection) or, if the error is
// not retriable, the retries are used up or the Client is closed,
// completes it with the error.
//
// An OutOfOrderSequence answer does not count against Retries while an
// earlier batch of the partition is outstanding (the gap is that batch,
// whose own retries are bounded, and this one must wait for it) or once
// b's producer id has been abandoned (the gap is a batch that failed for
// good; b is sequenced afresh).
func (s *partSender) failed(b *batch, err error, resp *wire.ProduceResponse, written bool) {
	cfg := &s.p.cfg
	cl := s.p.cl
	if written && outcomeUnknown(err) {
		b.uncertain = true
	}
	if errors.Is(err, ErrUnknownTopic) || errors.Is(err, ErrUnknownPartition) {
		cl.forgetTopic(s.topic) // deleted or changed: ask again next time
	}
	if errors.Is(err, ErrOutOfOrderSequence) && (b.pid != s.pid || s.behindOutstanding(b)) {
		b.free++
	}
	// ErrUnknownProducer: the batch goes again under a new producer id.
	retriable := IsRetriable(err) || (b.pid != 0 && errors.Is(err, ErrUnknownProducer))
	if cl.ctx.Err() != nil || !retriable || b.attempts-b.free > cfg.Retries {
		s.complete(b, -1, fmt.Errorf("minibroker: produce to %s/%d (%d attempts): %w",
			s.topic, s.part, b.attempts, withUncertainty(err, b.uncertain || b.uncertainOld)))
		return
	}
	immediate := false
	switch {
	case resp != nil && resp.ErrorCode == wire.CodeNotLeader && resp.LeaderAddr != "" && resp.LeaderAddr != b.addr:
		cl.redirect(resp.LeaderID, resp.LeaderAddr)
		immediate = true // the leader is named: go there now
	case errors.Is(err, ErrUnknownProducer):
		immediate = true // a new producer id is asked for once nothing is in flight
	case b.addr != "" && (leaderGone(err) || errors.Is(err, ErrConnectionLost) || errors.Is(err, ErrTimeout)):
		// A timeout: the leader is presumed stuck (a paused process), so
		// the retry asks the cluster who leads rather than wait on it.
		cl.forgetLeader(b.addr)
	}
	s.requeue(b)
	if !immediate {
		d := backoff(cfg.RetryBackoff, cfg.RetryBackoffMax, b.attempts)
		if until := time.Now().Add(d); until.After(s.backoffUntil) {
			s.backoffUntil = until
		}
		cl.log.Debug("minibroker: retrying produce", "topic", s.topic, "partition", s.part,
			"attempt", b.attempts, "backoff", d, "err", err)
	}
}

// requeue puts b back among the unsent batches, in seq order.
func (s *partSender) requeue(b *batch) {
	s.mu.Lock()
	i, _ := slices.BinarySearchFunc(s.ready, b.seq, func(x *batch, seq uint64) int { return cmp.Compare(x.seq, seq) })
	s.ready = slices.Insert(s.ready, i, b)
	s.mu.Unlock()
}

// complete ends b with its outcome: it frees b's buffer space, wakes the
// Produce calls waiting on it and queues its callbacks (or, with none,
// closes b.done at once). A failed batch leaves a gap in its producer
// id's sequence: the id is abandoned.
func (s *partSender) complete(b *batch, base int64, err error) {
	if err != nil {
		s.abandonPID(b.pid, "a batch failed")
	}
	s.mu.Lock()
	delete(s.outstanding, b)
	s.mu.Unlock()
	s.p.budget.release(b.bytes)
	b.base, b.err = base, err
	async := false
	for i := range b.comps {
		c := &b.comps[i]
		if c.w != nil {
			c.w.res, c.w.err = b.result(i, base), err
			c.w.ch <- struct{}{}
			c.w = nil
		}
		async = async || c.cb != nil
	}
	if async {
		s.p.deliver(dispatchItem{b: b})
	} else {
		close(b.done)
	}
}
