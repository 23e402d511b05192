package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"runtime/metrics"
	"slices"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// checkAlloc fails t if decode allocates more than a generous multiple of
// the input size: decoding may expand records into Go structs (about 16x
// at worst), but never by the gigabytes a declared length could claim.
// runtime/metrics is used because it is cheap (runtime.ReadMemStats stops
// the world, ~20µs); it counts large allocations at once and small ones
// a span at a time, which the 1 MiB slack absorbs.
//
// The counter is process-wide: whatever other goroutines allocate
// meanwhile (the fuzz engine's own, the GC's workers, parallel tests)
// counts too. So one measurement over the limit is not a verdict: decode
// runs again, up to allocTries times in all, and only the smallest
// measurement is judged. A decoder allocates the same for the same input
// every time and foreign allocations only add, so the minimum is still an
// upper bound of the decoder's own allocation: a decoder that really
// over-allocates fails every run, while a burst of someone else's
// allocations has to coincide with every one of them to fail the check.
// decode must therefore be repeatable (decode the same input into fresh
// values); the last run's results are what the caller sees.
func checkAlloc(t *testing.T, inputLen int, decode func()) {
	t.Helper()
	if runs, over := allocOver(inputLen, decode); over {
		t.Fatalf("decoding %d bytes allocated at least %d bytes (limit %d; runs %v)", inputLen, slices.Min(runs), allocLimit(inputLen), runs)
	}
}

// allocTries bounds how often allocOver runs decode.
const allocTries = 5

func allocLimit(inputLen int) uint64 { return uint64(64*inputLen + 1<<20) }

// allocOver measures decode's allocation until one run is within the limit
// or allocTries runs are over it. It returns the bytes counted per run.
func allocOver(inputLen int, decode func()) (runs []uint64, over bool) {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	for range allocTries {
		metrics.Read(s)
		before := s[0].Value.Uint64()
		decode()
		metrics.Read(s)
		n := s[0].Value.Uint64() - before
		runs = append(runs, n)
		if n <= allocLimit(inputLen) {
			return runs, false
		}
	}
	return runs, true
}

// checkRoundTrip re-encodes v, decodes the result into a fresh value and
// requires both to be equal, and the encoding to be stable.
func checkRoundTrip(t *testing.T, v message, empty func() message) {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatalf("re-encoding %T: %v", v, err)
	}
	v2 := empty()
	if err := DecodeBody(b, v2); err != nil {
		t.Fatalf("decoding re-encoded %T: %v\n% x", v, err, b)
	}
	if !reflect.DeepEqual(v, v2) {
		t.Fatalf("round trip of %T differs:\n%+v\n%+v", v, v, v2)
	}
	if b2 := marshal(v2); !bytes.Equal(b, b2) {
		t.Fatalf("encoding of %T is not stable:\n% x\n% x", v, b, b2)
	}
}

// maxSeed is the largest seed given to a fuzzer: big seeds slow every
// execution and make minimising new inputs take minutes. The unit tests
// cover the large-input paths.
const maxSeed = 4 << 10

func FuzzReadFrame(f *testing.F) {
	for _, s := range samples() {
		b, _ := EncodeRequest(nil, RequestHeader{APIKey: s.key}, s.msg)
		if len(b) <= maxSeed {
			f.Add(b, uint32(0))
			f.Add(b, uint32(len(b)-FrameHeaderSize-1))
		}
	}
	f.Add([]byte{}, uint32(0))
	f.Add([]byte{0, 0, 0, 0}, uint32(0))
	f.Add([]byte{0, 0, 0, 3, 1, 2}, uint32(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1}, uint32(0))
	f.Add(append(binary.BigEndian.AppendUint32(nil, 3000), make([]byte, 3000)...), uint32(2999))
	f.Fuzz(func(t *testing.T, data []byte, maxFrame uint32) {
		limit := int(maxFrame % (DefaultMaxFrame + 1))
		if limit == 0 {
			limit = DefaultMaxFrame
		}
		r := bytes.NewReader(data)
		var buf []byte
		for {
			start := len(data) - r.Len()
			var p []byte
			var err error
			checkAlloc(t, len(data), func() {
				r.Seek(int64(start), io.SeekStart) // repeatable: read the same frame again
				p, err = ReadFrame(r, limit, buf)
			})
			if err != nil {
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				if err == io.EOF && start != len(data) {
					t.Fatalf("io.EOF with %d bytes unread", len(data)-start)
				}
				return
			}
			if len(p) == 0 || len(p) > limit {
				t.Fatalf("payload of %d bytes with limit %d", len(p), limit)
			}
			frame, err := AppendFrame(nil, p)
			if err != nil || !bytes.Equal(frame, data[start:len(data)-r.Len()]) {
				t.Fatalf("frame does not re-encode to its input: %v", err)
			}
			buf = p[:0]
		}
	})
}

// addSeed adds b to f's corpus unless it is larger than maxSeed.
func addSeed(f *testing.F, b []byte) {
	if len(b) <= maxSeed {
		f.Add(b)
	}
}

// fuzzSeeds adds every sample's payload (header + body) to f, plus the
// hostile bodies behind valid headers.
func fuzzSeeds(f *testing.F, response bool) {
	for _, s := range samples() {
		if s.response != response {
			continue
		}
		var frame []byte
		if response {
			frame, _ = EncodeResponse(nil, ResponseHeader{CorrelationID: 1}, s.msg)
		} else {
			frame, _ = EncodeRequest(nil, RequestHeader{APIKey: s.key, CorrelationID: 1}, s.msg)
		}
		addSeed(f, frame[FrameHeaderSize:])
	}
	hdr := marshal([]any{3, 0, 1})
	if response {
		hdr = marshal([]any{1})
	}
	for _, h := range hostileBodies() {
		addSeed(f, append(append([]byte{}, hdr...), h.body...))
	}
	addSeed(f, append(append([]byte{}, hdr...), marshal(ErrorResponse{ErrorCode: CodeNotLeader, ErrorMessage: "x"})...))
	addSeed(f, append(append(append([]byte{}, hdr...), 0x92, 0xa1, 'x'), bytes.Repeat([]byte{0x91}, 100)...))
	// A small record batch, since the samples' records exceed maxSeed.
	small := &ProduceRequest{Topic: "t", Acks: AcksAll, Records: testRecords(3, 10)}
	small.Records[1].Headers = []Header{{Key: "h", Value: []byte("v")}}
	if response {
		addSeed(f, append(append([]byte{}, hdr...), marshal(&FetchResponse{HighWatermark: 3, Records: small.Records})...))
	} else {
		addSeed(f, append(append([]byte{}, hdr...), marshal(small)...))
	}
}

func FuzzRequest(f *testing.F) {
	fuzzSeeds(f, false)
	types := requestSamples()
	f.Fuzz(func(t *testing.T, payload []byte) {
		var h RequestHeader
		var body []byte
		var err error
		checkAlloc(t, len(payload), func() { h, body, err = DecodeRequestHeader(payload) })
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("header error %v does not wrap ErrMalformed", err)
			}
			return
		}
		fuzzBodies(t, body, types, func(v message) {
			frame, err := EncodeRequest(nil, h, v)
			if err != nil {
				t.Fatal(err)
			}
			h2, _, err := DecodeRequestHeader(frame[FrameHeaderSize:])
			if err != nil || h2 != h {
				t.Fatalf("header round trip: %+v, %v; want %+v", h2, err, h)
			}
		})
	})
}

func FuzzResponse(f *testing.F) {
	fuzzSeeds(f, true)
	types := append(responseSamples(), sample{name: "ErrorResponse", response: true,
		empty: func() message { return new(ErrorResponse) }})
	f.Fuzz(func(t *testing.T, payload []byte) {
		var h ResponseHeader
		var body []byte
		var err error
		checkAlloc(t, len(payload), func() { h, body, err = DecodeResponseHeader(payload) })
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("header error %v does not wrap ErrMalformed", err)
			}
			return
		}
		fuzzBodies(t, body, types, func(v message) {
			frame, err := EncodeResponse(nil, h, v)
			if err != nil {
				t.Fatal(err)
			}
			h2, _, err := DecodeResponseHeader(frame[FrameHeaderSize:])
			if err != nil || h2 != h {
				t.Fatalf("header round trip: %+v, %v; want %+v", h2, err, h)
			}
		})
	})
}

// fuzzBodies decodes body as every type in types (whatever the header's
// API key, so each seed exercises every decoder) and round-trips each
// success; frameCheck checks the decoded value inside a whole frame.
func fuzzBodies(t *testing.T, body []byte, types []sample, frameCheck func(message)) {
	for _, s := range types {
		var v message
		var err error
		checkAlloc(t, len(body), func() { v = s.empty(); err = DecodeBody(body, v) })
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: error %v does not wrap ErrMalformed", s.name, err)
			}
			continue
		}
		checkRoundTrip(t, v, s.empty)
		frameCheck(v)
	}
}

func FuzzRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		addSeed(f, marshal(r))
	}
	f.Add(marshal(Record{}))
	f.Add(marshal([]any{1, 2, []byte("k"), "v", []any{[]any{"h", nil, "extra"}}, map[string]int{"x": 1}}))
	f.Add([]byte{0x95, 0, 0, 0xc6, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x95, 0, 0, 0xc0, 0xc0, 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec Record
		var err error
		checkAlloc(t, len(data), func() { rec = Record{}; err = DecodeBody(data, &rec) })
		if err == nil {
			checkRoundTrip(t, &rec, func() message { return new(Record) })
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}

		// Decoding from a reader that hides how much input remains must
		// agree on the record (it does not check for trailing bytes).
		var viaLen, viaNoLen Record
		errLen := viaLen.DecodeMsgpack(msgpack.NewDecoder(bytes.NewReader(data)))
		var errNoLen error
		checkAlloc(t, len(data), func() {
			viaNoLen = Record{}
			errNoLen = viaNoLen.DecodeMsgpack(msgpack.NewDecoder(noLenReader{bytes.NewReader(data)}))
		})
		if (errLen == nil) != (errNoLen == nil) {
			t.Fatalf("with Len: %v; without: %v", errLen, errNoLen)
		}
		if errLen == nil && !reflect.DeepEqual(viaLen, viaNoLen) {
			t.Fatalf("with Len: %+v; without: %+v", viaLen, viaNoLen)
		}
		if err == nil && !reflect.DeepEqual(rec, viaLen) {
			t.Fatalf("DecodeBody: %+v; DecodeMsgpack: %+v", rec, viaLen)
		}
	})
}

// fuzzMessage fuzzes the decoder of one message type: whatever decodes
// must round-trip, errors must wrap ErrMalformed, and allocation stays
// bounded by the input. Every sample's body and the hostile bodies seed
// it, so it also sees the shapes of other types.
func fuzzMessage(f *testing.F, empty func() message) {
	for _, s := range samples() {
		addSeed(f, marshal(s.msg))
	}
	for _, h := range hostileBodies() {
		addSeed(f, h.body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v message
		var err error
		checkAlloc(t, len(body), func() { v = empty(); err = DecodeBody(body, v) })
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%T: error %v does not wrap ErrMalformed", v, err)
			}
			return
		}
		checkRoundTrip(t, v, empty)
	})
}

func FuzzDescribeClusterRequest(f *testing.F) {
	fuzzMessage(f, func() message { return new(DescribeClusterRequest) })
}

func FuzzDescribeClusterResponse(f *testing.F) {
	f.Add(marshal([]any{0, "", "n1", "n1", -1, 0, nil, uint64(1 << 63), []any{[]any{"n1", "a", "r", true, false, "extra"}}}))
	fuzzMessage(f, func() message { return new(DescribeClusterResponse) })
}

func FuzzClusterNode(f *testing.F) {
	f.Add(marshal([]any{"n1", "a", "r", true, nil}))
	fuzzMessage(f, func() message { return new(ClusterNode) })
}

func FuzzRemoveNodeRequest(f *testing.F) {
	fuzzMessage(f, func() message { return new(RemoveNodeRequest) })
}

func FuzzRemoveNodeResponse(f *testing.F) {
	fuzzMessage(f, func() message { return new(RemoveNodeResponse) })
}

func FuzzProposeDigestRequest(f *testing.F) {
	fuzzMessage(f, func() message { return new(ProposeDigestRequest) })
}

func FuzzProposeDigestResponse(f *testing.F) {
	f.Add(marshal([]any{0, "", "n1", "127.0.0.1:1", uint64(1 << 63), "extra"}))
	fuzzMessage(f, func() message { return new(ProposeDigestResponse) })
}

func FuzzReplicaDigestRequest(f *testing.F) {
	f.Add(marshal([]any{uint64(1 << 63), -1}))
	fuzzMessage(f, func() message { return new(ReplicaDigestRequest) })
}

func FuzzReplicaDigestResponse(f *testing.F) {
	f.Add(marshal([]any{0, "", "n1", 9, "ab", []any{[]any{"t", 0, 0, 5, "cd", "extra"}, nil}}))
	fuzzMessage(f, func() message { return new(ReplicaDigestResponse) })
}

func FuzzPartitionDigest(f *testing.F) {
	f.Add(marshal([]any{"t", -1, -5, 1 << 40, ""}))
	fuzzMessage(f, func() message { return new(PartitionDigest) })
}
