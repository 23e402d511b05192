package replication

import (
	"fmt"

	mlog "github.com/minibroker/minibroker/log"
)

// ValidateAppend checks an append before it is proposed, so that the
// checks a client can fail are reported to it whatever its acks level:
// with AcksNone or AcksLeader the caller is answered before Apply runs,
// and Apply's verdict reaches nobody. It is what Submit (and so Append)
// runs first; a front door that builds appends itself may call it
// earlier. The arguments are Submit's.
//
// It checks, without state: that batch is one whole batch with at least
// one record; for an idempotent append (the batch's producer id is not -1)
// that acks is AcksAll, that the producer id is positive (ErrUnknownProducer),
// and that the epoch (ErrInvalidProducerEpoch) and the sequence (see
// ErrInvalidSequence) are valid. On a ready leader (Node.IsReady: its
// state machine has applied everything committed before its term) it also
// checks against the applied state that the topic and partition exist and
// that the producer id is known. Elsewhere it skips those: a follower's
// state may lag, and the write is refused as not-leader anyway.
//
// What it cannot see, Apply still decides: a topic deleted, or a producer
// expired, between this check and Apply; the order of sequences and
// epochs (batches in flight ahead of this one are not applied yet). See
// docs/guarantees.md.
//
// It does not block and is safe for concurrent use. Errors: ErrBadCommand
// (the batch), ErrIdempotenceNeedsAcksAll, ErrInvalidProducerEpoch,
// ErrInvalidSequence, ErrUnknownTopic, ErrUnknownPartition,
// ErrUnknownProducer.
func (s *Store) ValidateAppend(topic string, partition int32, batch mlog.Batch, acks Acks) error {
	b, rest, err := mlog.ParseBatch(batch)
	if err != nil || len(rest) != 0 {
		return fmt.Errorf("%w: append to %s/%d: batch: %v (%d bytes after it)", ErrBadCommand, topic, partition, err, len(rest))
	}
	producerID := b.ProducerID()
	if producerID != -1 {
		if producerID <= 0 {
			return fmt.Errorf("%w: %d", ErrUnknownProducer, producerID)
		}
		if acks != AcksAll {
			return fmt.Errorf("%w: producer %d sent acks=%v", ErrIdempotenceNeedsAcksAll, producerID, acks)
		}
		if err := checkEpoch(b.ProducerEpoch()); err != nil {
			return fmt.Errorf("producer %d: %w", producerID, err)
		}
		if err := checkSequence(b.BaseSequence(), b.Count()); err != nil {
			return fmt.Errorf("producer %d: %w", producerID, err)
		}
	} else {
		producerID = 0
	}
	if !s.node.IsReady() {
		return nil
	}
	return s.fsm.validateAppend(topic, partition, producerID)
}

// validateAppend checks an append against the applied state: the
// partition exists and the producer (if not 0) is known.
func (f *FSM) validateAppend(topic string, partition int32, producerID int64) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if _, err := f.partitionLocked(topic, partition); err != nil {
		return err
	}
	if producerID != 0 {
		if _, ok := f.meta.Producers[producerID]; !ok {
			return fmt.Errorf("%w: %d", ErrUnknownProducer, producerID)
		}
	}
	return nil
}
