package wire

import "github.com/vmihailenco/msgpack/v5"

// NoOffset is the Offset reported for a partition that has no committed
// offset.
const NoOffset int64 = -1

// OffsetCommit is one partition's position to commit: Offset is the next
// offset to consume (the last processed offset + 1). On the wire: [Topic,
// Partition, Offset, Metadata].
type OffsetCommit struct {
	_msgpack struct{} `msgpack:",as_array"`

	Topic     string
	Partition int32
	Offset    int64
	Metadata  string
}

// CommitOffsetsRequest commits a group member's positions through Raft
// (API key CommitOffsets). The broker rejects it when Generation is not
// the group's, when MemberID is no longer a member, or per partition when
// the member does not own the partition or the offset would move
// backwards: a member removed from the group can never move its offsets.
// MemberID "" with Generation -1 commits outside group membership, which
// is allowed only while the group has no members. On the wire: [Group,
// MemberID, Generation, Offsets].
type CommitOffsetsRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Group      string
	MemberID   string
	Generation int32
	Offsets    []OffsetCommit
}

// PartitionResult is the outcome for one partition. On the wire: [Topic,
// Partition, ErrorCode, ErrorMessage].
type PartitionResult struct {
	_msgpack struct{} `msgpack:",as_array"`

	Topic        string
	Partition    int32
	ErrorCode    Code
	ErrorMessage string
}

// Err returns the partition's error: nil for CodeNone, else a *ServerError.
func (m *PartitionResult) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// CommitOffsetsResponse answers a CommitOffsetsRequest. ErrorCode is set
// when the whole request was rejected; otherwise Results has one entry per
// requested partition, in request order. On the wire: [ErrorCode,
// ErrorMessage, Results].
type CommitOffsetsResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	Results      []PartitionResult
}

// FetchOffsetsRequest reads a group's committed offsets (API key
// FetchOffsets). The leader confirms its leadership with a quorum before
// it answers, so the offsets are never stale. On the wire: [Group,
// Partitions].
type FetchOffsetsRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Group string
	// Partitions to read; empty means every partition with a committed
	// offset.
	Partitions []TopicPartitions
}

// PartitionOffset is a partition's committed offset, or NoOffset. On the
// wire: [Topic, Partition, Offset, Metadata].
type PartitionOffset struct {
	_msgpack struct{} `msgpack:",as_array"`

	Topic     string
	Partition int32
	Offset    int64
	Metadata  string
}

// FetchOffsetsResponse answers a FetchOffsetsRequest. On the wire:
// [ErrorCode, ErrorMessage, Offsets].
type FetchOffsetsResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	Offsets      []PartitionOffset
}

const (
	offsetCommitFields          = 4
	commitOffsetsRequestFields  = 4
	partitionResultFields       = 4
	commitOffsetsResponseFields = 3
	fetchOffsetsRequestFields   = 2
	partitionOffsetFields       = 4
	fetchOffsetsResponseFields  = 3
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m OffsetCommit) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, offsetCommitFields)
	w.string(m.Topic)
	w.int(int64(m.Partition))
	w.int(m.Offset)
	w.string(m.Metadata)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *OffsetCommit) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = OffsetCommit{}
	var f fieldReader
	f.begin(d, "OffsetCommit", offsetCommitFields)
	f.string(&m.Topic)
	f.int32(&m.Partition)
	f.int64(&m.Offset)
	f.string(&m.Metadata)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m CommitOffsetsRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, commitOffsetsRequestFields)
	w.string(m.Group)
	w.string(m.MemberID)
	w.int(int64(m.Generation))
	encodeSliceField(&w, m.Offsets)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *CommitOffsetsRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = CommitOffsetsRequest{}
	var f fieldReader
	f.begin(d, "CommitOffsetsRequest", commitOffsetsRequestFields)
	f.string(&m.Group)
	f.string(&m.MemberID)
	f.int32(&m.Generation)
	sliceField(&f, &m.Offsets, minOffsetCommitSize, "Offsets")
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m PartitionResult) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, partitionResultFields)
	w.string(m.Topic)
	w.int(int64(m.Partition))
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *PartitionResult) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = PartitionResult{}
	var f fieldReader
	f.begin(d, "PartitionResult", partitionResultFields)
	f.string(&m.Topic)
	f.int32(&m.Partition)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m CommitOffsetsResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, commitOffsetsResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	encodeSliceField(&w, m.Results)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *CommitOffsetsResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = CommitOffsetsResponse{}
	var f fieldReader
	f.begin(d, "CommitOffsetsResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	sliceField(&f, &m.Results, minPartitionResultSize, "Results")
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *CommitOffsetsResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m FetchOffsetsRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, fetchOffsetsRequestFields)
	w.string(m.Group)
	encodeSliceField(&w, m.Partitions)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *FetchOffsetsRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = FetchOffsetsRequest{}
	var f fieldReader
	f.begin(d, "FetchOffsetsRequest", fetchOffsetsRequestFields)
	f.string(&m.Group)
	sliceField(&f, &m.Partitions, minTopicPartitionsSize, "Partitions")
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m PartitionOffset) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, partitionOffsetFields)
	w.string(m.Topic)
	w.int(int64(m.Partition))
	w.int(m.Offset)
	w.string(m.Metadata)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *PartitionOffset) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = PartitionOffset{}
	var f fieldReader
	f.begin(d, "PartitionOffset", partitionOffsetFields)
	f.string(&m.Topic)
	f.int32(&m.Partition)
	f.int64(&m.Offset)
	f.string(&m.Metadata)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m FetchOffsetsResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, fetchOffsetsResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	encodeSliceField(&w, m.Offsets)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *FetchOffsetsResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = FetchOffsetsResponse{}
	var f fieldReader
	f.begin(d, "FetchOffsetsResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	sliceField(&f, &m.Offsets, minPartitionOffsetSize, "Offsets")
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *FetchOffsetsResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }
