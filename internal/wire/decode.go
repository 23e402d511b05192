package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// The hand-written codecs of the protocol types are built from the helpers
// in this file. They exist because msgpack v5.4.1's reflection decoder is
// not safe on hostile input (checked in its source and by experiment):
//
//   - []byte fields (and Decoder.DecodeBytes) allocate the declared length,
//     up to 4 GiB, before reading: 5 input bytes can allocate 4 GiB;
//   - typed slices ([]Record, []Node, ...) are preallocated to the declared
//     length: its alloc-limit check reads `flags&disableAllocLimitFlag != 1`,
//     which is always true, so the 1e6-element limit never applies;
//   - Decoder.Skip (and decoding into interface{}) recurses once per nesting
//     level with no limit: a 16 MiB frame of 0x91 bytes overflows the
//     goroutine stack, a fatal error that kills the process;
//   - as_array structs must have exactly as many fields as the Go struct,
//     so fields could not be appended in later versions.
//
// The rules applied here instead:
//
//   - every declared length (bytes, string, array, map, ext) is checked
//     against the bytes remaining in the input before anything is
//     allocated. When the decoder's reader cannot tell what remains (it is
//     not a *bytes.Reader or similar), buffers grow as bytes arrive and
//     slices start at a capped capacity;
//   - an array of structs is checked against the smallest encoding of one
//     element, so a slice costs at most sizeof(T)/minSize times the input
//     (about 15x for []Record: 6 bytes at least, 88 in memory);
//   - unknown trailing fields are skipped by skipValue, which checks
//     lengths the same way and stops at maxSkipDepth levels of nesting.

// maxSkipDepth bounds how many arrays and maps may nest in a value
// skipped as an unknown field.
const maxSkipDepth = 32

// errTooDeep is returned when skipped data nests deeper than maxSkipDepth.
var errTooDeep = errors.New("value nested too deeply")

// remaining returns the number of input bytes d has not consumed, or -1 if
// its reader cannot tell.
func remaining(d *msgpack.Decoder) int {
	switch r := d.Buffered().(type) {
	case *bytes.Reader: // the common case, and a cheaper type check
		return r.Len()
	case interface{ Len() int }:
		return r.Len()
	}
	return -1
}

// checkLen returns an error if n items of at least unit bytes each cannot
// fit in what remains of d's input.
func checkLen(d *msgpack.Decoder, n, unit int, what string) error {
	if rem := remaining(d); rem >= 0 && n > rem/unit {
		return fmt.Errorf("%s: %d declared, only %d bytes left", what, n, rem)
	}
	return nil
}

// capHint is the initial capacity for a slice of n checked elements: n when
// checkLen could verify it, else at most 1024 (the slice grows by append).
func capHint(d *msgpack.Decoder, n int) int {
	if remaining(d) >= 0 {
		return n
	}
	return min(n, 1024)
}

// decodeArrayLen reads an array header whose elements each encode to at
// least minSize bytes. A nil array decodes as length 0.
func decodeArrayLen(d *msgpack.Decoder, minSize int, what string) (int, error) {
	n, err := decodeArrayLen0(d)
	if err != nil || n <= 0 {
		return 0, err
	}
	return n, checkLen(d, n, minSize, what)
}

// readBytes reads n raw bytes into a new slice (non-nil, even for n == 0),
// taken from a if it is not nil.
func readBytes(d *msgpack.Decoder, n int, a *arena) ([]byte, error) {
	if err := checkLen(d, n, 1, "bytes"); err != nil {
		return nil, err
	}
	if br, ok := d.Buffered().(*bytes.Reader); ok {
		// Fast path: checkLen has verified the bytes are there.
		b := a.alloc(n)
		if _, err := br.Read(b); err != nil && n > 0 {
			return nil, err
		}
		return b, nil
	}
	if n <= growChunk || remaining(d) >= 0 {
		b := a.alloc(n)
		if n == 0 {
			return b, nil
		}
		return b, d.ReadFull(b)
	}
	// Length unverifiable: grow as bytes arrive.
	b := make([]byte, 0, growChunk)
	for len(b) < n {
		k := min(n-len(b), max(growChunk, len(b)))
		b = slices.Grow(b, k)
		if err := d.ReadFull(b[len(b) : len(b)+k]); err != nil {
			return nil, err
		}
		b = b[:len(b)+k]
	}
	return b, nil
}

// decodeBytes decodes a bin (or str) value; nil stays nil, empty stays
// empty. The slice is taken from a if it is not nil.
func decodeBytes(d *msgpack.Decoder, a *arena) ([]byte, error) {
	n, err := decodeBytesLen(d)
	if err != nil || n < 0 {
		return nil, err
	}
	return readBytes(d, n, a)
}

// decodeString decodes a str (or bin) value; nil decodes as "".
func decodeString(d *msgpack.Decoder) (string, error) {
	n, err := decodeBytesLen(d)
	if err != nil || n <= 0 {
		return "", err
	}
	b, err := readBytes(d, n, nil)
	return string(b), err
}

func decodeStrings(d *msgpack.Decoder) ([]string, error) {
	n, err := decodeArrayLen(d, 1, "string array")
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([]string, 0, capHint(d, n))
	for range n {
		s, err := decodeString(d)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// decodeSlice decodes an array of T, each element at least minSize bytes
// on the wire. An empty or nil array decodes as a nil slice.
func decodeSlice[T any, P interface {
	*T
	msgpack.CustomDecoder
}](d *msgpack.Decoder, minSize int, what string) ([]T, error) {
	n, err := decodeArrayLen(d, minSize, what)
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([]T, capHint(d, n))
	for i := range n {
		if i == len(out) {
			out = append(out, make([]T, min(n-i, len(out)))...)
		}
		if err := P(&out[i]).DecodeMsgpack(d); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", what, i, err)
		}
	}
	return out[:n], nil
}

func decodeInt32(d *msgpack.Decoder) (int32, error) {
	v, err := decodeInt64(d)
	if err == nil && (v < math.MinInt32 || v > math.MaxInt32) {
		err = fmt.Errorf("integer %d overflows int32", v)
	}
	return int32(v), err
}

func decodeInt8(d *msgpack.Decoder) (int8, error) {
	v, err := decodeInt64(d)
	if err == nil && (v < math.MinInt8 || v > math.MaxInt8) {
		err = fmt.Errorf("integer %d overflows int8", v)
	}
	return int8(v), err
}

func decodeUint32(d *msgpack.Decoder) (uint32, error) {
	v, err := d.DecodeUint64()
	if err == nil && v > math.MaxUint32 {
		err = fmt.Errorf("integer %d overflows uint32", v)
	}
	return uint32(v), err
}

func decodeUint16(d *msgpack.Decoder) (uint16, error) {
	v, err := d.DecodeUint64()
	if err == nil && v > math.MaxUint16 {
		err = fmt.Errorf("integer %d overflows uint16", v)
	}
	return uint16(v), err
}

// skipValue skips one value of any type without trusting its lengths.
// depth is the number of arrays and maps enclosing the value within the
// field being skipped; at most maxSkipDepth containers may nest.
func skipValue(d *msgpack.Decoder, depth int) error {
	c, err := d.PeekCode()
	if err != nil {
		return err
	}
	isArray := msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
	isMap := msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32
	if (isArray || isMap) && depth >= maxSkipDepth {
		return errTooDeep
	}
	switch {
	case isArray:
		n, err := decodeArrayLen(d, 1, "skipped array")
		if err != nil {
			return err
		}
		return skipValues(d, n, depth+1)
	case isMap:
		n, err := d.DecodeMapLen()
		if err != nil || n <= 0 {
			return err
		}
		if err := checkLen(d, n, 2, "skipped map"); err != nil {
			return err
		}
		return skipValues(d, 2*n, depth+1)
	case msgpcode.IsString(c) || msgpcode.IsBin(c):
		n, err := d.DecodeBytesLen()
		if err != nil || n <= 0 {
			return err
		}
		return discard(d, n)
	case msgpcode.IsExt(c):
		_, n, err := d.DecodeExtHeader()
		if err != nil {
			return err
		}
		return discard(d, n)
	default: // nil, bool, numbers: fixed size; or an invalid code
		return d.Skip()
	}
}

// skipValues skips n values at the given depth.
func skipValues(d *msgpack.Decoder, n, depth int) error {
	for range n {
		if err := skipValue(d, depth); err != nil {
			return err
		}
	}
	return nil
}

// discard consumes n bytes of d's input.
func discard(d *msgpack.Decoder, n int) error {
	if err := checkLen(d, n, 1, "skipped bytes"); err != nil {
		return err
	}
	if s, ok := d.Buffered().(io.Seeker); ok && remaining(d) >= 0 {
		_, err := s.Seek(int64(n), io.SeekCurrent)
		return err
	}
	scratch := make([]byte, min(n, 4096))
	for n > 0 {
		k := min(n, len(scratch))
		if err := d.ReadFull(scratch[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// decodeInt32s decodes an array of int32; an empty or nil array decodes as
// a nil slice.
func decodeInt32s(d *msgpack.Decoder) ([]int32, error) {
	n, err := decodeArrayLen(d, 1, "int32 array")
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([]int32, 0, capHint(d, n))
	for range n {
		v, err := decodeInt32(d)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
