package client

import (
	"math/rand/v2"
	"sync"
	"time"
)

// AnyPartition in Message.Partition lets the Partitioner choose.
const AnyPartition int32 = -1

// Message is a record to produce.
//
// The producer keeps references to Key, Value and Headers (it does not
// copy them) until the message is acknowledged or failed: do not modify
// them before Produce returns or ProduceAsync's callback runs.
type Message struct {
	Topic string
	// Partition is used as given when it is positive, or when the
	// Producer's Partitioner is ManualPartitioner. Otherwise (the zero
	// value, or AnyPartition) the Partitioner chooses: with the default
	// one, by the hash of Key. So a Message with Partition 0 is
	// partitioned by key; to pin messages to partition 0, use
	// ManualPartitioner.
	Partition int32
	Key       []byte // nil is distinct from empty
	Value     []byte
	Headers   []Header
	// Timestamp is the record's time (millisecond precision). Zero asks
	// the broker to stamp it.
	Timestamp time.Time
}

// Header is a key/value pair attached to a record.
type Header struct {
	Key   string
	Value []byte
}

// Result is where a produced message was stored.
type Result struct {
	Topic     string
	Partition int32
	// Offset is the record's offset with AcksAll, else -1 (offsets are
	// assigned after the answer, or no answer is awaited).
	Offset int64
}

// Record is a record read from a partition.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time // set by the producer or stamped by the broker
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Partitioner chooses the partition of a message whose Partition is not
// set (see Message.Partition). Implementations must be safe for
// concurrent use and fast (they run in Produce); msg must not be kept or
// modified. A result outside [0, numPartitions) fails the message with
// ErrUnknownPartition.
type Partitioner interface {
	Partition(msg *Message, numPartitions int32) int32
}

// ManualPartitioner sends every message to its Message.Partition,
// including 0.
type ManualPartitioner struct{}

// Partition returns msg.Partition.
func (ManualPartitioner) Partition(msg *Message, _ int32) int32 { return msg.Partition }

// HashKey returns the partition the default partitioner gives a non-nil
// key: the 32-bit FNV-1a hash of the key's bytes, as an unsigned number,
// modulo numPartitions. It is stable across versions and processes, so
// other clients can reproduce it. numPartitions must be positive.
func HashKey(key []byte, numPartitions int32) int32 {
	const (
		offset32 = 2166136261
		prime32  = 16777619
	)
	h := uint32(offset32)
	for _, c := range key {
		h ^= uint32(c)
		h *= prime32
	}
	return int32(h % uint32(numPartitions))
}

// sticky is the default partitioner's choice for nil keys: each topic's
// messages go to one partition until batchBytes have gone there, then to
// the next ("uniform sticky"), so nil-key messages form full batches
// instead of one small batch per partition.
type sticky struct {
	batchBytes int
	mu         sync.Mutex              // guards topics
	topics     map[string]*stickyTopic // by topic
}

type stickyTopic struct {
	part  int32 // current partition
	bytes int   // bytes sent to part since it became current
}

// pick returns the partition for a nil-key message of size bytes.
func (s *sticky) pick(topic string, n int32, size int) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.topics[topic]
	if st == nil {
		st = &stickyTopic{part: rand.Int32N(n)}
		s.topics[topic] = st
	}
	switch {
	case st.part >= n:
		st.part, st.bytes = rand.Int32N(n), 0
	case st.bytes >= s.batchBytes:
		st.part, st.bytes = (st.part+1)%n, 0
	}
	st.bytes += size
	return st.part
}
