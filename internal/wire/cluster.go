package wire

import "github.com/vmihailenco/msgpack/v5"

// JoinClusterRequest asks the cluster to add a broker as a Raft voter and
// to record its client address (API key JoinCluster). Brokers send it to
// each other; clients never need it. It is idempotent: a broker already in
// the cluster with the same addresses is left as it is. On the wire:
// [ID, RaftAddr, ClientAddr, KafkaAddr]; KafkaAddr may be absent (a
// broker from before Kafka support), which reads as "".
type JoinClusterRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	ID         string // the joining broker's node id
	RaftAddr   string // where its Raft transport listens
	ClientAddr string // where it serves clients
	KafkaAddr  string // where it serves Kafka clients; "" for nowhere
}

// JoinClusterResponse answers a JoinClusterRequest. A broker that is not
// the leader answers CodeNotLeader with the leader's client address. On
// the wire: [ErrorCode, ErrorMessage, LeaderID, LeaderAddr].
type JoinClusterResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	LeaderID     string
	LeaderAddr   string
}

const (
	joinClusterRequestFields  = 4
	minJoinClusterRequest     = 3
	joinClusterResponseFields = 4
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m JoinClusterRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, joinClusterRequestFields)
	w.string(m.ID)
	w.string(m.RaftAddr)
	w.string(m.ClientAddr)
	w.string(m.KafkaAddr)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *JoinClusterRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = JoinClusterRequest{}
	var f fieldReader
	f.begin(d, "JoinClusterRequest", minJoinClusterRequest)
	f.string(&m.ID)
	f.string(&m.RaftAddr)
	f.string(&m.ClientAddr)
	f.string(&m.KafkaAddr)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m JoinClusterResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, joinClusterResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	w.string(m.LeaderID)
	w.string(m.LeaderAddr)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *JoinClusterResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = JoinClusterResponse{}
	var f fieldReader
	f.begin(d, "JoinClusterResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	f.string(&m.LeaderID)
	f.string(&m.LeaderAddr)
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *JoinClusterResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }

// InitProducerRequest asks for a new producer id (API key InitProducer),
// which an idempotent producer puts in its ProduceRequests. The id is
// allocated through Raft: unique and persistent. On the wire: [].
type InitProducerRequest struct {
	_msgpack struct{} `msgpack:",as_array"`
}

// InitProducerResponse answers an InitProducerRequest. On the wire:
// [ErrorCode, ErrorMessage, ProducerID].
type InitProducerResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	ProducerID   int64
}

const initProducerResponseFields = 3

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m InitProducerRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, 0)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *InitProducerRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = InitProducerRequest{}
	var f fieldReader
	f.begin(d, "InitProducerRequest", 0)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m InitProducerResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, initProducerResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	w.int(m.ProducerID)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *InitProducerResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = InitProducerResponse{}
	var f fieldReader
	f.begin(d, "InitProducerResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	f.int64(&m.ProducerID)
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *InitProducerResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }
