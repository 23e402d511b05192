package wire

import (
	"bytes"
	"math"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// TestAppendRecordsDecodesLikeEncoderPath: the append-style encoder and
// the msgpack.Encoder path produce bodies that decode to the same records,
// for the edge cases of every field.
func TestAppendRecordsDecodesLikeEncoderPath(t *testing.T) {
	recs := []Record{
		{Offset: 0, Timestamp: 0},
		{Offset: -1, Timestamp: -33, Key: []byte{}, Value: []byte{}},
		{Offset: 127, Timestamp: 128, Key: []byte("k"), Value: bytes.Repeat([]byte("v"), 255)},
		{Offset: math.MaxInt32 + 1, Timestamp: math.MinInt64, Value: bytes.Repeat([]byte("w"), 256)},
		{Offset: math.MaxInt64, Timestamp: -129, Value: bytes.Repeat([]byte("x"), 70000),
			Headers: []Header{{Key: "", Value: nil}, {Key: string(bytes.Repeat([]byte("h"), 40)), Value: []byte{}}}},
	}
	for _, n := range []int{1, 5, 16, 70000} {
		in := make([]Record, n)
		kinds := recs
		if n > 16 {
			kinds = recs[:3] // many records, small ones: a 3-byte array header
		}
		for i := range in {
			in[i] = kinds[i%len(kinds)]
		}
		fast, err := EncodeResponse(nil, ResponseHeader{CorrelationID: 9}, &FetchResponse{Records: in})
		if err != nil {
			t.Fatal(err)
		}
		// The generic path: the same body through msgpack.Encoder.
		var slow bytes.Buffer
		enc := msgpack.NewEncoder(&slow)
		w := beginEncode(enc, 1)
		encodeSliceField(&w, in)
		if w.err != nil {
			t.Fatal(w.err)
		}
		_, body, err := DecodeResponseHeader(fast[4:])
		if err != nil {
			t.Fatal(err)
		}
		var got FetchResponse
		if err := DecodeBody(body, &got); err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
		var slowRecs []Record
		d := msgpack.NewDecoder(bytes.NewReader(slow.Bytes()))
		var f fieldReader
		f.begin(d, "test", 1)
		f.records(&slowRecs)
		if err := f.done(); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Records, slowRecs) || !reflect.DeepEqual(got.Records, in) {
			t.Fatalf("%d records: fast and generic encodings decode differently", n)
		}
	}
}
