package wire

import (
	"bytes"
	"errors"
	"testing"
)

// Hostile bodies: each declares a length far beyond its own size. Without
// the checks in decode.go, msgpack v5.4.1 would allocate gigabytes
// for some of them (see the comment there).
func hostileBodies() []struct {
	name string
	body []byte
	into func() message
} {
	big32 := []byte{0xff, 0xff, 0xff, 0xff}
	produceHead := marshal([]any{"t", 0, 1, 0})[1:] // ProduceRequest fields before Records
	produce := func(records ...byte) []byte {
		b := append([]byte{0x95}, produceHead...)
		return append(b, records...)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	deep := bytes.Repeat([]byte{0x91}, 1<<20)
	return []struct {
		name string
		body []byte
		into func() message
	}{
		{"records array32", produce(cat([]byte{0xdd}, big32)...), func() message { return new(ProduceRequest) }},
		{"records array16", produce(0xdc, 0xff, 0xff, 0x95), func() message { return new(ProduceRequest) }},
		{"record key bin32", produce(cat([]byte{0x91, 0x95, 0, 0, 0xc6}, big32)...), func() message { return new(ProduceRequest) }},
		{"record value str32", produce(cat([]byte{0x91, 0x95, 0, 0, 0xc0, 0xdb}, big32)...), func() message { return new(ProduceRequest) }},
		{"record headers array32", produce(cat([]byte{0x91, 0x95, 0, 0, 0xc0, 0xc0, 0xdd}, big32)...), func() message { return new(ProduceRequest) }},
		{"record fields array32", produce(cat([]byte{0x91, 0xdd}, big32)...), func() message { return new(ProduceRequest) }},
		{"topic str32", cat([]byte{0x95, 0xdb}, big32), func() message { return new(FetchRequest) }},
		{"metadata topics array32", cat([]byte{0x91, 0xdd}, big32), func() message { return new(MetadataRequest) }},
		{"metadata nodes array32", cat([]byte{0x95, 0, 0xa0, 0xa0, 0xdd}, big32), func() message { return new(MetadataResponse) }},
		{"fetch response records", cat([]byte{0x95, 0, 0xa0, 0, 0, 0xdd}, big32), func() message { return new(FetchResponse) }},
		{"skipped bin32", cat([]byte{0x92, 0xa1, 'x', 0xc6}, big32), func() message { return new(DeleteTopicRequest) }},
		{"skipped map32", cat([]byte{0x92, 0xa1, 'x', 0xdf}, big32), func() message { return new(DeleteTopicRequest) }},
		{"skipped ext32", cat([]byte{0x92, 0xa1, 'x', 0xc9}, big32, []byte{1}), func() message { return new(DeleteTopicRequest) }},
		{"skipped deep nesting", cat([]byte{0x92, 0xa1, 'x'}, deep), func() message { return new(DeleteTopicRequest) }},
		{"struct fields array32", cat([]byte{0xdd}, big32), func() message { return new(DeleteTopicRequest) }},
	}
}

func TestHostileLengthsRejectedWithoutLargeAllocation(t *testing.T) {
	for _, tc := range hostileBodies() {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			n := allocBytes(func() { err = DecodeBody(tc.body, tc.into()) })
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
			if limit := uint64(len(tc.body)) + 64<<10; n > limit {
				t.Fatalf("decoding %d bytes allocated %d", len(tc.body), n)
			}
		})
	}
}

func TestSkipDepthLimit(t *testing.T) {
	// Nesting up to the limit is skipped; deeper is refused.
	ok := append([]byte{0x92, 0xa1, 'x'}, bytes.Repeat([]byte{0x91}, maxSkipDepth)...)
	ok = append(ok, 0x00)
	if err := DecodeBody(ok, new(DeleteTopicRequest)); err != nil {
		t.Fatalf("depth %d: %v", maxSkipDepth, err)
	}
	tooDeep := append([]byte{0x92, 0xa1, 'x'}, bytes.Repeat([]byte{0x91}, maxSkipDepth+1)...)
	tooDeep = append(tooDeep, 0x00)
	if err := DecodeBody(tooDeep, new(DeleteTopicRequest)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("depth %d: got %v, want ErrMalformed", maxSkipDepth+1, err)
	}
	nested := func(depth int) []byte { return append(bytes.Repeat([]byte{0x91}, depth), 0x00) }
	s := getDecoder(nested(maxSkipDepth))
	if err := skipValue(s.dec, 0); err != nil || s.r.Len() != 0 {
		t.Fatalf("skipValue at the limit: %v, %d bytes left", err, s.r.Len())
	}
	s.r.Reset(nested(maxSkipDepth + 1))
	if err := skipValue(s.dec, 0); !errors.Is(err, errTooDeep) {
		t.Fatalf("skipValue past the limit: got %v, want errTooDeep", err)
	}
	putDecoder(s)
}
