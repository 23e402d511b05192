package replication

import (
	"errors"
	"fmt"
	"sort"

	mlog "github.com/minibroker/minibroker/log"
)

// The read side of the FSM. Everything here is safe for concurrent use with
// Apply and serves only applied (committed) data.

// Read returns whole record batches of a partition from offset on, at most
// maxBytes but at least one batch (see log.Log.Read). Reading at the
// high-water mark returns no bytes. It returns ErrUnknownTopic,
// ErrUnknownPartition, or mlog.ErrOffsetOutOfRange (an
// *mlog.OffsetRangeError).
func (f *FSM) Read(topic string, partition int32, offset int64, maxBytes int) ([]byte, error) {
	return f.ReadInto(nil, topic, partition, offset, maxBytes)
}

// ReadInto is Read reusing dst's storage (see log.Log.ReadInto).
func (f *FSM) ReadInto(dst []byte, topic string, partition int32, offset int64, maxBytes int) ([]byte, error) {
	p, err := f.partition(topic, partition)
	if err != nil {
		return nil, err
	}
	b, err := p.log.ReadInto(dst, offset, maxBytes)
	if errors.Is(err, mlog.ErrClosed) { // deleted (or replaced by a restore) meanwhile
		return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, topic)
	}
	return b, err
}

// Offsets returns a partition's start offset and high-water mark (the
// offset after the last applied record).
func (f *FSM) Offsets(topic string, partition int32) (start, end int64, err error) {
	p, err := f.partition(topic, partition)
	if err != nil {
		return 0, 0, err
	}
	return p.log.StartOffset(), p.log.NextOffset(), nil
}

// Changed returns a channel closed the next time records are applied to the
// partition (or it is deleted). Take it before checking Offsets, then wait
// on it: no append can slip in between unseen.
func (f *FSM) Changed(topic string, partition int32) (<-chan struct{}, error) {
	p, err := f.partition(topic, partition)
	if err != nil {
		return nil, err
	}
	return p.changed(), nil
}

func (f *FSM) partition(topic string, id int32) (*partition, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.partitionLocked(topic, id)
}

// Topics returns a copy of every topic, sorted by name.
func (f *FSM) Topics() []Topic {
	f.mu.RLock()
	defer f.mu.RUnlock()
	ts := f.meta.sortedTopics()
	out := make([]Topic, len(ts))
	for i, t := range ts {
		out[i] = *t
	}
	return out
}

// Topic returns a copy of one topic.
func (f *FSM) Topic(name string) (Topic, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	t, ok := f.meta.Topics[name]
	if !ok {
		return Topic{}, false
	}
	return *t, true
}

// Nodes returns the registered client address of every node, sorted by id.
func (f *FSM) Nodes() []NodeAddr {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]NodeAddr, 0, len(f.meta.Nodes))
	for id, addr := range f.meta.Nodes {
		out = append(out, NodeAddr{ID: id, Addr: addr, KafkaAddr: f.meta.KafkaAddrs[id], Num: f.meta.NodeNums[id]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// NodeNum returns the numeric id the cluster gave node id when it first
// registered (see RegisterNodeCmd), and false for a node that never did.
// It is safe for concurrent use.
func (f *FSM) NodeNum(id string) (int32, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n, ok := f.meta.NodeNums[id]
	return n, ok
}

// NodeAddr is a registered node: its id, its numeric id (Kafka's broker
// id), and its client addresses (KafkaAddr empty if it serves no Kafka
// listener).
type NodeAddr struct {
	ID        string
	Addr      string
	KafkaAddr string
	Num       int32
}

// CommittedOffset returns a group's committed offset for a partition.
func (f *FSM) CommittedOffset(group, topic string, partition int32) (CommittedOffset, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	c, ok := f.meta.Offsets[OffsetKey{group, topic, partition}]
	return c, ok
}

// PartitionStat is one partition's size and offsets at one moment.
type PartitionStat struct {
	Topic         string
	Partition     int32
	SizeBytes     int64 // total size of the partition's segments
	StartOffset   int64 // first offset still stored
	HighWatermark int64 // offset the next applied record will get
}

// PartitionStats appends the size and offsets of every partition to dst,
// sorted by topic and partition, and returns it. It holds the FSM's read
// lock only while it lists the partitions; a partition deleted meanwhile may
// still be reported once. It does not block on Apply. Safe for concurrent
// use; meant for metrics scrapes.
func (f *FSM) PartitionStats(dst []PartitionStat) []PartitionStat {
	for _, p := range f.sortedParts() {
		dst = append(dst, PartitionStat{
			Topic: p.topic.Name, Partition: p.id, SizeBytes: p.log.Size(),
			StartOffset: p.log.StartOffset(), HighWatermark: p.log.NextOffset(),
		})
	}
	return dst
}

// sortedParts returns the open partitions sorted by topic and partition,
// listed under the read lock (a partition deleted right after may still be
// in the list). Safe for concurrent use.
func (f *FSM) sortedParts() []*partition {
	f.mu.RLock()
	parts := make([]*partition, 0, len(f.parts))
	for _, p := range f.parts {
		parts = append(parts, p)
	}
	f.mu.RUnlock()
	sort.Slice(parts, func(i, j int) bool {
		a, b := parts[i], parts[j]
		if a.topic.Name != b.topic.Name {
			return a.topic.Name < b.topic.Name
		}
		return a.id < b.id
	})
	return parts
}
