package wire

import "github.com/vmihailenco/msgpack/v5"

// Acks values for ProduceRequest.Acks.
const (
	// AcksNone: fire and forget. The broker answers as soon as it has
	// accepted the request, before writing; BaseOffset is -1 and a later
	// write failure is not reported.
	AcksNone int8 = 0
	// AcksLeader: the broker answers once the leader has the records
	// durably on its disk. Offsets are assigned when the records commit,
	// so BaseOffset is -1.
	AcksLeader int8 = 1
	// AcksAll: the broker answers once a Raft quorum has the records;
	// BaseOffset is set.
	AcksAll int8 = -1
)

// ProduceRequest appends records to one partition (API key Produce). On
// the wire: [Topic, Partition, Acks, TimeoutMs, Records, ProducerID,
// Sequence]; v0 requests end after Records (no idempotence).
type ProduceRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Topic     string
	Partition int32
	Acks      int8  // AcksNone, AcksLeader or AcksAll
	TimeoutMs int32 // how long the broker may wait for Acks before CodeTimeout
	// Records to append, in order. Their Offset is ignored; a zero
	// Timestamp is stamped by the broker.
	Records []Record
	// ProducerID, from InitProducer, makes the request idempotent (v1);
	// 0 means none. Sequence numbers the first record: a producer numbers
	// its records per partition from 0, and a retry resends a batch with
	// the same Sequence, so the broker can recognise it.
	ProducerID int64
	Sequence   int32
}

// ProduceResponse answers a ProduceRequest. On the
// wire: [ErrorCode, ErrorMessage, BaseOffset, LeaderID, LeaderAddr].
type ProduceResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	// BaseOffset is the offset given to the first record; the others
	// follow consecutively. -1 when not known (Acks other than AcksAll,
	// or an error).
	BaseOffset int64
	// LeaderID and LeaderAddr name the current leader, when known, with
	// CodeNotLeader so the client can redirect without a Metadata call.
	LeaderID   string
	LeaderAddr string
}

const (
	produceRequestFields  = 7
	produceRequestMin     = 5 // v0 ends after Records
	produceResponseFields = 5
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ProduceRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, produceRequestFields)
	w.string(m.Topic)
	w.int(int64(m.Partition))
	w.int(int64(m.Acks))
	w.int(int64(m.TimeoutMs))
	encodeRecords(&w, m.Records)
	w.int(m.ProducerID)
	w.int(int64(m.Sequence))
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *ProduceRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ProduceRequest{}
	var f fieldReader
	f.begin(d, "ProduceRequest", produceRequestMin)
	f.string(&m.Topic)
	f.int32(&m.Partition)
	f.int8(&m.Acks)
	f.int32(&m.TimeoutMs)
	f.records(&m.Records)
	f.int64(&m.ProducerID)
	f.int32(&m.Sequence)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ProduceResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, produceResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	w.int(m.BaseOffset)
	w.string(m.LeaderID)
	w.string(m.LeaderAddr)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder. A body with only the
// ErrorResponse fields decodes with BaseOffset -1.
func (m *ProduceResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ProduceResponse{BaseOffset: -1}
	var f fieldReader
	f.begin(d, "ProduceResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	f.int64(&m.BaseOffset)
	f.string(&m.LeaderID)
	f.string(&m.LeaderAddr)
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *ProduceResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }
