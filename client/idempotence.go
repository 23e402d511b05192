package client

import (
	"errors"
	"fmt"
	"math"

	"github.com/minibroker/minibroker/internal/wire"
)

// The idempotent producer. Each partition's sender asks the leader for a
// producer id (InitProducer) before its first batch and numbers its
// records from 0 under it: a batch is sequenced when it is first sent and
// carries the sequence of its first record; the next batch's is that plus
// the batch's record count. A retry resends the very same batch (batches
// are never split or merged once sealed) with the same id and sequence,
// so the broker, which remembers the last batches of every id and
// partition in its replicated state, stores it once however often it
// comes, and stores an id's batches only in sequence order.
//
//	      ┌──────────── InitProducer (no batch in flight) ─────────────┐
//	      v                                                            │
//	  pid = id, nextPSeq = 0 ──first send of b──> b.pid, b.pseq = pid, nextPSeq
//	      │                                       nextPSeq += len(b.recs)
//	      └── abandonPID: a batch failed for good, UnknownProducer,
//	          or no sequence numbers left ──> pid = 0 ─────────────────┘
//
// Once an id is abandoned, the batches not yet acknowledged are sequenced
// afresh under a new id, in order, when they are next sent.

// errSeqExhausted: the sender's producer id has no sequence numbers left
// for the batch (they are int32); it takes a new id.
var errSeqExhausted = errors.New("minibroker: producer sequence numbers exhausted")

// idempotent reports whether the Producer's batches carry a producer id.
// Safe for concurrent use.
func (p *Producer) idempotent() bool {
	return p.idem && !p.idemDropped.Load()
}

// sequence gives b the producer id and sequence to send it with. A retry
// keeps those of its last send. A new batch, or one whose id was
// abandoned, takes the next sequence under the sender's id, which is
// asked for first if there is none: this blocks on InitProducer. Without
// idempotence b goes without. Errors: those of initProducer, and
// errSeqExhausted (the id has been abandoned).
func (s *partSender) sequence(c *conn, b *batch) error {
	if !s.p.idempotent() {
		s.setSeq(b, 0, 0)
		return nil
	}
	if b.pid != 0 && b.pid == s.pid {
		return nil
	}
	if s.pid == 0 {
		pid, err := s.initProducer(c)
		if err != nil {
			return err
		}
		if pid == 0 { // idempotence given up (IdempotenceAuto, an older broker)
			s.setSeq(b, 0, 0)
			return nil
		}
		s.pid, s.nextPSeq = pid, 0
	}
	n := int64(len(b.recs))
	if s.nextPSeq > 0 && int64(s.nextPSeq)+n > math.MaxInt32 {
		s.abandonPID(s.pid, "its sequence numbers are used up")
		return errSeqExhausted
	}
	s.setSeq(b, s.pid, s.nextPSeq)
	s.nextPSeq += int32(n)
	return nil
}

// setSeq gives b a producer id and sequence (pid 0: none). If b was sent
// before under another id, whatever became of those attempts can no
// longer be learned from the broker: their uncertainty becomes final.
func (s *partSender) setSeq(b *batch, pid int64, seq int32) {
	if b.pid == pid {
		b.pseq = seq
		return
	}
	if b.uncertain {
		b.uncertainOld = true
		b.uncertain = false
		if pid != 0 {
			s.p.cl.log.Warn("minibroker: resending a batch under a new producer id after an attempt with an unknown outcome: it may be stored twice",
				"topic", s.topic, "partition", s.part, "records", len(b.recs), "attempts", b.attempts)
		}
	}
	b.pid, b.pseq = pid, seq
}

// abandonPID stops sequencing under pid if it is still the sender's id:
// the next send waits until no batch is in flight, then asks for a new id
// and sequences the unacknowledged batches from 0, in order.
func (s *partSender) abandonPID(pid int64, why string) {
	if pid == 0 || pid != s.pid {
		return
	}
	s.p.cl.log.Debug("minibroker: abandoning producer id", "topic", s.topic, "partition", s.part,
		"producer_id", pid, "next_sequence", s.nextPSeq, "why", why)
	s.pid, s.nextPSeq, s.drainSaid = 0, 0, false
}

// initProducer asks the leader (c) for a producer id. It blocks until the
// answer comes, the request times out or the Client is closed. Against a
// broker that does not know InitProducer, with IdempotenceAuto, it gives
// idempotence up for the whole Producer (logging a warning) and returns
// 0 and no error. Errors wrap those of the request (ErrConnectionLost,
// ErrTimeout, ErrClosed, ...) or of the broker (ErrNotLeader,
// ErrUnknownAPI, ...); ErrUnknown if the broker's id is not positive.
func (s *partSender) initProducer(c *conn) (int64, error) {
	p := s.p
	var resp wire.InitProducerResponse
	err := c.roundTrip(p.cl.ctx, wire.InitProducer, &wire.InitProducerRequest{}, &resp, p.respTimeout)
	if err == nil {
		err = resp.Err()
	}
	if err == nil && resp.ProducerID <= 0 {
		err = fmt.Errorf("the broker gave producer id %d: %w", resp.ProducerID, ErrUnknown)
	}
	if err == nil {
		p.cl.log.Debug("minibroker: new producer id", "topic", s.topic, "partition", s.part, "producer_id", resp.ProducerID)
		return resp.ProducerID, nil
	}
	if p.cfg.Idempotence == IdempotenceAuto && (errors.Is(err, ErrUnknownAPI) || errors.Is(err, ErrUnsupportedVersion)) {
		if p.idemDropped.CompareAndSwap(false, true) {
			p.cl.log.Warn("minibroker: the broker does not support idempotent produce; producing without it (a retry may store a batch twice)",
				"addr", c.addr, "err", err)
		}
		return 0, nil
	}
	return 0, fmt.Errorf("minibroker: InitProducer for %s/%d at %s: %w", s.topic, s.part, c.addr, err)
}

// idempotentAnswer handles the error answers particular to an idempotent
// produce of b, reporting whether it completed b:
//   - DuplicateSequence: b was stored long ago and the broker no longer
//     remembers where: a success with Offset -1;
//   - OutOfOrderSequence: the broker has not stored b under its id and
//     sequence (an earlier batch is missing), so no attempt of b under
//     this id was stored; failed retries it behind the missing batch;
//   - UnknownProducer: the broker has forgotten the id (it expired):
//     abandon it; failed sends b again under a new one.
func (s *partSender) idempotentAnswer(b *batch, resp *wire.ProduceResponse) bool {
	switch resp.ErrorCode {
	case wire.CodeDuplicateSequence:
		s.complete(b, -1, nil)
		return true
	case wire.CodeOutOfOrderSequence:
		b.uncertain = false
	case wire.CodeUnknownProducer:
		s.abandonPID(b.pid, "the broker does not know it")
	}
	return false
}

// behindOutstanding reports whether a batch of the partition older than b
// is still outstanding (queued, in flight or being retried).
func (s *partSender) behindOutstanding(b *batch) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for x := range s.outstanding {
		if x.seq < b.seq {
			return true
		}
	}
	return false
}
