package replication

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Idempotent producers, of both protocols alike. A producer id is the Raft
// index of its InitProducer entry. For each (producer, partition) the
// state machine keeps the producer's epoch, the next expected sequence
// number and the last few batches it stored, so that a retried batch is
// acknowledged again with its original offset instead of being stored
// twice. The state is part of metaState: replicated, in snapshots, and so
// it survives failover and restarts.
//
// Epochs follow Kafka. A batch with an epoch below the partition's is
// refused (ErrInvalidProducerEpoch: a fenced, older incarnation). One with
// a higher epoch must start at sequence 0 and resets the partition's state
// to that epoch (KIP-360: a client bumps its own epoch to start its
// sequences over after an unknown outcome). Within an epoch, sequences
// follow on from batch to batch.
//
// Bounds: recentBatches per (producer, partition); producers idle for
// ProducerIdleTimeout (by leader-stamped command time, so every replica
// expires the same ones) are dropped and must get a new id.
const (
	recentBatches = 5
	// ProducerIdleTimeout drops a producer that has not appended for this
	// long. It is a constant, not a setting: every replica must agree.
	ProducerIdleTimeout = 24 * time.Hour
)

// producerState is one producer's dedup state.
type producerState struct {
	ID       int64          `msgpack:"id"`
	LastSeen int64          `msgpack:"ls"` // leader-stamped ms of its last command
	Parts    []producerPart `msgpack:"p"`  // few: a client uses one id per partition
}

// producerPart is a producer's state in one partition.
type producerPart struct {
	Topic     string        `msgpack:"t"`
	Partition int32         `msgpack:"p"`
	NextSeq   int32         `msgpack:"n"` // sequence the next new batch must start at
	Recent    []recentBatch `msgpack:"r"` // oldest first, at most recentBatches, all of Epoch
	Epoch     int16         `msgpack:"e"` // the epoch of the last batch stored (0 before any)
}

// recentBatch remembers where a stored batch landed.
type recentBatch struct {
	FirstSeq   int32 `msgpack:"s"`
	Count      int32 `msgpack:"c"`
	BaseOffset int64 `msgpack:"o"` // -1: not placed yet by replay (replayAppend), or from an older version
}

func (p *producerState) clone() *producerState {
	c := *p
	c.Parts = make([]producerPart, len(p.Parts))
	for i, pp := range p.Parts {
		c.Parts[i] = pp
		c.Parts[i].Recent = append([]recentBatch(nil), pp.Recent...)
	}
	return &c
}

// part returns the state of topic/partition, adding it if missing.
func (p *producerState) part(topic string, partition int32) *producerPart {
	if pp := p.find(topic, partition); pp != nil {
		return pp
	}
	p.Parts = append(p.Parts, producerPart{Topic: topic, Partition: partition})
	return &p.Parts[len(p.Parts)-1]
}

// checkSequence checks what needs no state in an idempotent batch's
// sequence: the batch's first sequence is not negative and its last,
// sequence+count-1, fits in an int32. count is the batch's record count.
// It returns nil or an error wrapping ErrInvalidSequence.
func checkSequence(sequence int32, count int) error {
	if sequence < 0 {
		return fmt.Errorf("%w: %d is negative", ErrInvalidSequence, sequence)
	}
	if int64(sequence)+int64(count) > math.MaxInt32 {
		return fmt.Errorf("%w: sequence %d plus %d records passes %d", ErrInvalidSequence, sequence, count, int32(math.MaxInt32))
	}
	return nil
}

// checkEpoch checks what needs no state in an idempotent batch's epoch:
// it is not negative. It returns nil or an error wrapping
// ErrInvalidProducerEpoch.
func checkEpoch(epoch int16) error {
	if epoch < 0 {
		return fmt.Errorf("%w: %d is negative", ErrInvalidProducerEpoch, epoch)
	}
	return nil
}

// dedupCheck decides what to do with an idempotent batch of count
// records. It returns (result, true) when the batch must not be appended:
// a duplicate to ack again, or an error (ErrUnknownProducer,
// ErrInvalidProducerEpoch, ErrInvalidSequence, ErrOutOfOrderSequence,
// ErrDuplicateSequence). It does not change the state, and it never
// panics, whatever the command holds: Apply runs it on client-shaped
// input.
func (m *metaState) dedupCheck(c *AppendCmd, count int) (any, bool) {
	p, ok := m.Producers[c.ProducerID]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownProducer, c.ProducerID), true
	}
	if err := checkEpoch(c.ProducerEpoch); err != nil {
		return fmt.Errorf("producer %d: %w", c.ProducerID, err), true
	}
	if err := checkSequence(c.Sequence, count); err != nil {
		return fmt.Errorf("producer %d: %w", c.ProducerID, err), true
	}
	pp := p.find(c.Topic, c.Partition)
	if pp == nil {
		// The producer's first batch in this partition: it starts at 0,
		// in whatever epoch.
		if c.Sequence == 0 {
			return nil, false
		}
		return fmt.Errorf("%w: producer %d sent sequence %d, expected 0", ErrOutOfOrderSequence, c.ProducerID, c.Sequence), true
	}
	switch {
	case c.ProducerEpoch < pp.Epoch:
		return fmt.Errorf("%w: producer %d sent epoch %d, the partition has seen %d", ErrInvalidProducerEpoch,
			c.ProducerID, c.ProducerEpoch, pp.Epoch), true
	case c.ProducerEpoch > pp.Epoch:
		// A bumped epoch starts its sequences over.
		if c.Sequence == 0 {
			return nil, false
		}
		return fmt.Errorf("%w: producer %d sent sequence %d in its new epoch %d, expected 0", ErrOutOfOrderSequence,
			c.ProducerID, c.Sequence, c.ProducerEpoch), true
	}
	next := pp.NextSeq
	switch {
	case c.Sequence == next:
		return nil, false
	case c.Sequence > next:
		return fmt.Errorf("%w: producer %d sent sequence %d, expected %d", ErrOutOfOrderSequence, c.ProducerID, c.Sequence, next), true
	}
	for _, rb := range pp.Recent {
		if rb.FirstSeq == c.Sequence && int(rb.Count) == count {
			return AppendResult{BaseOffset: rb.BaseOffset, Count: count, Duplicate: true}, true
		}
	}
	return fmt.Errorf("%w: producer %d sequence %d (next is %d)", ErrDuplicateSequence, c.ProducerID, c.Sequence, next), true
}

func (p *producerState) find(topic string, partition int32) *producerPart {
	for i := range p.Parts {
		if p.Parts[i].Topic == topic && p.Parts[i].Partition == partition {
			return &p.Parts[i]
		}
	}
	return nil
}

// dedupRecord notes a stored batch that dedupCheck accepted, at offset
// base (-1 while replay has not placed it yet; see replayAppend). A
// producer that has expired since is ignored.
func (m *metaState) dedupRecord(c *AppendCmd, count int, base int64) {
	p, ok := m.Producers[c.ProducerID]
	if !ok {
		return
	}
	p.LastSeen = max(p.LastSeen, c.Timestamp)
	pp := p.part(c.Topic, c.Partition)
	if c.ProducerEpoch != pp.Epoch {
		// dedupCheck accepted a new epoch (or a first batch in any epoch):
		// the partition's state starts over in it, at sequence 0.
		pp.Epoch, pp.NextSeq, pp.Recent = c.ProducerEpoch, 0, pp.Recent[:0]
	}
	// dedupCheck accepted it, so c.Sequence is NextSeq (above every
	// remembered batch's) and checkSequence bounded the sum.
	pp.NextSeq = max(pp.NextSeq, c.Sequence+int32(count))
	pp.Recent = append(pp.Recent, recentBatch{FirstSeq: c.Sequence, Count: int32(count), BaseOffset: base})
	if len(pp.Recent) > recentBatches {
		pp.Recent = append(pp.Recent[:0], pp.Recent[len(pp.Recent)-recentBatches:]...)
	}
}

// setRecentBase sets the base offset of the producer's batch at sequence
// in epoch in topic/partition if it is remembered without one (-1). Replay
// uses it to place batches that retention removed (see fillReplayGap).
func (m *metaState) setRecentBase(id int64, topic string, partition int32, epoch int16, sequence int32, base int64) {
	p, ok := m.Producers[id]
	if !ok {
		return
	}
	pp := p.find(topic, partition)
	if pp == nil || pp.Epoch != epoch {
		return // a later epoch's batches replaced the batch's
	}
	for i := range pp.Recent {
		if rb := &pp.Recent[i]; rb.FirstSeq == sequence && rb.BaseOffset < 0 {
			rb.BaseOffset = base
		}
	}
}

// expireProducers drops producers idle since before now-ProducerIdleTimeout.
// The result does not depend on map order.
func (m *metaState) expireProducers(now int64) {
	cutoff := now - ProducerIdleTimeout.Milliseconds()
	for id, p := range m.Producers {
		if p.LastSeen < cutoff {
			delete(m.Producers, id)
		}
	}
}

// dropTopicProducers forgets a deleted topic's dedup state.
func (m *metaState) dropTopicProducers(topic string) {
	for _, p := range m.Producers {
		parts := p.Parts[:0]
		for _, pp := range p.Parts {
			if pp.Topic != topic {
				parts = append(parts, pp)
			}
		}
		p.Parts = parts
	}
}

// sortedProducers lists producers by id, for encoding.
func (m *metaState) sortedProducers() []*producerState {
	out := make([]*producerState, 0, len(m.Producers))
	for _, p := range m.Producers {
		out = append(out, p.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (f *FSM) applyInitProducer(index uint64, body []byte) any {
	if index <= f.meta.Index {
		return int64(index) // applied before a restart
	}
	var c InitProducerCmd
	if err := decodeBody(body, &c); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.meta.expireProducers(c.Timestamp)
	f.meta.Producers[int64(index)] = &producerState{ID: int64(index), LastSeen: c.Timestamp}
	f.meta.Index = index
	return int64(index)
}
