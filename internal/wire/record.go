package wire

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Record is one message in a partition's log, as produced and fetched.
//
// On the wire a Record is the array [Offset, Timestamp, Key, Value,
// Headers]. Key and Value are msgpack bin values, or nil: a nil Key is
// distinct from an empty one and survives a round trip. Records have a
// hand-written codec (no reflection) because they are the hot path.
type Record struct {
	_msgpack struct{} `msgpack:",as_array"`

	// Offset is the record's position in the partition. Ignored in a
	// ProduceRequest (the broker assigns offsets); set in a FetchResponse.
	Offset int64
	// Timestamp is the record's time in Unix milliseconds; 0 in a
	// ProduceRequest asks the broker to stamp it.
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Header is a key/value pair attached to a Record. On the wire it is the
// array [Key, Value]; a nil Value is distinct from an empty one.
type Header struct {
	_msgpack struct{} `msgpack:",as_array"`

	Key   string
	Value []byte
}

const (
	recordFields = 5
	headerFields = 2

	// minRecordSize and minHeaderSize are the smallest encodings of one
	// element (array header plus one byte per v0 field); they bound how
	// many elements an array's declared length may claim.
	minRecordSize = 1 + recordFields
	minHeaderSize = 1 + headerFields
)

// Size returns the record's size as limited by DefaultMaxMessage: the
// lengths of its key, value and header keys and values.
func (r *Record) Size() int {
	n := len(r.Key) + len(r.Value)
	for i := range r.Headers {
		n += len(r.Headers[i].Key) + len(r.Headers[i].Value)
	}
	return n
}

// EncodeMsgpack implements msgpack.CustomEncoder. It returns only the
// encoder's write errors.
func (r Record) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, recordFields)
	w.int(r.Offset)
	w.int(r.Timestamp)
	w.bytes(r.Key)
	w.bytes(r.Value)
	encodeSliceField(&w, r.Headers)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder. Every declared length is
// checked against the input remaining before it is allocated; fields after
// Headers (from a newer version) are skipped. Key, Value and header values
// are fresh copies that do not alias the input.
func (r *Record) DecodeMsgpack(d *msgpack.Decoder) error {
	*r = Record{}
	return r.decode(d, nil)
}

// decode decodes into r, which must be zero, taking Key, Value and header
// values from a (nil: each its own allocation).
func (r *Record) decode(d *msgpack.Decoder, a *arena) error {
	var f fieldReader
	f.begin(d, "Record", recordFields)
	f.int64(&r.Offset)
	f.int64(&r.Timestamp)
	f.bytes(&r.Key, a)
	f.bytes(&r.Value, a)
	if f.next() {
		r.Headers, f.err = decodeHeaders(d, a)
	}
	return f.done()
}

// decodeRecords decodes an array of records. Their byte slices share
// arena chunks (see arena): keeping one record's Key or Value alive keeps
// up to arenaChunk bytes of its neighbours' alive too.
func decodeRecords(d *msgpack.Decoder) ([]Record, error) {
	n, err := decodeArrayLen(d, minRecordSize, "Records")
	if err != nil || n == 0 {
		return nil, err
	}
	var a arena
	out := make([]Record, capHint(d, n))
	for i := range n {
		if i == len(out) {
			out = append(out, make([]Record, min(n-i, len(out)))...)
		}
		if err := out[i].decode(d, &a); err != nil {
			return nil, fmt.Errorf("Records[%d]: %w", i, err)
		}
	}
	return out[:n], nil
}

// records decodes the next field as an array of records.
func (f *fieldReader) records(p *[]Record) {
	if f.next() {
		*p, f.err = decodeRecords(f.d)
	}
}

func decodeHeaders(d *msgpack.Decoder, a *arena) ([]Header, error) {
	n, err := decodeArrayLen(d, minHeaderSize, "Headers")
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([]Header, 0, capHint(d, n))
	for i := range n {
		var h Header
		if err := h.decode(d, a); err != nil {
			return nil, fmt.Errorf("Headers[%d]: %w", i, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// EncodeMsgpack implements msgpack.CustomEncoder.
func (h Header) EncodeMsgpack(e *msgpack.Encoder) error {
	w := beginEncode(e, headerFields)
	w.string(h.Key)
	w.bytes(h.Value)
	return w.err
}

// DecodeMsgpack implements msgpack.CustomDecoder.
func (h *Header) DecodeMsgpack(d *msgpack.Decoder) error {
	*h = Header{}
	return h.decode(d, nil)
}

// decode decodes into h, which must be zero.
func (h *Header) decode(d *msgpack.Decoder, a *arena) error {
	var f fieldReader
	f.begin(d, "Header", headerFields)
	f.string(&h.Key)
	f.bytes(&h.Value, a)
	return f.done()
}
