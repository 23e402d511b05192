package wire

import "github.com/vmihailenco/msgpack/v5"

// MetadataRequest asks for the cluster's brokers and the state of topics
// (API key Metadata). On the wire: [Topics].
type MetadataRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	// Topics lists the topics to describe; empty means all topics.
	Topics []string
}

// MetadataResponse describes the cluster and the requested topics. On the
// wire: [ErrorCode, ErrorMessage, LeaderID, Nodes, Topics].
type MetadataResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	// LeaderID is the ID of the node currently leading the cluster (all
	// partitions' writes go to it); empty while no leader is known.
	LeaderID string
	Nodes    []Node
	Topics   []TopicMetadata
}

// Node is one broker of the cluster. On the wire: [ID, Addr].
type Node struct {
	_msgpack struct{} `msgpack:",as_array"`

	ID   string
	Addr string // host:port of its client listener
}

// TopicMetadata describes one topic. ErrorCode is per topic, e.g.
// CodeUnknownTopic for a requested topic that does not exist. On the wire:
// [Name, ErrorCode, Partitions].
type TopicMetadata struct {
	_msgpack struct{} `msgpack:",as_array"`

	Name       string
	ErrorCode  Code
	Partitions []PartitionMetadata
}

// PartitionMetadata describes one partition's offsets. On the wire:
// [Partition, StartOffset, HighWatermark].
type PartitionMetadata struct {
	_msgpack struct{} `msgpack:",as_array"`

	Partition int32
	// StartOffset is the first offset still stored (earlier ones were
	// deleted by retention).
	StartOffset int64
	// HighWatermark is the offset the next committed record will get;
	// consumers can read up to HighWatermark-1.
	HighWatermark int64
}

const (
	metadataRequestFields   = 1
	metadataResponseFields  = 5
	nodeFields              = 2
	topicMetadataFields     = 3
	partitionMetadataFields = 3

	minNodeSize              = 1 + nodeFields
	minTopicMetadataSize     = 1 + topicMetadataFields
	minPartitionMetadataSize = 1 + partitionMetadataFields
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m MetadataRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, metadataRequestFields)
	w.strings(m.Topics)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *MetadataRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = MetadataRequest{}
	var f fieldReader
	f.begin(d, "MetadataRequest", metadataRequestFields)
	f.strings(&m.Topics)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m MetadataResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, metadataResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	w.string(m.LeaderID)
	encodeSliceField(&w, m.Nodes)
	encodeSliceField(&w, m.Topics)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *MetadataResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = MetadataResponse{}
	var f fieldReader
	f.begin(d, "MetadataResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	f.string(&m.LeaderID)
	sliceField(&f, &m.Nodes, minNodeSize, "Nodes")
	sliceField(&f, &m.Topics, minTopicMetadataSize, "Topics")
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *MetadataResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (n Node) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, nodeFields)
	w.string(n.ID)
	w.string(n.Addr)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (n *Node) DecodeMsgpack(d *msgpack.Decoder) error {
	*n = Node{}
	var f fieldReader
	f.begin(d, "Node", nodeFields)
	f.string(&n.ID)
	f.string(&n.Addr)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (t TopicMetadata) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, topicMetadataFields)
	w.string(t.Name)
	w.uint(uint64(t.ErrorCode))
	encodeSliceField(&w, t.Partitions)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (t *TopicMetadata) DecodeMsgpack(d *msgpack.Decoder) error {
	*t = TopicMetadata{}
	var f fieldReader
	f.begin(d, "TopicMetadata", topicMetadataFields)
	f.string(&t.Name)
	f.code(&t.ErrorCode)
	sliceField(&f, &t.Partitions, minPartitionMetadataSize, "Partitions")
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (p PartitionMetadata) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, partitionMetadataFields)
	w.int(int64(p.Partition))
	w.int(p.StartOffset)
	w.int(p.HighWatermark)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (p *PartitionMetadata) DecodeMsgpack(d *msgpack.Decoder) error {
	*p = PartitionMetadata{}
	var f fieldReader
	f.begin(d, "PartitionMetadata", partitionMetadataFields)
	f.int32(&p.Partition)
	f.int64(&p.StartOffset)
	f.int64(&p.HighWatermark)
	return f.done()
}
