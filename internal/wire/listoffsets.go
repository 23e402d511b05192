package wire

import "github.com/vmihailenco/msgpack/v5"

// Values for ListOffsetsRequest.Which.
const (
	// Earliest asks for the partition's StartOffset: the first offset
	// still stored.
	Earliest int8 = -2
	// Latest asks for the partition's HighWatermark: the offset the next
	// committed record will get.
	Latest int8 = -1
)

// ListOffsetsRequest asks for one of a partition's offsets (API key
// ListOffsets). On the wire: [Topic, Partition, Which, Leader]; Leader
// may be absent (false).
type ListOffsetsRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Topic     string
	Partition int32
	Which     int8 // Earliest or Latest
	// Leader asks for a linearizable answer: only the leader answers,
	// after a quorum confirmed its leadership and its state machine
	// applied everything committed before; any other node answers
	// NotLeader. False: any node answers from its own state, which may
	// lag the leader's.
	Leader bool
}

// ListOffsetsResponse answers a ListOffsetsRequest. On the wire:
// [ErrorCode, ErrorMessage, Offset].
type ListOffsetsResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	Offset       int64
}

const (
	listOffsetsRequestFields  = 4
	listOffsetsRequestMin     = 3
	listOffsetsResponseFields = 3
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ListOffsetsRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, listOffsetsRequestFields)
	w.string(m.Topic)
	w.int(int64(m.Partition))
	w.int(int64(m.Which))
	w.bool(m.Leader)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *ListOffsetsRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ListOffsetsRequest{}
	var f fieldReader
	f.begin(d, "ListOffsetsRequest", listOffsetsRequestMin)
	f.string(&m.Topic)
	f.int32(&m.Partition)
	f.int8(&m.Which)
	f.bool(&m.Leader)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ListOffsetsResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, listOffsetsResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	w.int(m.Offset)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *ListOffsetsResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ListOffsetsResponse{}
	var f fieldReader
	f.begin(d, "ListOffsetsResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	f.int64(&m.Offset)
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *ListOffsetsResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }
