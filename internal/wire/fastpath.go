package wire

import (
	"bytes"
	"encoding/binary"
	"io"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Fast paths for the hot path of record decoding. When the decoder reads
// from a *bytes.Reader (always, under DecodeBody and msgpack.Unmarshal),
// msgpack.Decoder adds no buffering of its own, so these functions read
// the common encodings straight from the reader and hand anything else
// back to msgpack (after UnreadByte). They return exactly what the msgpack
// method they replace would. FuzzRecord checks both paths agree.

// readUint reads the big-endian length or integer of size bytes that
// follows a msgpack code.
func readUint(br *bytes.Reader, size int) (uint64, error) {
	var buf [8]byte
	if n, _ := br.Read(buf[:size]); n < size {
		return 0, io.ErrUnexpectedEOF
	}
	switch size {
	case 1:
		return uint64(buf[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(buf[:])), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(buf[:])), nil
	default:
		return binary.BigEndian.Uint64(buf[:]), nil
	}
}

// decodeBytesLen is d.DecodeBytesLen with a fast path for a *bytes.Reader
// input.
func decodeBytesLen(d *msgpack.Decoder) (int, error) {
	br, ok := d.Buffered().(*bytes.Reader)
	if !ok {
		return d.DecodeBytesLen()
	}
	c, err := br.ReadByte()
	if err != nil {
		return 0, err
	}
	var size int
	switch {
	case c == msgpcode.Nil:
		return -1, nil
	case msgpcode.IsFixedString(c):
		return int(c & msgpcode.FixedStrMask), nil
	case c == msgpcode.Bin8 || c == msgpcode.Str8:
		size = 1
	case c == msgpcode.Bin16 || c == msgpcode.Str16:
		size = 2
	case c == msgpcode.Bin32 || c == msgpcode.Str32:
		size = 4
	default:
		if err := br.UnreadByte(); err != nil {
			return 0, err
		}
		return d.DecodeBytesLen() // reports the error
	}
	n, err := readUint(br, size)
	return int(n), err
}

// decodeArrayLen0 is d.DecodeArrayLen with a fast path for a
// *bytes.Reader input.
func decodeArrayLen0(d *msgpack.Decoder) (int, error) {
	br, ok := d.Buffered().(*bytes.Reader)
	if !ok {
		return d.DecodeArrayLen()
	}
	c, err := br.ReadByte()
	if err != nil {
		return 0, err
	}
	if msgpcode.IsFixedArray(c) {
		return int(c & msgpcode.FixedArrayMask), nil
	}
	if err := br.UnreadByte(); err != nil {
		return 0, err
	}
	return d.DecodeArrayLen()
}

// decodeInt64 is d.DecodeInt64 with a fast path for a *bytes.Reader
// input: the hot path of record decoding.
func decodeInt64(d *msgpack.Decoder) (int64, error) {
	br, ok := d.Buffered().(*bytes.Reader)
	if !ok {
		return d.DecodeInt64()
	}
	c, err := br.ReadByte()
	if err != nil {
		return 0, err
	}
	if msgpcode.IsFixedNum(c) {
		return int64(int8(c)), nil
	}
	var size int
	switch c {
	case msgpcode.Uint8, msgpcode.Int8:
		size = 1
	case msgpcode.Uint16, msgpcode.Int16:
		size = 2
	case msgpcode.Uint32, msgpcode.Int32:
		size = 4
	case msgpcode.Uint64, msgpcode.Int64:
		size = 8
	default: // nil, or not an integer: let msgpack decide
		if err := br.UnreadByte(); err != nil {
			return 0, err
		}
		return d.DecodeInt64()
	}
	u, err := readUint(br, size)
	switch c {
	case msgpcode.Int8:
		return int64(int8(u)), err
	case msgpcode.Int16:
		return int64(int16(u)), err
	case msgpcode.Int32:
		return int64(int32(u)), err
	default: // unsigned, or Int64
		return int64(u), err
	}
}
