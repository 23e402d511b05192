package wire

import (
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// fieldReader decodes the fields of one array-encoded struct in order. A
// struct may arrive with more fields than this version knows (they are
// skipped by done) or, down to a minimum, fewer (the rest stay zero). The
// first error sticks: later calls do nothing and done returns it.
type fieldReader struct {
	d    *msgpack.Decoder
	name string // the struct's name, for errors
	n    int    // fields present in the input
	i    int    // fields consumed so far
	err  error
}

// begin reads the array header of struct name, which must have at least
// min fields, and readies f to decode its fields.
func (f *fieldReader) begin(d *msgpack.Decoder, name string, min int) {
	f.d, f.name = d, name
	f.n, f.err = decodeArrayLen0(d)
	switch {
	case f.err != nil:
	case f.n < 0:
		f.err = errors.New("nil instead of a struct")
	case f.n < min:
		f.err = fmt.Errorf("%d fields, want at least %d", f.n, min)
	default:
		f.err = checkLen(d, f.n, 1, "fields")
	}
}

// next reports whether the next field is present and should be decoded.
func (f *fieldReader) next() bool {
	if f.err != nil || f.i >= f.n {
		return false
	}
	f.i++
	return true
}

func (f *fieldReader) int64(p *int64) {
	if f.next() {
		*p, f.err = decodeInt64(f.d)
	}
}

func (f *fieldReader) int32(p *int32) {
	if f.next() {
		*p, f.err = decodeInt32(f.d)
	}
}

func (f *fieldReader) int8(p *int8) {
	if f.next() {
		*p, f.err = decodeInt8(f.d)
	}
}

func (f *fieldReader) uint32(p *uint32) {
	if f.next() {
		*p, f.err = decodeUint32(f.d)
	}
}

func (f *fieldReader) uint16(p *uint16) {
	if f.next() {
		*p, f.err = decodeUint16(f.d)
	}
}

func (f *fieldReader) uint64(p *uint64) {
	if f.next() {
		*p, f.err = f.d.DecodeUint64()
	}
}

func (f *fieldReader) bool(p *bool) {
	if f.next() {
		*p, f.err = f.d.DecodeBool()
	}
}

func (f *fieldReader) code(p *Code) {
	if f.next() {
		var v uint16
		v, f.err = decodeUint16(f.d)
		*p = Code(v)
	}
}

func (f *fieldReader) string(p *string) {
	if f.next() {
		*p, f.err = decodeString(f.d)
	}
}

// bytes decodes the next field as a byte slice taken from a (nil: a
// separate allocation).
func (f *fieldReader) bytes(p *[]byte, a *arena) {
	if f.next() {
		*p, f.err = decodeBytes(f.d, a)
	}
}

func (f *fieldReader) strings(p *[]string) {
	if f.next() {
		*p, f.err = decodeStrings(f.d)
	}
}

// sliceField decodes the next field as an array of T (see decodeSlice).
func sliceField[T any, P interface {
	*T
	msgpack.CustomDecoder
}](f *fieldReader, p *[]T, minSize int, what string) {
	if f.next() {
		*p, f.err = decodeSlice[T, P](f.d, minSize, what)
	}
}

// done skips any fields this version does not know and returns the first
// error, annotated with the struct and field.
func (f *fieldReader) done() error {
	if f.err == nil && f.i < f.n {
		f.err = skipValues(f.d, f.n-f.i, 0)
	}
	if f.err != nil {
		return fmt.Errorf("%s field %d: %w", f.name, f.i, f.err)
	}
	return nil
}

// fieldWriter encodes the fields of one array-encoded struct; the first
// error sticks and is returned by err.
type fieldWriter struct {
	e   *msgpack.Encoder
	err error
}

// beginEncode writes the array header of a struct with n fields.
func beginEncode(e *msgpack.Encoder, n int) fieldWriter {
	return fieldWriter{e: e, err: e.EncodeArrayLen(n)}
}

func (w *fieldWriter) int(v int64) {
	if w.err == nil {
		w.err = w.e.EncodeInt(v)
	}
}

func (w *fieldWriter) uint(v uint64) {
	if w.err == nil {
		w.err = w.e.EncodeUint(v)
	}
}

func (w *fieldWriter) bool(v bool) {
	if w.err == nil {
		w.err = w.e.EncodeBool(v)
	}
}

func (w *fieldWriter) string(v string) {
	if w.err == nil {
		w.err = w.e.EncodeString(v)
	}
}

func (w *fieldWriter) bytes(v []byte) {
	if w.err == nil {
		w.err = w.e.EncodeBytes(v)
	}
}

func (w *fieldWriter) strings(v []string) {
	if w.err != nil {
		return
	}
	if w.err = w.e.EncodeArrayLen(len(v)); w.err != nil {
		return
	}
	for _, s := range v {
		if w.err = w.e.EncodeString(s); w.err != nil {
			return
		}
	}
}

// encodeSliceField writes s as an array of its elements' encodings.
func encodeSliceField[T msgpack.CustomEncoder](w *fieldWriter, s []T) {
	if w.err != nil {
		return
	}
	if w.err = w.e.EncodeArrayLen(len(s)); w.err != nil {
		return
	}
	for i := range s {
		if w.err = s[i].EncodeMsgpack(w.e); w.err != nil {
			return
		}
	}
}

// structField decodes the next field as the struct p points to.
func (f *fieldReader) structField(p msgpack.CustomDecoder) {
	if f.next() {
		f.err = p.DecodeMsgpack(f.d)
	}
}

// structField writes v as the next field.
func (w *fieldWriter) structField(v msgpack.CustomEncoder) {
	if w.err == nil {
		w.err = v.EncodeMsgpack(w.e)
	}
}

func (f *fieldReader) int32s(p *[]int32) {
	if f.next() {
		*p, f.err = decodeInt32s(f.d)
	}
}

func (w *fieldWriter) int32s(v []int32) {
	if w.err != nil {
		return
	}
	if w.err = w.e.EncodeArrayLen(len(v)); w.err != nil {
		return
	}
	for _, x := range v {
		if w.err = w.e.EncodeInt(int64(x)); w.err != nil {
			return
		}
	}
}
