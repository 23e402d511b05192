package wire

import "github.com/vmihailenco/msgpack/v5"

// Group administration: DescribeGroup, ListGroups, ResetOffsets,
// DeleteGroup. All are served by the leader.

// Group states reported by DescribeGroup and ListGroups.
const (
	GroupEmpty       = "Empty"              // no members (offsets may remain)
	GroupStable      = "Stable"             // members own their assignment
	GroupRebalancing = "PreparingRebalance" // waiting for members to rejoin
)

// DescribeGroupRequest asks for a group's members, assignment, committed
// offsets and lag (API key DescribeGroup). On the wire: [Group].
type DescribeGroupRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Group string
}

// GroupMemberInfo is one member of a group. On the wire: [MemberID,
// ClientID, ClientHost, Topics, Assignment].
type GroupMemberInfo struct {
	_msgpack struct{} `msgpack:",as_array"`

	MemberID   string
	ClientID   string
	ClientHost string
	Topics     []string
	Assignment []TopicPartitions
}

// GroupOffsetInfo is a group's position in one partition. Committed is
// NoOffset when nothing was committed; Lag is HighWatermark minus the
// committed offset (minus the start offset when nothing was committed).
// On the wire: [Topic, Partition, Committed, HighWatermark, Lag].
type GroupOffsetInfo struct {
	_msgpack struct{} `msgpack:",as_array"`

	Topic         string
	Partition     int32
	Committed     int64
	HighWatermark int64
	Lag           int64
}

// DescribeGroupResponse answers a DescribeGroupRequest. Offsets covers
// every partition of the subscribed topics and every partition with a
// committed offset. On the wire: [ErrorCode, ErrorMessage, Group, State,
// Generation, Strategy, Members, Offsets, ProtocolType].
type DescribeGroupResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	Group        string
	State        string // GroupEmpty, GroupStable or GroupRebalancing
	Generation   int32
	Strategy     string
	Members      []GroupMemberInfo
	Offsets      []GroupOffsetInfo
	// ProtocolType is "" for a native group, the Kafka protocol type
	// ("consumer") for a group of Kafka clients. Appended: older peers
	// skip it.
	ProtocolType string
}

// ListGroupsRequest lists the groups the cluster knows (API key
// ListGroups). On the wire: [].
type ListGroupsRequest struct {
	_msgpack struct{} `msgpack:",as_array"`
}

// GroupSummary is one line of ListGroups. On the wire: [Group, State,
// Generation, Members, ProtocolType].
type GroupSummary struct {
	_msgpack struct{} `msgpack:",as_array"`

	Group      string
	State      string
	Generation int32
	Members    int32
	// ProtocolType: "" native, else the Kafka protocol type. Appended.
	ProtocolType string
}

// ListGroupsResponse answers a ListGroupsRequest, sorted by name. On the
// wire: [ErrorCode, ErrorMessage, Groups].
type ListGroupsResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	Groups       []GroupSummary
}

// Values of ResetOffsetsRequest.To besides an explicit offset (ResetTo).
const (
	ResetEarliest int8 = Earliest // the partition's start offset
	ResetLatest   int8 = Latest   // the partition's high-water mark
	ResetTo       int8 = 0        // ResetOffsetsRequest.Offset
)

// ResetOffsetsRequest sets a group's committed offsets for a topic (API
// key ResetOffsets), backwards too. Only a group without members can be
// reset (CodeGroupNotEmpty otherwise). On the wire: [Group, Topic,
// Partitions, To, Offset].
type ResetOffsetsRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Group string
	Topic string
	// Partitions to reset; empty means all of the topic's.
	Partitions []int32
	To         int8 // ResetEarliest, ResetLatest or ResetTo
	Offset     int64
}

// ResetOffsetsResponse answers a ResetOffsetsRequest with the offsets
// set. On the wire: [ErrorCode, ErrorMessage, Offsets].
type ResetOffsetsResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	Offsets      []PartitionOffset
}

// DeleteGroupRequest deletes a group without members and its committed
// offsets (API key DeleteGroup). On the wire: [Group].
type DeleteGroupRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Group string
}

// DeleteGroupResponse answers a DeleteGroupRequest. On the wire:
// [ErrorCode, ErrorMessage].
type DeleteGroupResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
}

const (
	groupRequestFields          = 1
	groupMemberInfoFields       = 5
	groupOffsetInfoFields       = 5
	describeGroupResponseFields = 9 // 8 before ProtocolType
	groupSummaryFields          = 5 // 4 before ProtocolType
	groupSummaryMinFields       = 4
	listGroupsResponseFields    = 3
	resetOffsetsRequestFields   = 5
	resetOffsetsResponseFields  = 3
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m DescribeGroupRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, groupRequestFields)
	w.string(m.Group)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *DescribeGroupRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = DescribeGroupRequest{}
	var f fieldReader
	f.begin(d, "DescribeGroupRequest", groupRequestFields)
	f.string(&m.Group)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m GroupMemberInfo) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, groupMemberInfoFields)
	w.string(m.MemberID)
	w.string(m.ClientID)
	w.string(m.ClientHost)
	w.strings(m.Topics)
	encodeSliceField(&w, m.Assignment)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *GroupMemberInfo) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = GroupMemberInfo{}
	var f fieldReader
	f.begin(d, "GroupMemberInfo", groupMemberInfoFields)
	f.string(&m.MemberID)
	f.string(&m.ClientID)
	f.string(&m.ClientHost)
	f.strings(&m.Topics)
	sliceField(&f, &m.Assignment, minTopicPartitionsSize, "Assignment")
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m GroupOffsetInfo) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, groupOffsetInfoFields)
	w.string(m.Topic)
	w.int(int64(m.Partition))
	w.int(m.Committed)
	w.int(m.HighWatermark)
	w.int(m.Lag)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *GroupOffsetInfo) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = GroupOffsetInfo{}
	var f fieldReader
	f.begin(d, "GroupOffsetInfo", groupOffsetInfoFields)
	f.string(&m.Topic)
	f.int32(&m.Partition)
	f.int64(&m.Committed)
	f.int64(&m.HighWatermark)
	f.int64(&m.Lag)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m DescribeGroupResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, describeGroupResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	w.string(m.Group)
	w.string(m.State)
	w.int(int64(m.Generation))
	w.string(m.Strategy)
	encodeSliceField(&w, m.Members)
	encodeSliceField(&w, m.Offsets)
	w.string(m.ProtocolType)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *DescribeGroupResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = DescribeGroupResponse{}
	var f fieldReader
	f.begin(d, "DescribeGroupResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	f.string(&m.Group)
	f.string(&m.State)
	f.int32(&m.Generation)
	f.string(&m.Strategy)
	sliceField(&f, &m.Members, minGroupMemberInfoSize, "Members")
	sliceField(&f, &m.Offsets, minGroupOffsetInfoSize, "Offsets")
	f.string(&m.ProtocolType)
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *DescribeGroupResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ListGroupsRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, 0)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *ListGroupsRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ListGroupsRequest{}
	var f fieldReader
	f.begin(d, "ListGroupsRequest", 0)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m GroupSummary) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, groupSummaryFields)
	w.string(m.Group)
	w.string(m.State)
	w.int(int64(m.Generation))
	w.int(int64(m.Members))
	w.string(m.ProtocolType)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *GroupSummary) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = GroupSummary{}
	var f fieldReader
	f.begin(d, "GroupSummary", groupSummaryMinFields)
	f.string(&m.Group)
	f.string(&m.State)
	f.int32(&m.Generation)
	f.int32(&m.Members)
	f.string(&m.ProtocolType)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ListGroupsResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, listGroupsResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	encodeSliceField(&w, m.Groups)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *ListGroupsResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ListGroupsResponse{}
	var f fieldReader
	f.begin(d, "ListGroupsResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	sliceField(&f, &m.Groups, minGroupSummarySize, "Groups")
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *ListGroupsResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ResetOffsetsRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, resetOffsetsRequestFields)
	w.string(m.Group)
	w.string(m.Topic)
	w.int32s(m.Partitions)
	w.int(int64(m.To))
	w.int(m.Offset)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *ResetOffsetsRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ResetOffsetsRequest{}
	var f fieldReader
	f.begin(d, "ResetOffsetsRequest", resetOffsetsRequestFields)
	f.string(&m.Group)
	f.string(&m.Topic)
	f.int32s(&m.Partitions)
	f.int8(&m.To)
	f.int64(&m.Offset)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ResetOffsetsResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, resetOffsetsResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	encodeSliceField(&w, m.Offsets)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *ResetOffsetsResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ResetOffsetsResponse{}
	var f fieldReader
	f.begin(d, "ResetOffsetsResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	sliceField(&f, &m.Offsets, minPartitionOffsetSize, "Offsets")
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *ResetOffsetsResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m DeleteGroupRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, groupRequestFields)
	w.string(m.Group)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *DeleteGroupRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = DeleteGroupRequest{}
	var f fieldReader
	f.begin(d, "DeleteGroupRequest", groupRequestFields)
	f.string(&m.Group)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m DeleteGroupResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeStatus(e, m.ErrorCode, m.ErrorMessage)
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *DeleteGroupResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = DeleteGroupResponse{}
	return decodeStatus(d, "DeleteGroupResponse", &m.ErrorCode, &m.ErrorMessage)
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *DeleteGroupResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }
