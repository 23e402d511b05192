package wire

import "github.com/vmihailenco/msgpack/v5"

// Replica verification (API keys ProposeDigest and ReplicaDigest). A
// verifier asks the leader to propose a digest entry and learns its Raft
// index N; then it asks every node for the digest it took when it applied
// N, and compares them. Digests taken at one index must be equal on every
// replica.

// ProposeDigestRequest asks the leader to make every replica take its
// digest at one Raft index (API key ProposeDigest). On the wire: [].
type ProposeDigestRequest struct {
	_msgpack struct{} `msgpack:",as_array"`
}

// ProposeDigestResponse answers a ProposeDigestRequest with the Raft index
// of the digest entry, or CodeNotLeader (with the leader's client address)
// from a follower. On the wire: [ErrorCode, ErrorMessage, LeaderID,
// LeaderAddr, Index].
type ProposeDigestResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	LeaderID     string
	LeaderAddr   string
	Index        uint64
}

// ReplicaDigestRequest asks a node for the digest it took at Raft index
// Index (API key ReplicaDigest), waiting up to TimeoutMs for the node to
// apply it (0: the broker's default). On the wire: [Index, TimeoutMs].
type ReplicaDigestRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Index     uint64
	TimeoutMs int32
}

// ReplicaDigestResponse is one node's digest at an index:
// CodeDigestUnavailable when the node cannot vouch for its state there
// (it replayed the entry after a restart, or restored a snapshot past
// it), CodeTimeout when it had not applied the index in time. On the wire:
// [ErrorCode, ErrorMessage, NodeID, Index, Meta, Partitions].
type ReplicaDigestResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	// NodeID is the id of the node that answered.
	NodeID string
	// Index is the Raft index the digest was taken at.
	Index uint64
	// Meta is the hex SHA-256 of the node's replicated metadata (topics,
	// committed offsets, groups, producers, node addresses).
	Meta string
	// Partitions are sorted by topic, then partition.
	Partitions []PartitionDigest
}

// PartitionDigest fingerprints one partition's stored data. On the wire:
// [Topic, Partition, StartOffset, NextOffset, Sum].
type PartitionDigest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Topic       string
	Partition   int32
	StartOffset int64
	NextOffset  int64
	// Sum is the hex SHA-256 of the partition's batches, headers included.
	Sum string
}

const (
	proposeDigestResponseFields = 5
	replicaDigestRequestFields  = 2
	replicaDigestResponseFields = 6
	partitionDigestFields       = 5

	minPartitionDigestSize = 1 + partitionDigestFields
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ProposeDigestRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, 0)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *ProposeDigestRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ProposeDigestRequest{}
	var f fieldReader
	f.begin(d, "ProposeDigestRequest", 0)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ProposeDigestResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, proposeDigestResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	w.string(m.LeaderID)
	w.string(m.LeaderAddr)
	w.uint(m.Index)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *ProposeDigestResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ProposeDigestResponse{}
	var f fieldReader
	f.begin(d, "ProposeDigestResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	f.string(&m.LeaderID)
	f.string(&m.LeaderAddr)
	f.uint64(&m.Index)
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *ProposeDigestResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ReplicaDigestRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, replicaDigestRequestFields)
	w.uint(m.Index)
	w.int(int64(m.TimeoutMs))
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *ReplicaDigestRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ReplicaDigestRequest{}
	var f fieldReader
	f.begin(d, "ReplicaDigestRequest", replicaDigestRequestFields)
	f.uint64(&m.Index)
	f.int32(&m.TimeoutMs)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ReplicaDigestResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, replicaDigestResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	w.string(m.NodeID)
	w.uint(m.Index)
	w.string(m.Meta)
	encodeSliceField(&w, m.Partitions)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *ReplicaDigestResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ReplicaDigestResponse{}
	var f fieldReader
	f.begin(d, "ReplicaDigestResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	f.string(&m.NodeID)
	f.uint64(&m.Index)
	f.string(&m.Meta)
	sliceField(&f, &m.Partitions, minPartitionDigestSize, "Partitions")
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *ReplicaDigestResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (p PartitionDigest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, partitionDigestFields)
	w.string(p.Topic)
	w.int(int64(p.Partition))
	w.int(p.StartOffset)
	w.int(p.NextOffset)
	w.string(p.Sum)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (p *PartitionDigest) DecodeMsgpack(d *msgpack.Decoder) error {
	*p = PartitionDigest{}
	var f fieldReader
	f.begin(d, "PartitionDigest", partitionDigestFields)
	f.string(&p.Topic)
	f.int32(&p.Partition)
	f.int64(&p.StartOffset)
	f.int64(&p.NextOffset)
	f.string(&p.Sum)
	return f.done()
}
