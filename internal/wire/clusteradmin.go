package wire

import "github.com/vmihailenco/msgpack/v5"

// DescribeClusterRequest asks a broker for its view of the Raft cluster
// (API key DescribeCluster). Any node answers from what it knows; ask the
// leader for the authoritative view. On the wire: [].
type DescribeClusterRequest struct {
	_msgpack struct{} `msgpack:",as_array"`
}

// DescribeClusterResponse is the answering node's view of the cluster. On
// the wire: [ErrorCode, ErrorMessage, NodeID, LeaderID, Term, CommitIndex,
// AppliedIndex, LastLogIndex, Nodes].
type DescribeClusterResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	// NodeID is the id of the node that answered.
	NodeID string
	// LeaderID is the leader the answering node knows of; empty while none
	// is known.
	LeaderID string
	// Term, CommitIndex, AppliedIndex and LastLogIndex are the answering
	// node's Raft state.
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
	LastLogIndex uint64
	// Nodes are the members of the Raft configuration, sorted by ID.
	Nodes []ClusterNode
}

// ClusterNode is one member of the Raft configuration. On the wire: [ID,
// Addr, RaftAddr, Voter, Leader, KafkaAddr, Num]; the last two may be
// absent (a broker from before Kafka support) and read as "" and 0.
type ClusterNode struct {
	_msgpack struct{} `msgpack:",as_array"`

	ID string
	// Addr is the node's registered client address; empty if it has not
	// registered one (yet).
	Addr     string
	RaftAddr string
	// Voter is true for a voting member, false for a non-voter (one that
	// replicates but does not count for quorum).
	Voter bool
	// Leader is true for the node LeaderID names.
	Leader bool
	// KafkaAddr is the node's registered Kafka listener address; empty if
	// it serves none or has not registered.
	KafkaAddr string
	// Num is the node's numeric id (its Kafka broker id), given by the
	// cluster when the node first registered; 0 if it has not.
	Num int32
}

// RemoveNodeRequest asks the leader to remove node ID from the Raft
// configuration and forget its client address (API key RemoveNode). On the
// wire: [ID].
type RemoveNodeRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	ID string
}

// RemoveNodeResponse answers a RemoveNodeRequest: CodeUnknownNode for an id
// that is not in the cluster, CodeNotLeader (with the leader's client
// address) from a follower. On the wire: [ErrorCode, ErrorMessage,
// LeaderID, LeaderAddr].
type RemoveNodeResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	LeaderID     string
	LeaderAddr   string
}

const (
	describeClusterResponseFields = 9
	clusterNodeFields             = 7
	minClusterNodeFields          = 5
	removeNodeRequestFields       = 1
	removeNodeResponseFields      = 4

	minClusterNodeSize = 1 + minClusterNodeFields
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m DescribeClusterRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, 0)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *DescribeClusterRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = DescribeClusterRequest{}
	var f fieldReader
	f.begin(d, "DescribeClusterRequest", 0)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m DescribeClusterResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, describeClusterResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	w.string(m.NodeID)
	w.string(m.LeaderID)
	w.uint(m.Term)
	w.uint(m.CommitIndex)
	w.uint(m.AppliedIndex)
	w.uint(m.LastLogIndex)
	encodeSliceField(&w, m.Nodes)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *DescribeClusterResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = DescribeClusterResponse{}
	var f fieldReader
	f.begin(d, "DescribeClusterResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	f.string(&m.NodeID)
	f.string(&m.LeaderID)
	f.uint64(&m.Term)
	f.uint64(&m.CommitIndex)
	f.uint64(&m.AppliedIndex)
	f.uint64(&m.LastLogIndex)
	sliceField(&f, &m.Nodes, minClusterNodeSize, "Nodes")
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *DescribeClusterResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// EncodeMsgpack implements msgpack.CustomEncoder.
func (n ClusterNode) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, clusterNodeFields)
	w.string(n.ID)
	w.string(n.Addr)
	w.string(n.RaftAddr)
	w.bool(n.Voter)
	w.bool(n.Leader)
	w.string(n.KafkaAddr)
	w.int(int64(n.Num))
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (n *ClusterNode) DecodeMsgpack(d *msgpack.Decoder) error {
	*n = ClusterNode{}
	var f fieldReader
	f.begin(d, "ClusterNode", minClusterNodeFields)
	f.string(&n.ID)
	f.string(&n.Addr)
	f.string(&n.RaftAddr)
	f.bool(&n.Voter)
	f.bool(&n.Leader)
	f.string(&n.KafkaAddr)
	f.int32(&n.Num)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m RemoveNodeRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, removeNodeRequestFields)
	w.string(m.ID)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *RemoveNodeRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = RemoveNodeRequest{}
	var f fieldReader
	f.begin(d, "RemoveNodeRequest", removeNodeRequestFields)
	f.string(&m.ID)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m RemoveNodeResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, removeNodeResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	w.string(m.LeaderID)
	w.string(m.LeaderAddr)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *RemoveNodeResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = RemoveNodeResponse{}
	var f fieldReader
	f.begin(d, "RemoveNodeResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	f.string(&m.LeaderID)
	f.string(&m.LeaderAddr)
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *RemoveNodeResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }
