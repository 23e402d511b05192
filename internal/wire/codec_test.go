package wire

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/vmihailenco/msgpack/v5"
)

func TestRequestRoundTrip(t *testing.T) {
	for i, s := range requestSamples() {
		t.Run(s.name, func(t *testing.T) {
			prefix := []byte("previous frames")
			h := RequestHeader{APIKey: s.key, APIVersion: 0, CorrelationID: uint32(0xFFFFFF00 + i)}
			frame, err := EncodeRequest(prefix, h, s.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(frame[:len(prefix)], prefix) {
				t.Fatal("EncodeRequest changed dst's existing bytes")
			}
			payload, err := ReadFrame(bytes.NewReader(frame[len(prefix):]), 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			gotH, body, err := DecodeRequestHeader(payload)
			if err != nil {
				t.Fatal(err)
			}
			if gotH != h {
				t.Fatalf("header: got %+v, want %+v", gotH, h)
			}
			if err := CheckVersion(gotH.APIKey, gotH.APIVersion); err != nil {
				t.Fatal(err)
			}
			got := s.empty()
			if err := DecodeBody(body, got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, s.msg) {
				t.Fatalf("body:\n got %+v\nwant %+v", got, s.msg)
			}
		})
	}
}

func TestResponseRoundTrip(t *testing.T) {
	for _, s := range responseSamples() {
		t.Run(s.name, func(t *testing.T) {
			h := ResponseHeader{CorrelationID: 7}
			frame, err := EncodeResponse(nil, h, s.msg)
			if err != nil {
				t.Fatal(err)
			}
			payload, err := ReadFrame(bytes.NewReader(frame), 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			gotH, body, err := DecodeResponseHeader(payload)
			if err != nil {
				t.Fatal(err)
			}
			if gotH != h {
				t.Fatalf("header: got %+v, want %+v", gotH, h)
			}
			got := s.empty()
			if err := DecodeBody(body, got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, s.msg) {
				t.Fatalf("body:\n got %+v\nwant %+v", got, s.msg)
			}
			// Every response starts with the ErrorResponse prefix.
			var er ErrorResponse
			if err := DecodeBody(body, &er); err != nil {
				t.Fatal(err)
			}
			code := reflect.ValueOf(s.msg).Elem().FieldByName("ErrorCode").Interface().(Code)
			msg := reflect.ValueOf(s.msg).Elem().FieldByName("ErrorMessage").String()
			if er.ErrorCode != code || er.ErrorMessage != msg {
				t.Fatalf("as ErrorResponse: got %+v, want %v %q", er, code, msg)
			}
		})
	}
}

func TestZeroValuesRoundTrip(t *testing.T) {
	for _, s := range samples() {
		zero := s.empty()
		body := marshal(zero)
		got := s.empty()
		if err := DecodeBody(body, got); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !reflect.DeepEqual(got, zero) {
			t.Fatalf("%s: got %+v, want the zero value", s.name, got)
		}
	}
}

func TestErrorResponseDecodesAsEveryResponse(t *testing.T) {
	body := marshal(ErrorResponse{ErrorCode: CodeUnsupportedVersion, ErrorMessage: "Fetch v9"})
	for _, s := range responseSamples() {
		got := s.empty()
		if err := DecodeBody(body, got); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		err := got.(interface{ Err() error }).Err()
		if !errors.Is(err, ErrUnsupportedVersion) || CodeOf(err) != CodeUnsupportedVersion {
			t.Fatalf("%s: Err() = %v", s.name, err)
		}
	}
	var pr ProduceResponse
	if err := DecodeBody(body, &pr); err != nil || pr.BaseOffset != -1 {
		t.Fatalf("ProduceResponse from ErrorResponse: BaseOffset %d, %v; want -1", pr.BaseOffset, err)
	}
}

// appendFields rewrites the array-encoded struct b as if a newer version
// had appended extra fields.
func appendFields(t *testing.T, b []byte, extra ...any) []byte {
	t.Helper()
	r := bytes.NewReader(b)
	n, err := msgpack.NewDecoder(r).DecodeArrayLen()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	enc := msgpack.NewEncoder(&out)
	if err := enc.EncodeArrayLen(n + len(extra)); err != nil {
		t.Fatal(err)
	}
	out.Write(b[len(b)-r.Len():])
	for _, x := range extra {
		if err := enc.Encode(x); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

func TestNewerPeerFieldsAreSkipped(t *testing.T) {
	extra := []any{
		int64(-1), "new field", []byte{1, 2, 3}, nil, true, 3.5,
		[]any{[]any{1, "x"}, map[string]any{"a": []any{1}}},
		map[string]int{"k": 1},
	}
	for _, s := range samples() {
		body := appendFields(t, marshal(s.msg), extra...)
		got := s.empty()
		if err := DecodeBody(body, got); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !reflect.DeepEqual(got, s.msg) {
			t.Fatalf("%s: got %+v, want %+v", s.name, got, s.msg)
		}
	}
	// Nested structs skip appended fields too.
	rec := Record{Offset: 5, Key: []byte("k"), Headers: []Header{{Key: "h", Value: []byte("v")}}}
	newRec := appendFields(t, marshal(rec), "v1 field")
	var pr ProduceRequest
	body := marshal([]any{"t", 0, 0, 0}) // a v0 ProduceRequest up to Records
	body[0]++                            // five fields, not four
	body = append(body, 0x91)            // Records: one record
	body = append(body, newRec...)
	if err := DecodeBody(body, &pr); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pr.Records, []Record{rec}) {
		t.Fatalf("got %+v", pr.Records)
	}
}

func TestMissingFields(t *testing.T) {
	// Requests need all their v0 fields (Produce: 5 of its 7,
	// ListOffsets: 3 of its 4, JoinCluster: 3 of its 4).
	for _, s := range requestSamples() {
		full := marshal(s.msg)
		n, _ := msgpack.NewDecoder(bytes.NewReader(full)).DecodeArrayLen()
		switch s.key {
		case Produce:
			n = produceRequestMin
		case ListOffsets:
			n = listOffsetsRequestMin
		case JoinCluster:
			n = minJoinClusterRequest
		}
		if n == 0 {
			continue // nothing can be missing
		}
		short := marshal(make([]any, n-1)) // right shape, one field short
		if err := DecodeBody(short, s.empty()); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s with %d fields: got %v, want ErrMalformed", s.name, n-1, err)
		}
	}
	// Responses need only ErrorCode and ErrorMessage.
	for _, s := range responseSamples() {
		if err := DecodeBody(marshal([]any{1}), s.empty()); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s with 1 field: got %v, want ErrMalformed", s.name, err)
		}
	}
	// Nested structs need all their v0 fields.
	for _, body := range [][]byte{
		marshal([]any{"t", 0, 1, 0, []any{[]any{0, 0, nil, nil}}}),                           // Record
		marshal([]any{"t", 0, 1, 0, []any{[]any{0, 0, nil, nil, []any{[]any{"only key"}}}}}), // Header
		marshal([]any{"t", 0, 1, 0, []any{nil}}),                                             // nil Record
		{},                                                                                   // empty body
	} {
		if err := DecodeBody(body, new(ProduceRequest)); !errors.Is(err, ErrMalformed) {
			t.Errorf("% x: got %v, want ErrMalformed", body, err)
		}
	}
}

func TestRecordNilVersusEmpty(t *testing.T) {
	for _, rec := range []Record{
		{Key: nil, Value: nil},
		{Key: []byte{}, Value: []byte{}},
		{Key: nil, Value: []byte{}, Headers: []Header{{Key: "a", Value: nil}, {Key: "b", Value: []byte{}}}},
	} {
		var got Record
		if err := DecodeBody(marshal(rec), &got); err != nil {
			t.Fatal(err)
		}
		if (got.Key == nil) != (rec.Key == nil) || (got.Value == nil) != (rec.Value == nil) {
			t.Fatalf("got key nil=%v value nil=%v, want %v %v", got.Key == nil, got.Value == nil, rec.Key == nil, rec.Value == nil)
		}
		for i := range rec.Headers {
			if (got.Headers[i].Value == nil) != (rec.Headers[i].Value == nil) {
				t.Fatalf("header %d: nil-ness lost", i)
			}
		}
	}
	if b := marshal(Record{}); !bytes.Equal(b, []byte{0x95, 0, 0, 0xc0, 0xc0, 0x90}) {
		t.Fatalf("zero Record encodes as % x", b)
	}
}

func TestRecordSize(t *testing.T) {
	r := Record{Key: []byte("ab"), Value: []byte("cde"), Headers: []Header{{Key: "f", Value: []byte("gh")}}}
	if got := r.Size(); got != 8 {
		t.Fatalf("Size() = %d, want 8", got)
	}
}

func TestDecodedBytesDoNotAliasInput(t *testing.T) {
	body := marshal(&FetchResponse{Records: []Record{{Key: []byte("key"), Value: []byte("value"),
		Headers: []Header{{Key: "h", Value: []byte("hv")}}}}})
	var got FetchResponse
	if err := DecodeBody(body, &got); err != nil {
		t.Fatal(err)
	}
	clear(body)
	r := got.Records[0]
	if string(r.Key) != "key" || string(r.Value) != "value" || string(r.Headers[0].Value) != "hv" {
		t.Fatalf("decoded record changed with its input: %+v", r)
	}
}

// noLenReader hides bytes.Reader's Len, so decoders cannot see how much
// input remains and must take their grow-as-you-read path.
type noLenReader struct{ r *bytes.Reader }

func (r noLenReader) Read(p []byte) (int, error) { return r.r.Read(p) }

func TestRecordsViaPlainMsgpack(t *testing.T) {
	recs := sampleRecords() // includes a 70000-byte value
	b, err := msgpack.Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	var viaUnmarshal []Record
	if err := msgpack.Unmarshal(b, &viaUnmarshal); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(viaUnmarshal, recs) {
		t.Fatal("msgpack.Unmarshal round trip differs")
	}
	for _, r := range []interface{ Read([]byte) (int, error) }{
		noLenReader{bytes.NewReader(b)},
		iotest.OneByteReader(bytes.NewReader(b)),
		bufio.NewReaderSize(bytes.NewReader(b), 16),
	} {
		dec := msgpack.NewDecoder(r)
		var got ProduceRequest
		n, err := dec.DecodeArrayLen()
		if err != nil || n != len(recs) {
			t.Fatal(n, err)
		}
		for i := range n {
			var rec Record
			if err := rec.DecodeMsgpack(dec); err != nil {
				t.Fatalf("%T record %d: %v", r, i, err)
			}
			got.Records = append(got.Records, rec)
		}
		if !reflect.DeepEqual(got.Records, recs) {
			t.Fatalf("%T: records differ", r)
		}
	}
}

func TestDecodeBodyErrors(t *testing.T) {
	good := marshal(&FetchRequest{Topic: "t"})
	if err := DecodeBody(append(good, 0x00), new(FetchRequest)); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte: got %v", err)
	}
	if err := DecodeBody(good[:len(good)-1], new(FetchRequest)); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated body: got %v", err)
	}
	if err := DecodeBody(nil, new(FetchRequest)); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty body: got %v", err)
	}
	for _, v := range []any{new(int), FetchRequest{}, (*FetchRequest)(nil), nil, new(struct{ A int })} {
		if err := DecodeBody(good, v); !errors.Is(err, errNotWireType) || errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeBody(%T): got %v, want errNotWireType", v, err)
		}
	}
	// Integers must fit their fields.
	for _, body := range [][]byte{
		marshal([]any{"t", int64(1) << 31, 0, 0, 0}),  // Partition overflows int32
		marshal([]any{"t", 0, 0, 0, int64(-1) << 40}), // MaxWaitMs overflows int32
	} {
		if err := DecodeBody(body, new(FetchRequest)); !errors.Is(err, ErrMalformed) {
			t.Errorf("% x: got %v, want ErrMalformed", body, err)
		}
	}
	if err := DecodeBody(marshal([]any{"t", 0, 300}), new(ListOffsetsRequest)); !errors.Is(err, ErrMalformed) {
		t.Errorf("Which overflows int8: got %v", err)
	}
	if err := DecodeBody(marshal([]any{70000, ""}), new(ErrorResponse)); !errors.Is(err, ErrMalformed) {
		t.Errorf("ErrorCode overflows uint16: got %v", err)
	}
}

func TestDecodeHeaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"not an array", []byte{0x01}},
		{"too few fields", marshal([]any{3, 0})},
		{"truncated", marshal([]any{3, 0, 70000})[:5]},
		{"api key overflows uint16", marshal([]any{70000, 0, 1})},
		{"negative correlation id", marshal([]any{3, 0, -1})},
	} {
		if _, _, err := DecodeRequestHeader(tc.payload); !errors.Is(err, ErrMalformed) {
			t.Errorf("request %s: got %v, want ErrMalformed", tc.name, err)
		}
	}
	if _, _, err := DecodeResponseHeader([]byte{0x90}); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty response header: got %v", err)
	}
	// A header from a newer version, with an extra field, still works.
	payload := append(marshal([]any{3, 0, 9, "new"}), 0xc0)
	h, body, err := DecodeRequestHeader(payload)
	if err != nil || h.CorrelationID != 9 || !bytes.Equal(body, []byte{0xc0}) {
		t.Fatalf("got %+v % x %v", h, body, err)
	}
}

func TestEncodeErrorLeavesDstUnchanged(t *testing.T) {
	dst := []byte("keep")
	out, err := EncodeRequest(dst, RequestHeader{}, make(chan int))
	if err == nil {
		t.Fatal("encoding a channel succeeded")
	}
	if string(out) != "keep" {
		t.Fatalf("got %q", out)
	}
}

func TestDecodedRecordsAreIndependent(t *testing.T) {
	// Records decoded in one batch share arena chunks; appending to one
	// slice must not overwrite another.
	body := marshal(&FetchResponse{Records: testRecords(100, 10)})
	var got FetchResponse
	if err := DecodeBody(body, &got); err != nil {
		t.Fatal(err)
	}
	want := testRecords(100, 10)
	for i := range got.Records {
		got.Records[i].Key = append(got.Records[i].Key, "XXXXXXXX"...)
		got.Records[i].Value = append(got.Records[i].Value, "YYYYYYYY"...)
	}
	for i, r := range got.Records {
		if string(r.Key) != string(want[i].Key)+"XXXXXXXX" || string(r.Value) != string(want[i].Value)+"YYYYYYYY" {
			t.Fatalf("record %d was overwritten: %q %q", i, r.Key, r.Value)
		}
	}
}
