package wire

import "github.com/vmihailenco/msgpack/v5"

// Consumer-group membership: JoinGroup, Heartbeat, LeaveGroup. The group
// coordinator runs on the cluster's leader; a follower answers
// CodeNotLeader like it does for writes.
//
// A member's life: JoinGroup with an empty MemberID is answered at once
// with CodeMemberIDRequired and a new MemberID (nothing is stored yet);
// the member joins again with that id and gets the group's generation and
// its assignment. (So an answer lost on the way never leaves a member the
// client does not know of: a retry names the same id.) The member then
// sends a Heartbeat every few seconds. When the group must rebalance (a
// member joined, left or timed out, or a subscribed topic changed) the
// heartbeat answers CodeRebalanceInProgress: the member finishes with its
// partitions (commits what it processed) and sends JoinGroup again with
// its MemberID; that call blocks until every member has rejoined (or the
// rebalance timeout dropped the stragglers) and returns the next
// generation's assignment. CodeUnknownMember or CodeIllegalGeneration
// mean the member was removed: its partitions are already someone else's.

// Assignment strategies for JoinGroupRequest.Strategy.
const (
	StrategyRange      = "range"      // per topic, contiguous ranges of partitions
	StrategyRoundRobin = "roundrobin" // all partitions dealt out in turn
	StrategySticky     = "sticky"     // balanced, keeping partitions where they were
)

// TopicPartitions is a set of partitions of one topic. On the wire:
// [Topic, Partitions].
type TopicPartitions struct {
	_msgpack struct{} `msgpack:",as_array"`

	Topic      string
	Partitions []int32
}

// JoinGroupRequest joins a consumer group, or rejoins it during a
// rebalance (API key JoinGroup). On the wire: [Group, MemberID, ClientID,
// Topics, Strategy, SessionTimeoutMs, RebalanceTimeoutMs].
type JoinGroupRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Group string
	// MemberID is empty on the first join; the response assigns one.
	MemberID string
	ClientID string
	// Topics is the subscription.
	Topics []string
	// Strategy is one of the Strategy constants; empty means range. All
	// members of a group must use the same one.
	Strategy string
	// SessionTimeoutMs: the member is removed when no heartbeat arrives
	// for this long.
	SessionTimeoutMs int32
	// RebalanceTimeoutMs bounds how long a rebalance waits for this member
	// to rejoin; the consumer's max poll interval.
	RebalanceTimeoutMs int32
}

// JoinGroupResponse answers a JoinGroupRequest. On the wire: [ErrorCode,
// ErrorMessage, MemberID, Generation, Strategy, Assignment].
type JoinGroupResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	MemberID     string
	Generation   int32
	Strategy     string
	// Assignment is this member's partitions in Generation.
	Assignment []TopicPartitions
}

// HeartbeatRequest keeps a member alive (API key Heartbeat). On the wire:
// [Group, MemberID, Generation].
type HeartbeatRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Group      string
	MemberID   string
	Generation int32
}

// HeartbeatResponse answers a HeartbeatRequest: CodeNone, or
// CodeRebalanceInProgress (rejoin), CodeUnknownMember or
// CodeIllegalGeneration (the member was removed; join afresh). On the
// wire: [ErrorCode, ErrorMessage].
type HeartbeatResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
}

// LeaveGroupRequest leaves a group at once, so that its partitions move
// without waiting for the session timeout (API key LeaveGroup). On the
// wire: [Group, MemberID].
type LeaveGroupRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Group    string
	MemberID string
}

// LeaveGroupResponse answers a LeaveGroupRequest. On the wire:
// [ErrorCode, ErrorMessage].
type LeaveGroupResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
}

const (
	topicPartitionsFields   = 2
	joinGroupRequestFields  = 7
	joinGroupResponseFields = 6
	heartbeatRequestFields  = 3
	leaveGroupRequestFields = 2
	statusResponseFields    = 2
	minTopicPartitionsSize  = 1 + topicPartitionsFields
	minGroupMemberInfoSize  = 1 + groupMemberInfoFields
	minOffsetCommitSize     = 1 + offsetCommitFields
	minPartitionResultSize  = 1 + partitionResultFields
	minPartitionOffsetSize  = 1 + partitionOffsetFields
	minGroupOffsetInfoSize  = 1 + groupOffsetInfoFields
	minGroupSummarySize     = 1 + groupSummaryMinFields
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m TopicPartitions) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, topicPartitionsFields)
	w.string(m.Topic)
	w.int32s(m.Partitions)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *TopicPartitions) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = TopicPartitions{}
	var f fieldReader
	f.begin(d, "TopicPartitions", topicPartitionsFields)
	f.string(&m.Topic)
	f.int32s(&m.Partitions)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m JoinGroupRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, joinGroupRequestFields)
	w.string(m.Group)
	w.string(m.MemberID)
	w.string(m.ClientID)
	w.strings(m.Topics)
	w.string(m.Strategy)
	w.int(int64(m.SessionTimeoutMs))
	w.int(int64(m.RebalanceTimeoutMs))
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *JoinGroupRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = JoinGroupRequest{}
	var f fieldReader
	f.begin(d, "JoinGroupRequest", joinGroupRequestFields)
	f.string(&m.Group)
	f.string(&m.MemberID)
	f.string(&m.ClientID)
	f.strings(&m.Topics)
	f.string(&m.Strategy)
	f.int32(&m.SessionTimeoutMs)
	f.int32(&m.RebalanceTimeoutMs)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m JoinGroupResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, joinGroupResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	w.string(m.MemberID)
	w.int(int64(m.Generation))
	w.string(m.Strategy)
	encodeSliceField(&w, m.Assignment)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *JoinGroupResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = JoinGroupResponse{}
	var f fieldReader
	f.begin(d, "JoinGroupResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	f.string(&m.MemberID)
	f.int32(&m.Generation)
	f.string(&m.Strategy)
	sliceField(&f, &m.Assignment, minTopicPartitionsSize, "Assignment")
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *JoinGroupResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m HeartbeatRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, heartbeatRequestFields)
	w.string(m.Group)
	w.string(m.MemberID)
	w.int(int64(m.Generation))
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *HeartbeatRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = HeartbeatRequest{}
	var f fieldReader
	f.begin(d, "HeartbeatRequest", heartbeatRequestFields)
	f.string(&m.Group)
	f.string(&m.MemberID)
	f.int32(&m.Generation)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m HeartbeatResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeStatus(e, m.ErrorCode, m.ErrorMessage)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *HeartbeatResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = HeartbeatResponse{}
	return decodeStatus(d, "HeartbeatResponse", &m.ErrorCode, &m.ErrorMessage)
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *HeartbeatResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m LeaveGroupRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, leaveGroupRequestFields)
	w.string(m.Group)
	w.string(m.MemberID)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *LeaveGroupRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = LeaveGroupRequest{}
	var f fieldReader
	f.begin(d, "LeaveGroupRequest", leaveGroupRequestFields)
	f.string(&m.Group)
	f.string(&m.MemberID)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m LeaveGroupResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeStatus(e, m.ErrorCode, m.ErrorMessage)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *LeaveGroupResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = LeaveGroupResponse{}
	return decodeStatus(d, "LeaveGroupResponse", &m.ErrorCode, &m.ErrorMessage)
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *LeaveGroupResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// encodeStatus writes a response that is only [ErrorCode, ErrorMessage].
func encodeStatus(e *msgpack.Encoder, code Code, msg string) error {
	w := beginEncode(e, statusResponseFields)
	w.uint(uint64(code))
	w.string(msg)
	return w.err
}

// decodeStatus reads a response that is only [ErrorCode, ErrorMessage].
func decodeStatus(d *msgpack.Decoder, name string, code *Code, msg *string) error {
	var f fieldReader
	f.begin(d, name, minResponseFields)
	f.code(code)
	f.string(msg)
	return f.done()
}
