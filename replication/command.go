package replication

import (
	"bytes"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// CommandType is the first byte of every Raft command; a msgpack body
// follows. The values are persisted in Raft logs and snapshots forever:
// only add to the end, never renumber or reuse.
type CommandType uint8

const (
	cmdInvalid      CommandType = iota // 0 is never written
	CmdCreateTopic                     // CreateTopicCmd
	CmdDeleteTopic                     // DeleteTopicCmd
	CmdAppend                          // AppendCmd
	CmdCommitOffset                    // CommitOffsetCmd
	CmdRegisterNode                    // RegisterNodeCmd
	CmdInitProducer                    // InitProducerCmd
	CmdHousekeeping                    // HousekeepingCmd
	// Reserved for what comes next: group membership (join/sync/leave/
	// expire). Only add to the end.
)

func (t CommandType) String() string {
	switch t {
	case CmdCreateTopic:
		return "CreateTopic"
	case CmdDeleteTopic:
		return "DeleteTopic"
	case CmdAppend:
		return "Append"
	case CmdCommitOffset:
		return "CommitOffset"
	case CmdRegisterNode:
		return "RegisterNode"
	case CmdInitProducer:
		return "InitProducer"
	case CmdHousekeeping:
		return "Housekeeping"
	}
	return fmt.Sprintf("CommandType(%d)", uint8(t))
}

// TopicConfig is a topic's settings, replicated with it. Zero fields take
// the log package's defaults (keep everything, 64 MiB segments).
type TopicConfig struct {
	RetentionBytes int64 `msgpack:"rb,omitempty"` // per partition; 0 = unlimited
	RetentionMs    int64 `msgpack:"rm,omitempty"` // 0 = unlimited
	SegmentBytes   int64 `msgpack:"sb,omitempty"` // 0 = default
}

// CreateTopicCmd creates a topic with Partitions partitions.
type CreateTopicCmd struct {
	Name       string      `msgpack:"n"`
	Partitions int32       `msgpack:"p"`
	Config     TopicConfig `msgpack:"c"`
}

// DeleteTopicCmd deletes a topic and its data.
type DeleteTopicCmd struct {
	Name string `msgpack:"n"`
}

// AppendCmd appends one record batch (log.Batch bytes, made by
// log.AppendBatch) to a partition. Timestamp is stamped by the leader when it
// proposes the command (ms since the epoch); Apply uses it as "now" for
// segment rolls and retention, never the local clock.
//
// It is the hot path, so it is a msgpack array [Topic, Partition,
// Timestamp, Batch, ProducerID, Sequence] encoded and decoded by hand
// (append.go) rather than by reflection; fields are only ever appended.
// ProducerID 0 means no idempotence; otherwise Sequence numbers the
// batch's first record in that producer's sequence for the partition.
type AppendCmd struct {
	_msgpack   struct{} `msgpack:",as_array"`
	Topic      string
	Partition  int32
	Timestamp  int64
	Batch      []byte
	ProducerID int64
	Sequence   int32
}

// HousekeepingCmd is proposed by the leader every HousekeepingInterval:
// with its leader-stamped time every replica applies retention by age to
// idle partitions (which no append would roll) and expires idle producers,
// all alike.
type HousekeepingCmd struct {
	Timestamp int64 `msgpack:"ts"`
}

// InitProducerCmd allocates a producer id: the Raft index of the entry,
// unique and the same on every replica. Timestamp (leader-stamped) marks
// the producer alive and drives the expiry of idle producers.
type InitProducerCmd struct {
	Timestamp int64 `msgpack:"ts"`
}

// CommitOffsetCmd records a consumer group's committed offset for a
// partition. Generation fencing is checked by the group coordinator, which
// lands with consumer groups; Apply stores what it is given.
type CommitOffsetCmd struct {
	Group      string `msgpack:"g"`
	Topic      string `msgpack:"t"`
	Partition  int32  `msgpack:"p"`
	Offset     int64  `msgpack:"o"`
	Generation int32  `msgpack:"gen"`
	Metadata   string `msgpack:"m,omitempty"`
	Timestamp  int64  `msgpack:"ts"`
}

// RegisterNodeCmd records a node's client address, so that every node can
// tell clients where the others are.
type RegisterNodeCmd struct {
	ID   string `msgpack:"id"`
	Addr string `msgpack:"a"`
}

// encodeCommand returns t followed by the msgpack encoding of body, encoded
// straight into one buffer.
func encodeCommand(t CommandType, body any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(byte(t))
	if err := msgpack.NewEncoder(&buf).Encode(body); err != nil {
		return nil, fmt.Errorf("replication: encode %v: %w", t, err)
	}
	return buf.Bytes(), nil
}

// decodeBody decodes a command body into v.
func decodeBody(data []byte, v any) error {
	if err := msgpack.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	return nil
}
