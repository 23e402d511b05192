package wire

import "github.com/vmihailenco/msgpack/v5"

// RequestHeader starts every request frame's payload, followed directly by
// the request body. On the wire: [APIKey, APIVersion, CorrelationID].
type RequestHeader struct {
	_msgpack struct{} `msgpack:",as_array"`

	APIKey     APIKey
	APIVersion uint16
	// CorrelationID is chosen by the client and echoed in the response,
	// which is how a client matches responses to pipelined requests.
	CorrelationID uint32
}

// ResponseHeader starts every response frame's payload, followed directly
// by the response body. On the wire: [CorrelationID].
type ResponseHeader struct {
	_msgpack struct{} `msgpack:",as_array"`

	CorrelationID uint32
}

// ErrorResponse is the common prefix of every response body: each
// response type begins with ErrorCode and ErrorMessage, and response
// decoders accept a body with only those two fields. A broker answers a
// request it cannot handle (unknown API, unsupported version, malformed
// body) with an ErrorResponse, and the client decodes it as the response
// type it expects, with the other fields zero.
type ErrorResponse struct {
	_msgpack struct{} `msgpack:",as_array"`

	ErrorCode    Code
	ErrorMessage string
}

const (
	requestHeaderFields  = 3
	responseHeaderFields = 1
	errorResponseFields  = 2

	// minResponseFields is how many fields every response decoder requires:
	// the ErrorResponse prefix.
	minResponseFields = errorResponseFields
)

// EncodeMsgpack implements msgpack.CustomEncoder.
func (h RequestHeader) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, requestHeaderFields)
	w.uint(uint64(h.APIKey))
	w.uint(uint64(h.APIVersion))
	w.uint(uint64(h.CorrelationID))
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (h *RequestHeader) DecodeMsgpack(d *msgpack.Decoder) error {
	*h = RequestHeader{}
	var f fieldReader
	f.begin(d, "RequestHeader", requestHeaderFields)
	f.uint16((*uint16)(&h.APIKey))
	f.uint16(&h.APIVersion)
	f.uint32(&h.CorrelationID)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (h ResponseHeader) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, responseHeaderFields)
	w.uint(uint64(h.CorrelationID))
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (h *ResponseHeader) DecodeMsgpack(d *msgpack.Decoder) error {
	*h = ResponseHeader{}
	var f fieldReader
	f.begin(d, "ResponseHeader", responseHeaderFields)
	f.uint32(&h.CorrelationID)
	return f.done()
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m ErrorResponse) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, errorResponseFields)
	w.uint(uint64(m.ErrorCode))
	w.string(m.ErrorMessage)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder. Any response body
// decodes as an ErrorResponse (its other fields are skipped).
func (m *ErrorResponse) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = ErrorResponse{}
	var f fieldReader
	f.begin(d, "ErrorResponse", minResponseFields)
	f.code(&m.ErrorCode)
	f.string(&m.ErrorMessage)
	return f.done()
}

// Err returns the response's error: nil for CodeNone, else a *ServerError.
func (m *ErrorResponse) Err() error { return ResponseError(m.ErrorCode, m.ErrorMessage) }
