package wire

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// appendWriter is the msgpack encoder's output: it appends to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

// encState is a pooled encoder bound to its appendWriter.
type encState struct {
	w   appendWriter
	enc *msgpack.Encoder
}

var encPool = sync.Pool{New: func() any {
	s := new(encState)
	s.enc = msgpack.NewEncoder(&s.w)
	return s
}}

// decState is a pooled decoder bound to its bytes.Reader, which lets the
// decoders see how much input remains (see remaining).
type decState struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decPool = sync.Pool{New: func() any {
	s := new(decState)
	s.dec = msgpack.NewDecoder(&s.r)
	return s
}}

func getDecoder(b []byte) *decState {
	s := decPool.Get().(*decState)
	s.r.Reset(b)
	return s
}

func putDecoder(s *decState) {
	s.r.Reset(nil)
	decPool.Put(s)
}

// EncodeRequest appends a complete request frame (length prefix, header,
// body) to dst and returns the extended slice. body is normally a request
// type of this package (e.g. *ProduceRequest or ProduceRequest); any other
// value is encoded by msgpack's reflection. On error dst is returned
// unchanged with an error wrapping the cause (a *FrameSizeError if the
// payload exceeds 4 GiB). EncodeRequest does not check the peer's frame
// limit: compare len(frame)-FrameHeaderSize with it if needed. Safe for
// concurrent use; it does not block.
func EncodeRequest(dst []byte, h RequestHeader, body any) ([]byte, error) {
	return encodeFrame(dst, h, body)
}

// EncodeResponse appends a complete response frame (length prefix, header,
// body) to dst; otherwise it is like EncodeRequest.
func EncodeResponse(dst []byte, h ResponseHeader, body any) ([]byte, error) {
	return encodeFrame(dst, h, body)
}

func encodeFrame[H msgpack.CustomEncoder](dst []byte, h H, body any) ([]byte, error) {
	out, start := beginFrame(dst)
	s := encPool.Get().(*encState)
	s.w.b = out
	err := h.EncodeMsgpack(s.enc)
	if err == nil {
		err = s.enc.Encode(body)
	}
	out = s.w.b
	s.w.b = nil
	encPool.Put(s)
	if err == nil {
		err = finishFrame(out, start)
	}
	if err != nil {
		return dst, fmt.Errorf("wire: encoding %T: %w", body, err)
	}
	return out, nil
}

// DecodeRequestHeader decodes the header at the start of a request frame's
// payload and returns it with the body bytes that follow (a subslice of
// payload, to pass to DecodeBody). It does not check the API key or
// version: call CheckVersion. Errors wrap ErrMalformed. Safe for
// concurrent use.
func DecodeRequestHeader(payload []byte) (RequestHeader, []byte, error) {
	return decodeHeader[RequestHeader](payload)
}

// DecodeResponseHeader decodes the header at the start of a response
// frame's payload and returns it with the body bytes that follow. Errors
// wrap ErrMalformed. Safe for concurrent use.
func DecodeResponseHeader(payload []byte) (ResponseHeader, []byte, error) {
	return decodeHeader[ResponseHeader](payload)
}

func decodeHeader[H any, P interface {
	*H
	msgpack.CustomDecoder
}](payload []byte) (H, []byte, error) {
	var h H
	s := getDecoder(payload)
	defer putDecoder(s)
	if err := P(&h).DecodeMsgpack(s.dec); err != nil {
		return h, nil, fmt.Errorf("wire: decoding %T: %v: %w", h, err, ErrMalformed)
	}
	return h, payload[len(payload)-s.r.Len():], nil
}

// errNotWireType is returned by DecodeBody for a destination that has no
// hand-written, length-checked decoder.
var errNotWireType = errors.New("wire: DecodeBody needs a non-nil pointer to a type implementing msgpack.CustomDecoder")

// DecodeBody decodes a message body (the bytes after a header) into v,
// which must be a non-nil pointer to one of this package's message types
// (anything implementing msgpack.CustomDecoder; msgpack's reflection
// decoder is refused because it is unsafe on hostile input). The whole of
// b must be one msgpack value. Decoded byte slices and strings are copies:
// v does not alias b, so b may be reused.
//
// A body from a newer peer may carry fields this version does not know;
// they are skipped. Decode errors wrap ErrMalformed; a v that is not a
// wire type gives an error that does not (it is a programming error).
// Safe for concurrent use with different v.
func DecodeBody(b []byte, v any) error {
	cd, ok := v.(msgpack.CustomDecoder)
	if !ok {
		return fmt.Errorf("%w, not %T", errNotWireType, v)
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return fmt.Errorf("%w, not nil %T", errNotWireType, v)
	}
	s := getDecoder(b)
	defer putDecoder(s)
	if err := cd.DecodeMsgpack(s.dec); err != nil {
		return fmt.Errorf("wire: decoding %T: %v: %w", v, err, ErrMalformed)
	}
	if n := s.r.Len(); n != 0 {
		return fmt.Errorf("wire: decoding %T: %d trailing bytes: %w", v, n, ErrMalformed)
	}
	return nil
}
