package replication

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// AppendResult is the response to an applied Append: where the batch landed.
type AppendResult struct {
	BaseOffset int64 // offset of the batch's first record
	Count      int   // number of records
	// Replayed is true when the entry had been applied before a restart and
	// was skipped; BaseOffset is then -1. (The response of a replayed entry
	// reaches no client: raft has no caller waiting for it.)
	Replayed bool
	// Duplicate is true when an idempotent producer's retry of a batch
	// already stored was acknowledged again (BaseOffset is the original).
	Duplicate bool
}

func (f *FSM) applyAppend(index, term uint64, body []byte) any {
	c, err := decodeAppend(body)
	if err != nil {
		return err
	}
	f.tick(c.Timestamp)
	if index <= f.meta.Index {
		// The metadata on disk is newer than raft's last snapshot (one the
		// FSM persisted and raft did not record): it holds this entry's
		// effect, and every batch applied up to it was fsynced before it
		// was written. Its topics are not the ones this entry saw — the
		// topic may have been created, or deleted and created again,
		// since — so the entry is not even looked up.
		return AppendResult{BaseOffset: -1, Replayed: true}
	}
	f.mu.RLock()
	p, err := f.partitionLocked(c.Topic, c.Partition)
	f.mu.RUnlock()
	if err != nil {
		return err
	}
	if index <= p.lastIndex {
		return f.replayAppend(index, &c, p)
	}
	// The batch aliases the raft entry's data; the log writes its header in
	// place, so work on a copy and leave raft's buffer as it was. The copy
	// goes into a buffer reused from entry to entry (the log keeps no
	// reference to what it appended); a large one is not kept.
	f.scratch = append(f.scratch[:0], c.Batch...)
	if cap(f.scratch) > maxScratch {
		defer func() { f.scratch = nil }()
	}
	b, err := parseAppendBatch(index, f.scratch)
	if err != nil {
		return err
	}
	if err := checkProducerFields(index, &c, b); err != nil {
		return err
	}
	if c.ProducerID != 0 {
		f.mu.RLock()
		r, done := f.meta.dedupCheck(&c, b.Count())
		f.mu.RUnlock()
		if done {
			return r
		}
	}
	if len(p.replayGap) > 0 {
		// Replay left batches whose offsets it could not place yet; they
		// end where the log ends (see replayAppend).
		f.fillReplayGap(p, p.log.NextOffset())
	}
	b.SetMeta(index)
	b.SetLeaderEpoch(leaderEpoch(term))
	base, err := p.log.Append(b)
	if err != nil {
		return f.fail(fmt.Sprintf("append to %s/%d", c.Topic, c.Partition), err)
	}
	p.lastIndex = index
	if c.ProducerID != 0 {
		f.mu.Lock()
		f.meta.dedupRecord(&c, b.Count(), base)
		f.mu.Unlock()
	}
	f.woken = appendOnce(f.woken, p)
	f.appendBytes.Add(int64(len(b)))
	f.appendCount.Add(1)
	if f.cfg.SnapshotBytes > 0 && f.sinceSnap.Add(int64(len(b))) >= f.cfg.SnapshotBytes {
		select {
		case f.snapWant <- struct{}{}:
		default:
		}
	}
	return AppendResult{BaseOffset: base, Count: b.Count()}
}

// leaderEpoch is the Kafka partition leader epoch of a batch appended by
// an entry of this Raft term: the term, clamped to an int32.
func leaderEpoch(term uint64) int32 {
	return int32(min(term, math.MaxInt32))
}

// maxScratch is the largest copy buffer applyAppend keeps between entries.
const maxScratch = 4 << 20

func appendOnce(ps []*partition, p *partition) []*partition {
	for _, q := range ps {
		if q == p {
			return ps
		}
	}
	return append(ps, p)
}

// partitionLocked finds a partition; f.mu must be held.
func (f *FSM) partitionLocked(topic string, id int32) (*partition, error) {
	t, ok := f.meta.Topics[topic]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, topic)
	}
	if id < 0 || id >= t.Partitions {
		return nil, fmt.Errorf("%w: %s has partitions 0 to %d, not %d", ErrUnknownPartition, topic, t.Partitions-1, id)
	}
	return f.parts[partKey{topic, id}], nil
}

func (f *FSM) applyCreateTopic(index uint64, body []byte) any {
	if index <= f.meta.Index {
		return nil // applied before a restart
	}
	var c CreateTopicCmd
	if err := decodeBody(body, &c); err != nil {
		return err
	}
	if err := validateTopic(&c); err != nil {
		f.setMetaIndex(index)
		return err
	}
	if _, ok := f.meta.Topics[c.Name]; ok {
		f.setMetaIndex(index)
		return fmt.Errorf("%w: %q", ErrTopicExists, c.Name)
	}
	t := &Topic{Name: c.Name, Partitions: c.Partitions, Config: c.Config, CreateIndex: index}
	parts := make([]*partition, 0, c.Partitions)
	for i := int32(0); i < c.Partitions; i++ {
		p, err := openPartition(f.stateDir, t, i, f.cfg.FS, f.cfg.LogSync, f.clock, f.logger)
		if err != nil {
			for _, q := range parts {
				q.log.Close()
			}
			return f.fail("create topic "+c.Name, err)
		}
		parts = append(parts, p)
	}
	f.mu.Lock()
	f.meta.Topics[t.Name] = t
	for _, p := range parts {
		f.parts[partKey{t.Name, p.id}] = p
	}
	f.meta.Index = index
	f.mu.Unlock()
	return nil
}

func (f *FSM) applyDeleteTopic(index uint64, body []byte) any {
	if index <= f.meta.Index {
		return nil
	}
	var c DeleteTopicCmd
	if err := decodeBody(body, &c); err != nil {
		return err
	}
	f.mu.Lock()
	t, ok := f.meta.Topics[c.Name]
	if !ok {
		f.meta.Index = index
		f.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownTopic, c.Name)
	}
	delete(f.meta.Topics, c.Name)
	var gone []*partition
	for i := int32(0); i < t.Partitions; i++ {
		k := partKey{c.Name, i}
		gone = append(gone, f.parts[k])
		delete(f.parts, k)
	}
	for k := range f.meta.Offsets { // the result does not depend on map order
		if k.Topic == c.Name {
			delete(f.meta.Offsets, k)
		}
	}
	f.meta.dropTopicProducers(c.Name)
	f.meta.Index = index
	f.mu.Unlock()
	for _, p := range gone {
		p.log.Close()
		p.wake() // long polls on the topic return and find it gone
	}
	if err := os.RemoveAll(filepath.Join(f.stateDir, topicDir(t.Name, t.CreateIndex))); err != nil {
		return f.fail("delete topic "+c.Name, err)
	}
	return nil
}

// applyCommitOffset applies the legacy, unfenced CommitOffsetCmd (see
// there): it stores the offset unless that would move it backward.
func (f *FSM) applyCommitOffset(index uint64, body []byte) any {
	if index <= f.meta.Index {
		return nil
	}
	var c CommitOffsetCmd
	if err := decodeBody(body, &c); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.meta.Index = index
	if _, err := f.partitionLocked(c.Topic, c.Partition); err != nil {
		return err
	}
	key := OffsetKey{c.Group, c.Topic, c.Partition}
	if cur, ok := f.meta.Offsets[key]; ok && c.Offset < cur.Offset {
		return fmt.Errorf("%w: commit offset %d < committed %d for %s/%s/%d", ErrOffsetRegression, c.Offset, cur.Offset, c.Group, c.Topic, c.Partition)
	}
	f.meta.Offsets[key] = CommittedOffset{
		Offset: c.Offset, Generation: c.Generation, Metadata: c.Metadata, Timestamp: c.Timestamp,
	}
	return nil
}

func (f *FSM) applyRegisterNode(index uint64, body []byte) any {
	if index <= f.meta.Index {
		return nil
	}
	var c RegisterNodeCmd
	if err := decodeBody(body, &c); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.meta.Index = index
	if c.Addr == "" {
		delete(f.meta.Nodes, c.ID)
		delete(f.meta.KafkaAddrs, c.ID)
		return nil
	}
	f.meta.Nodes[c.ID] = c.Addr
	if c.KafkaAddr == "" {
		delete(f.meta.KafkaAddrs, c.ID)
	} else {
		f.meta.KafkaAddrs[c.ID] = c.KafkaAddr
	}
	if _, ok := f.meta.NodeNums[c.ID]; !ok {
		// The largest number given so far does not depend on map order.
		var top int32
		for _, n := range f.meta.NodeNums {
			top = max(top, n)
		}
		if top < math.MaxInt32 {
			f.meta.NodeNums[c.ID] = top + 1
		}
	}
	return nil
}

func (f *FSM) setMetaIndex(index uint64) {
	f.mu.Lock()
	f.meta.Index = index
	f.mu.Unlock()
}
