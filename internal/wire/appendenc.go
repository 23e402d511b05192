package wire

import (
	"encoding/binary"
	"math"
)

// Append-style msgpack encoders for the hot path: records encoded straight
// into the frame's byte slice, without a method call per field through
// msgpack.Encoder. They write the same values as the Encoder path (maybe
// with other but equally valid integer widths), which every decoder reads.

// encodeRecords writes recs as a msgpack array. When the encoder writes to
// our appendWriter (EncodeRequest, EncodeResponse) it appends directly;
// otherwise it takes the generic path.
func encodeRecords(w *fieldWriter, recs []Record) {
	if w.err != nil {
		return
	}
	aw, ok := w.e.Writer().(*appendWriter)
	if !ok {
		encodeSliceField(w, recs)
		return
	}
	b := appendArrayLen(aw.b, len(recs))
	for i := range recs {
		b = appendRecord(b, &recs[i])
	}
	aw.b = b
}

func appendRecord(b []byte, r *Record) []byte {
	b = append(b, 0x90|recordFields) // fixarray of 5
	b = appendInt(b, r.Offset)
	b = appendInt(b, r.Timestamp)
	b = appendBytes(b, r.Key)
	b = appendBytes(b, r.Value)
	b = appendArrayLen(b, len(r.Headers))
	for i := range r.Headers {
		h := &r.Headers[i]
		b = append(b, 0x92) // fixarray of 2
		b = appendString(b, h.Key)
		b = appendBytes(b, h.Value)
	}
	return b
}

func appendArrayLen(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, 0xdc), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, 0xdd), uint32(n))
	}
}

func appendInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= 127:
		return append(b, byte(v))
	case v < 0 && v >= -32:
		return append(b, byte(v))
	case v >= math.MinInt8 && v <= math.MaxInt8:
		return append(b, 0xd0, byte(v))
	case v >= math.MinInt16 && v <= math.MaxInt16:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
	default:
		return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
	}
}

// appendBytes writes nil as msgpack nil and anything else as bin, as
// Encoder.EncodeBytes does, so nil and empty stay distinct.
func appendBytes(b, v []byte) []byte {
	if v == nil {
		return append(b, 0xc0) // nil
	}
	n := len(v)
	switch {
	case n <= math.MaxUint8:
		b = append(b, 0xc4, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xc5), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xc6), uint32(n))
	}
	return append(b, v...)
}

func appendString(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		b = append(b, 0xd9, byte(n))
	case n <= math.MaxUint16:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}
