package wire

import "github.com/vmihailenco/msgpack/v5"

// FetchRequest reads records from one partition (API key Fetch). On the
// wire: [Topic, Partition, Offset, MaxBytes, MaxWaitMs].
type FetchRequest struct {
	_msgpack struct{} `msgpack:",as_array"`

	Topic     string
	Partition int32
	Offset    int64 // the first offset wanted
	// MaxBytes is a soft limit on the records' size in the response; the
	// broker returns at least one record if one is available, even if it
	// is larger.
	MaxBytes int32
	// MaxWaitMs is how long the broker may wait for records at Offset to
	// be committed before answering with none (long polling); 0 answers
	// at once.
	MaxWaitMs int32
}

// FetchResponse answers a FetchRequest. On the wire: [ErrorCode,
// ErrorMessage, HighWatermark, StartOffset, Records].
type FetchResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
	// HighWatermark is the offset the next committed record will get.
	HighWatermark int64
	// StartOffset is the first offset still stored; with
	// CodeOffsetOutOfRange the client resets to it or to HighWatermark.
	StartOffset int64
	// Records are committed records from the requested offset on, in
	// offset order, each with its Offset set.
	Records []Record
}

const (
	fetchRequestFields  = 5
	fetchResponseFields = 5
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m FetchRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, fetchRequestFields)
	w.string(m.Topic)
	w.int(int64(m.Partition))
	w.int(m.Offset)
	w.int(int64(m.MaxBytes))
	w.int(int64(m.MaxWaitMs))
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *FetchRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = FetchRequest{}
	var f fieldReader
	f.begin(d, "FetchRequest", fetchRequestFields)
	f.string(&m.Topic)
	f.int32(&m.Partition)
	f.int64(&m.Offset)
	f.int32(&m.MaxBytes)
	f.int32(&m.MaxWaitMs)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m FetchResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, fetchResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	w.int(m.HighWatermark)
	w.int(m.StartOffset)
	encodeRecords(&w, m.Records)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (m *FetchResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = FetchResponse{}
	var f fieldReader
	f.begin(d, "FetchResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	f.int64(&m.HighWatermark)
	f.int64(&m.StartOffset)
	f.records(&m.Records)
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *FetchResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }
