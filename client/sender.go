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
		now := time.Now()
		sendq = sendq[:0]
		s.mu.Lock()
		if !aborted && !now.Before(s.backoffUntil) {
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
		var next time.Time // when to look again without a wake-up
		if !aborted && s.inflight+len(sendq) < cfg.MaxInFlight {
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
// while the leader's connection is dialed. A failure to send is handled
// at once (retry or fail).
func (s *partSender) send(b *batch) bool {
	s.inflight++
	b.attempts++
	b.addr = ""
	cl := s.p.cl
	c, err := cl.leaderConn(cl.ctx)
	if err != nil {
		s.inflight--
		s.failed(b, err, nil)
		return false
	}
	b.addr = c.addr
	req := &wire.ProduceRequest{
		Topic:     s.topic,
		Partition: s.part,
		Acks:      s.p.cfg.Acks.wire(),
		TimeoutMs: s.p.timeoutMs,
		Records:   b.recs,
	}
	_, written, err := c.send(wire.Produce, req, s.p.respTimeout, s.onAnswer(b))
	if err != nil {
		s.inflight--
		s.failed(b, err, nil)
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
		s.failed(b, r.err, nil)
	case r.resp.ErrorCode != wire.CodeNone:
		s.failed(b, r.resp.Err(), &r.resp)
	default:
		base := r.resp.BaseOffset
		if s.p.cfg.Acks != AcksAll {
			base = -1
		}
		s.complete(b, base, nil)
	}
}

// failed retries b after a failure (err; resp is the broker's answer, if
// any) or, if the error is not retriable, the retries are used up or the
// Client is closed, completes it with the error.
func (s *partSender) failed(b *batch, err error, resp *wire.ProduceResponse) {
	cfg := &s.p.cfg
	cl := s.p.cl
	if outcomeUnknown(err) {
		b.uncertain = true
	}
	if errors.Is(err, ErrUnknownTopic) || errors.Is(err, ErrUnknownPartition) {
		cl.forgetTopic(s.topic) // deleted or changed: ask again next time
	}
	if cl.ctx.Err() != nil || !IsRetriable(err) || b.attempts > cfg.Retries {
		s.complete(b, -1, fmt.Errorf("minibroker: produce to %s/%d (%d attempts): %w",
			s.topic, s.part, b.attempts, withUncertainty(err, b.uncertain)))
		return
	}
	immediate := false
	switch {
	case resp != nil && resp.ErrorCode == wire.CodeNotLeader && resp.LeaderAddr != "" && resp.LeaderAddr != b.addr:
		cl.redirect(resp.LeaderID, resp.LeaderAddr)
		immediate = true // the leader is named: go there now
	case b.addr != "" && (errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader) || errors.Is(err, ErrConnectionLost)):
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
// closes b.done at once).
func (s *partSender) complete(b *batch, base int64, err error) {
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
