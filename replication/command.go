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
	cmdInvalid       CommandType = iota // 0 is never written
	CmdCreateTopic                      // CreateTopicCmd
	CmdDeleteTopic                      // DeleteTopicCmd
	CmdAppend                           // AppendCmd
	CmdCommitOffset                     // CommitOffsetCmd
	CmdRegisterNode                     // RegisterNodeCmd
	CmdInitProducer                     // InitProducerCmd
	CmdHousekeeping                     // HousekeepingCmd
	CmdSyncGroup                        // SyncGroupCmd
	CmdRemoveMembers                    // RemoveMembersCmd
	CmdCommitOffsets                    // CommitOffsetsCmd
	CmdResetOffsets                     // ResetOffsetsCmd
	CmdDeleteGroup                      // DeleteGroupCmd
	CmdDigest                           // DigestCmd
	CmdKafkaGroup                       // KafkaGroupCmd
	CmdDeleteOffsets                    // DeleteOffsetsCmd
	CmdPutUser                          // PutUserCmd (16)
	CmdDeleteUser                       // DeleteUserCmd (17)
	// Only add to the end.
)

// ACL commands (acls.go), numbered explicitly: 16 and 17 are the users'
// commands (CmdPutUser, CmdDeleteUser).
const (
	CmdCreateACLs CommandType = 18 // CreateACLsCmd
	CmdDeleteACLs CommandType = 19 // DeleteACLsCmd
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
	case CmdSyncGroup:
		return "SyncGroup"
	case CmdRemoveMembers:
		return "RemoveMembers"
	case CmdCommitOffsets:
		return "CommitOffsets"
	case CmdResetOffsets:
		return "ResetOffsets"
	case CmdDeleteGroup:
		return "DeleteGroup"
	case CmdDigest:
		return "Digest"
	case CmdKafkaGroup:
		return "KafkaGroup"
	case CmdDeleteOffsets:
		return "DeleteOffsets"
	case CmdPutUser:
		return "PutUser"
	case CmdDeleteUser:
		return "DeleteUser"
	case CmdCreateACLs:
		return "CreateACLs"
	case CmdDeleteACLs:
		return "DeleteACLs"
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
// log.AppendBatch or log.WrapKafka) to a partition. Timestamp is stamped by
// the leader when it proposes the command (ms since the epoch); Apply uses
// it as "now" for segment rolls and retention, never the local clock.
//
// It is the hot path, so it is a msgpack array [Topic, Partition,
// Timestamp, Batch, ProducerID, Sequence, ProducerEpoch] encoded and
// decoded by hand (append.go) rather than by reflection; fields are only
// ever appended (an older 6-field array decodes with ProducerEpoch 0).
//
// The producer fields repeat the batch header's, which is their source
// (Store.Submit fills them from it): ProducerID 0 means no idempotence (the
// batch's producer id is -1); otherwise ProducerEpoch is the producer's
// epoch and Sequence numbers the batch's first record in that producer's
// sequence for the partition. Apply refuses a command whose fields
// disagree with its batch (ErrBadCommand).
type AppendCmd struct {
	_msgpack      struct{} `msgpack:",as_array"`
	Topic         string
	Partition     int32
	Timestamp     int64
	Batch         []byte
	ProducerID    int64
	Sequence      int32
	ProducerEpoch int16
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
// partition, without fencing. Nothing writes it any more (CommitOffsetsCmd
// replaced it); it stays decodable and applied for the Raft logs that hold
// it. Apply stores the offset unless it is below the one committed already
// (ErrOffsetRegression).
type CommitOffsetCmd struct {
	Group      string `msgpack:"g"`
	Topic      string `msgpack:"t"`
	Partition  int32  `msgpack:"p"`
	Offset     int64  `msgpack:"o"`
	Generation int32  `msgpack:"gen"`
	Metadata   string `msgpack:"m,omitempty"`
	Timestamp  int64  `msgpack:"ts"`
}

// SyncGroupCmd is the group coordinator's result of a rebalance: the
// group's next generation, its members and their assignment. Apply checks
// the group name (ErrInvalidGroup), that Generation is the current one plus
// one, 1 for a new group (ErrIllegalGeneration), and that member ids are
// unique and non-empty and no partition is assigned to two members
// (ErrBadCommand); a rejected command changes nothing. It replaces the
// group's state wholesale, with members sorted by id and each assignment
// merged per topic and sorted. Assignments are not checked against the
// topics: they may name topics that do not exist (yet). Timestamp is
// stamped by the leader (ms).
type SyncGroupCmd struct {
	Group      string        `msgpack:"g"`
	Generation int32         `msgpack:"gen"`
	Strategy   string        `msgpack:"s"`
	Members    []GroupMember `msgpack:"m"`
	Timestamp  int64         `msgpack:"ts"`
}

// RemoveMembersCmd removes members from a group (session expiry, or
// LeaveGroup) without changing its generation; their commits are refused
// from then on (ErrUnknownMember). Unknown member ids are ignored. Apply
// returns ErrUnknownGroup, or ErrIllegalGeneration unless Generation is the
// group's current one.
type RemoveMembersCmd struct {
	Group      string   `msgpack:"g"`
	Generation int32    `msgpack:"gen"`
	MemberIDs  []string `msgpack:"ids"`
	Timestamp  int64    `msgpack:"ts"`
}

// OffsetCommit is one partition's part of a CommitOffsetsCmd: the offset of
// the next record the group will consume, and client metadata.
type OffsetCommit struct {
	Topic     string `msgpack:"t"`
	Partition int32  `msgpack:"p"`
	Offset    int64  `msgpack:"o"`
	Metadata  string `msgpack:"m,omitempty"`
}

// CommitOffsetsCmd commits offsets for a group, fenced by membership. A
// commit with MemberID "" and Generation -1 is standalone (a consumer that
// assigns itself partitions): allowed while the group has no members. Any
// other commit must come from a current member, in the current generation,
// for partitions assigned to it. See FSM.applyCommitOffsets for every rule.
// Apply's response is a *CommitResult, or an error that rejects the whole
// command.
type CommitOffsetsCmd struct {
	Group      string         `msgpack:"g"`
	MemberID   string         `msgpack:"mid"`
	Generation int32          `msgpack:"gen"`
	Offsets    []OffsetCommit `msgpack:"o"`
	Timestamp  int64          `msgpack:"ts"`
	// Kafka marks a commit sent over the Kafka protocol: the group (when it
	// has members) must be a Kafka group (else
	// ErrInconsistentGroupProtocol, as a native commit to a Kafka group
	// with members is), partitions are not checked against the member's
	// assignment (Kafka's assignment is opaque to the broker) and an offset
	// may go backward, as in Kafka. InstanceID is the committer's
	// group.instance.id: another member holding it fences the commit
	// (ErrFencedInstanceID).
	Kafka      bool   `msgpack:"k,omitempty"`
	InstanceID string `msgpack:"iid,omitempty"`
	// Bounds is stamped by Store.CommitOffsets (callers leave it empty):
	// the leader's view of each named partition, against which Apply
	// checks the offsets. See PartitionBounds.
	Bounds []PartitionBounds `msgpack:"b"`
}

// Modes of ResetOffsetsCmd.
const (
	ResetEarliest int8 = -2 // to the partition's log start offset
	ResetLatest   int8 = -1 // to the partition's high-water mark
	ResetToOffset int8 = 0  // to ResetOffsetsCmd.Offset
)

// ResetOffsetsCmd is an administrator's reset of a group's committed
// offsets in one topic; unlike a commit it may move them backward. The
// group must have no members (ErrGroupNotEmpty); it need not exist: the
// offsets are created. Partitions empty means every partition of the topic.
// Apply's response is the []PartitionOffset it set, sorted by partition.
type ResetOffsetsCmd struct {
	Group      string  `msgpack:"g"`
	Topic      string  `msgpack:"t"`
	Partitions []int32 `msgpack:"p"`
	Mode       int8    `msgpack:"md"`
	Offset     int64   `msgpack:"o"`
	Timestamp  int64   `msgpack:"ts"`
	// Bounds is stamped by Store.ResetOffsets (callers leave it empty):
	// the leader's view of every partition of the topic, from which Apply
	// resolves ResetEarliest and ResetLatest and checks ResetToOffset.
	Bounds []PartitionBounds `msgpack:"b"`
}

// DeleteGroupCmd deletes a group without members and all its committed
// offsets. Apply returns ErrGroupNotEmpty or ErrUnknownGroup.
type DeleteGroupCmd struct {
	Group string `msgpack:"g"`
}

// PartitionBounds is a partition as the proposing leader's FSM saw it just
// before proposing a command that checks offsets against the partition:
// the topic's incarnation (its CreateIndex), the log start offset and the
// high-water mark. Store stamps them; Apply uses them, never the
// partition's live state.
//
// Why: Apply must give the same result on every replica and again when a
// replica replays its Raft log after a restart. Metadata commands are
// replayed from the last snapshot's index, but by then the partition logs
// already hold every batch applied before the restart, and retention may
// have removed old segments, so the live log is not what it was when the
// command was first applied. The leader's view is of a prefix of the log
// before the command, and a partition's start and end only grow, so an
// offset at or below the stamped End is also at or below the end at apply
// time. A TopicIndex that no longer matches the topic means the topic was
// deleted (and maybe created again) in between.
type PartitionBounds struct {
	Topic      string `msgpack:"t"`
	Partition  int32  `msgpack:"p"`
	TopicIndex uint64 `msgpack:"ci"` // the topic's CreateIndex
	Start      int64  `msgpack:"s"`  // log start offset
	End        int64  `msgpack:"e"`  // high-water mark
}

// DigestCmd asks every replica to fingerprint its state when it applies
// the entry (see FSM.Digest and Store.ProposeDigest). It changes no
// replicated state; its Raft index is the point at which all replicas'
// digests are comparable. Applying it never fails.
type DigestCmd struct{}

// RegisterNodeCmd records a node's client addresses, so that every node can
// tell clients where the others are: Addr for the native protocol,
// KafkaAddr for Kafka clients (empty: the node serves none). An empty Addr
// removes both. The first registration of an id gives it a stable numeric
// id (Kafka's int32 broker id): one more than the largest given so far,
// kept when the node is removed and never reused.
type RegisterNodeCmd struct {
	ID        string `msgpack:"id"`
	Addr      string `msgpack:"a"`
	KafkaAddr string `msgpack:"k,omitempty"`
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

// KafkaGroupCmd is the Kafka group coordinator's record of a group (the
// classic protocol): after the leader member's SyncGroup, a static member
// that rejoined under a new member id, or the group emptied (Generation
// bumped, no members). It replaces the group's state wholesale. Apply
// checks (ValidateKafkaGroup, then against the state): the name, a
// non-empty ProtocolType, a Generation not below the group's current one
// (ErrIllegalGeneration), members with unique non-empty ids and unique
// instance ids, Leader one of them and a Protocol when there are members
// (ErrBadCommand), and that a group with members is not taken over by
// another protocol type or by a native group (ErrInconsistentGroupProtocol).
// Members' Topics and Assignment are the broker's decoding of their
// metadata and assignment bytes (empty when it cannot decode them); no
// partition may be in two members' Assignment. Timestamp is stamped by the
// leader (ms).
type KafkaGroupCmd struct {
	Group        string        `msgpack:"g"`
	Generation   int32         `msgpack:"gen"`
	ProtocolType string        `msgpack:"pt"`
	Protocol     string        `msgpack:"p"`
	Leader       string        `msgpack:"l"`
	Members      []GroupMember `msgpack:"m"`
	Timestamp    int64         `msgpack:"ts"`
}

// DeleteOffsetsCmd deletes some of a group's committed offsets (Kafka's
// OffsetDelete). A group with members keeps the offsets of topics any of
// them subscribes to (ErrGroupSubscribed), and refuses altogether when its
// members' subscriptions are unknown (ErrGroupNotEmpty). Offsets that are
// not committed are ignored. Apply's response is nil or the error.
type DeleteOffsetsCmd struct {
	Group      string            `msgpack:"g"`
	Partitions []TopicPartitions `msgpack:"p"`
}
