package replication

import (
	"fmt"

	mlog "github.com/minibroker/minibroker/log"
)

// Replay of Append entries. After a restart raft replays its log from the
// last snapshot; the FSM reloaded that snapshot's metadata (meta.bin,
// written at the snapshot's index), but its partition logs already hold
// every batch applied before the restart. An Append entry at or below its
// partition's lastIndex is therefore not stored again; what replay must
// still do is bring the producers' dedup state to where straight
// application took it, so that every replica holds the same state:
//
//   - It takes the decision Apply took. The dedup state is rebuilt from the
//     snapshot's by replaying the entries in order, so dedupCheck sees what
//     it saw the first time and refuses the same batches; only batches that
//     were stored are recorded.
//   - It records the offset the batch got: the batch whose meta is the
//     entry's index, found in the log (mlog.Log.FindMeta).
//   - A batch retention has removed since is placed by arithmetic:
//     retention removes whole segments from the front of the log, so if
//     batch I is gone, every batch before it is too, and the batches of
//     the entries replayed from I on lie back to back, up to the first one
//     still in the log (or, if none is, up to the log's end). Until that
//     batch comes by, the gone ones wait in partition.replayGap with -1 as
//     their offset; it is filled in at the latest when the entry at
//     lastIndex is replayed, before any new batch is appended.

// gapBatch is an idempotent batch replayed after retention removed it from
// the log, whose offset is not known yet (see replayAppend).
type gapBatch struct {
	producer int64
	epoch    int16
	sequence int32
	before   int64 // records of the partition's gap batches before this one
}

// replayAppend handles an Append entry at or below p.lastIndex. Its
// response is what Apply returned the first time when that was an error or
// a duplicate; otherwise an AppendResult with Replayed set.
func (f *FSM) replayAppend(index uint64, c *AppendCmd, p *partition) any {
	replayed := AppendResult{BaseOffset: -1, Replayed: true}
	if c.ProducerID == 0 && len(p.replayGap) == 0 {
		return replayed // nothing to record, nothing to place
	}
	b, err := parseAppendBatch(index, c.Batch)
	if err != nil {
		return err
	}
	if err := checkProducerFields(index, c, b); err != nil {
		return err // refused the first time too
	}
	count := b.Count()
	if c.ProducerID != 0 {
		f.mu.RLock()
		r, done := f.meta.dedupCheck(c, count)
		f.mu.RUnlock()
		if done {
			return r // refused or acked as a duplicate: never in the log
		}
	}
	base, found, err := p.log.FindMeta(index)
	if err != nil {
		return f.fail(fmt.Sprintf("replay of %s/%d at index %d", c.Topic, c.Partition, index), err)
	}
	if found {
		f.fillReplayGap(p, base)
	} else {
		base = -1 // removed by retention: placed by fillReplayGap
	}
	if c.ProducerID != 0 {
		f.mu.Lock()
		f.meta.dedupRecord(c, count, base)
		f.mu.Unlock()
	}
	if !found {
		if c.ProducerID != 0 {
			p.replayGap = append(p.replayGap, gapBatch{producer: c.ProducerID, epoch: c.ProducerEpoch, sequence: c.Sequence,
				before: p.replayGapRecords})
		}
		p.replayGapRecords += int64(count)
		if index == p.lastIndex {
			f.fillReplayGap(p, p.log.NextOffset())
		}
	}
	return replayed
}

// fillReplayGap gives the batches waiting in p.replayGap their offsets:
// they lie back to back and end at next, the base offset of the first
// batch after them.
func (f *FSM) fillReplayGap(p *partition, next int64) {
	if len(p.replayGap) > 0 {
		first := next - p.replayGapRecords
		f.mu.Lock()
		for _, g := range p.replayGap {
			f.meta.setRecentBase(g.producer, p.topic.Name, p.id, g.epoch, g.sequence, first+g.before)
		}
		f.mu.Unlock()
	}
	p.replayGap, p.replayGapRecords = nil, 0
}

// parseAppendBatch parses an Append command's batch, which must be one
// whole batch. Errors wrap ErrBadCommand.
func parseAppendBatch(index uint64, buf []byte) (mlog.Batch, error) {
	b, rest, err := mlog.ParseBatch(buf)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: batch at index %d: %v (%d bytes after it)", ErrBadCommand, index, err, len(rest))
	}
	return b, nil
}

// checkProducerFields checks that an Append command's producer fields are
// its batch header's, as Store.Submit fills them: ProducerID 0 for a batch
// without a producer (id -1), else the same id, epoch and base sequence.
// Errors wrap ErrBadCommand.
func checkProducerFields(index uint64, c *AppendCmd, b mlog.Batch) error {
	if c.ProducerID == 0 && b.ProducerID() == -1 {
		return nil
	}
	if c.ProducerID == 0 || b.ProducerID() != c.ProducerID || b.ProducerEpoch() != c.ProducerEpoch || b.BaseSequence() != c.Sequence {
		return fmt.Errorf("%w: append at index %d: producer %d epoch %d sequence %d, its batch says %d, %d, %d", ErrBadCommand,
			index, c.ProducerID, c.ProducerEpoch, c.Sequence, b.ProducerID(), b.ProducerEpoch(), b.BaseSequence())
	}
	return nil
}
