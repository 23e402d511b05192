package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"
)

// fuzzSeedBatches are well-formed batches covering the corners of the record
// format: nil and empty keys and values, headers with nil and empty values,
// negative timestamp deltas, many records.
func fuzzSeedBatches(tb testing.TB) []Batch {
	tb.Helper()
	sets := [][]Record{
		{{}},
		{{Key: []byte{}, Value: []byte{}}},
		{{Timestamp: 1_700_000_000_000, Key: []byte("key"), Value: []byte("value")}},
		{
			{Timestamp: 5, Key: nil, Value: []byte("v1")},
			{Timestamp: 3, Key: []byte{}, Value: nil, Headers: []Header{{Key: "h", Value: nil}, {Key: "", Value: []byte{}}}},
			{Timestamp: -9, Key: []byte("k"), Value: []byte{}, Headers: []Header{{Key: "trace", Value: []byte("abc")}}},
		},
		fxRecords(1, 50, 100),
		{{Timestamp: -1 << 63, Key: bytes.Repeat([]byte{0xff}, 300)}, {Timestamp: 1<<63 - 1}},
	}
	var out []Batch
	for i, recs := range sets {
		b, err := AppendBatch(nil, recs, uint64(i)<<40|7)
		if err != nil {
			tb.Fatal(err)
		}
		b.setBase(int64(i) * 1000)
		out = append(out, b)
	}
	return out
}

func FuzzParseBatch(f *testing.F) {
	for _, b := range fuzzSeedBatches(f) {
		f.Add([]byte(b))
		f.Add(append(append([]byte(nil), b...), b...))    // two batches
		f.Add(append(append([]byte(nil), b...), 1, 2, 3)) // trailing bytes
		f.Add([]byte(b[:len(b)-1]))                       // truncated by one
		f.Add([]byte(b[:len(b)/2]))                       // truncated mid-batch
		f.Add([]byte(b[:batchHeaderSize]))                // header only
		f.Add([]byte(b[:batchHeaderSize-1]))              // torn header
		for _, bit := range []int{0, 8 * offCRC, 8*offBaseOffset + 3, 8 * offCount, 8*len(b) - 1, 8 * batchHeaderSize} {
			c := append([]byte(nil), b...)
			c[bit/8] ^= 1 << (bit % 8)
			f.Add(c)
		}
	}
	f.Add([]byte{})
	hdr := make([]byte, batchHeaderSize)
	binary.BigEndian.PutUint32(hdr[offBatchLength:], 0x7fffffff) // huge length and count
	hdr[offMagic] = batchMagic
	binary.BigEndian.PutUint32(hdr[offCount:], 0x7fffffff)
	binary.BigEndian.PutUint32(hdr[offLastOffsetDelta:], 0x7ffffffe)
	f.Add(hdr)

	f.Fuzz(func(t *testing.T, data []byte) {
		b, rest, err := ParseBatch(data)
		if err == nil {
			if len(b)+len(rest) != len(data) || !bytes.Equal(b, data[:len(b)]) {
				t.Fatalf("ParseBatch split %d bytes into %d + %d", len(data), len(b), len(rest))
			}
			fxCheckRecords(t, b)
		} else if !errors.Is(err, ErrMalformedBatch) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ParseBatch error %v is neither ErrMalformedBatch nor ErrCorrupt", err)
		}

		// Random bytes almost never carry a valid CRC, so also give the
		// record decoder the same bytes with the header fixed up to pass
		// ParseBatch: length, magic and CRC.
		if len(data) < batchHeaderSize || len(data) > maxBatchSize {
			return
		}
		c := append([]byte(nil), data...)
		binary.BigEndian.PutUint32(c[offBatchLength:], uint32(len(c)-offBatchLength-4))
		c[offMagic] = batchMagic
		c[offAttributes+1] &^= attrCompression
		count := int32(binary.BigEndian.Uint32(c[offCount:]))
		binary.BigEndian.PutUint32(c[offLastOffsetDelta:], uint32(count-1))
		Batch(c).sealKafka()
		b, rest, err = ParseBatch(c)
		if count < 1 {
			if !errors.Is(err, ErrMalformedBatch) {
				t.Fatalf("ParseBatch of a %d-record batch: %v, want ErrMalformedBatch", count, err)
			}
			return
		}
		if err != nil || len(rest) != 0 || len(b) != len(c) {
			t.Fatalf("ParseBatch of a fixed-up batch: %d bytes left, %v", len(rest), err)
		}
		fxCheckRecords(t, b)
	})
}

// fxCheckRecords decodes b, which passed ParseBatch. It must not panic, must
// return only typed errors, and must not decode more than b holds: keys,
// values and header keys and values total at most len(b) bytes, and the
// Record and Header structs at most 20 bytes per input byte (a record takes
// at least 7 bytes and a header at least 2).
func fxCheckRecords(t *testing.T, b Batch) {
	t.Helper()
	prefix := []Record{{Offset: -42}}
	recs, err := b.Records(prefix)
	if len(recs) < 1 || recs[0].Offset != -42 {
		t.Fatal("Records lost the records already in dst")
	}
	recs = recs[1:]
	if errors.Is(err, ErrCompressed) {
		if b.Compression() == CompressionNone {
			t.Fatalf("Records of an uncompressed batch: %v", err)
		}
		return
	}
	if err != nil && !errors.Is(err, ErrMalformedBatch) {
		t.Fatalf("Records error %v is not ErrMalformedBatch", err)
	}
	if err == nil && len(recs) != b.Count() {
		t.Fatalf("Records decoded %d records, header says %d", len(recs), b.Count())
	}
	var payload, headers int
	for i, r := range recs {
		payload += len(r.Key) + len(r.Value)
		headers += len(r.Headers)
		for _, h := range r.Headers {
			payload += len(h.Key) + len(h.Value)
		}
		if r.Offset != b.BaseOffset()+int64(i) {
			t.Fatalf("record %d has offset %d, want %d", i, r.Offset, b.BaseOffset()+int64(i))
		}
	}
	if payload > len(b) {
		t.Fatalf("decoded %d bytes of keys, values and headers from a %d-byte batch", payload, len(b))
	}
	structs := len(recs)*int(unsafe.Sizeof(Record{})) + headers*int(unsafe.Sizeof(Header{}))
	if structs > 20*len(b) {
		t.Fatalf("decoded %d records and %d headers (%d bytes) from a %d-byte batch", len(recs), headers, structs, len(b))
	}
	if err != nil {
		return
	}
	// What decodes must encode again to the same records.
	if b.attributes()&attrLogAppendTime != 0 {
		return // every record has the batch's max timestamp: AppendBatch makes another batch
	}
	again, err := AppendBatch(nil, recs, b.Meta())
	if err != nil {
		t.Fatalf("AppendBatch of decoded records: %v", err)
	}
	again.setBase(b.BaseOffset())
	pb, _, err := ParseBatch(again)
	if err != nil {
		t.Fatalf("ParseBatch of re-encoded records: %v", err)
	}
	recs2, err := pb.Records(nil)
	if err != nil {
		t.Fatalf("Records of re-encoded records: %v", err)
	}
	fxEqualRecords(t, recs2, recs)
}

// fxEqualRecords checks that got and want hold the same records, telling a
// nil key, value or header value from an empty one.
func fxEqualRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	sameBytes := func(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }
	for i := range want {
		g, w := got[i], want[i]
		if g.Offset != w.Offset || g.Timestamp != w.Timestamp {
			t.Fatalf("record %d: offset %d ts %d, want offset %d ts %d", i, g.Offset, g.Timestamp, w.Offset, w.Timestamp)
		}
		if !sameBytes(g.Key, w.Key) {
			t.Fatalf("record %d: key %q (nil %v), want %q (nil %v)", i, g.Key, g.Key == nil, w.Key, w.Key == nil)
		}
		if !sameBytes(g.Value, w.Value) {
			t.Fatalf("record %d: value %q (nil %v), want %q (nil %v)", i, g.Value, g.Value == nil, w.Value, w.Value == nil)
		}
		if len(g.Headers) != len(w.Headers) {
			t.Fatalf("record %d: %d headers, want %d", i, len(g.Headers), len(w.Headers))
		}
		for j := range w.Headers {
			if g.Headers[j].Key != w.Headers[j].Key || !sameBytes(g.Headers[j].Value, w.Headers[j].Value) {
				t.Fatalf("record %d header %d: %q=%q (nil %v), want %q=%q (nil %v)", i, j,
					g.Headers[j].Key, g.Headers[j].Value, g.Headers[j].Value == nil,
					w.Headers[j].Key, w.Headers[j].Value, w.Headers[j].Value == nil)
			}
		}
	}
}

// fuzzRecords builds records from fuzz input. Per record, a control byte
// chooses the key (nil, empty, or the next n bytes), the value (likewise) and
// up to three headers; a timestamp byte moves the timestamp back or forth.
// It always returns at least one record.
func fuzzRecords(data []byte, ts int64) []Record {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		c := data[0]
		data = data[1:]
		return c
	}
	field := func(mode byte) []byte {
		switch mode & 3 {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		n := min(int(next()), len(data))
		v := append([]byte{}, data[:n]...) // a copy: the batch must not alias the input
		data = data[n:]
		return v
	}
	var recs []Record
	for len(recs) == 0 || (len(data) > 0 && len(recs) < 256) {
		ctrl := next()
		ts += int64(int8(next())) * 1_000_003
		r := Record{Timestamp: ts, Key: field(ctrl), Value: field(ctrl >> 2)}
		for h := 0; h < int(ctrl>>4&3); h++ {
			hc := next()
			r.Headers = append(r.Headers, Header{Key: string(field(hc | 2)), Value: field(hc >> 2)})
		}
		recs = append(recs, r)
	}
	return recs
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{}, uint64(0), int64(0), []byte{})
	f.Add([]byte{0x00, 0x00}, uint64(1), int64(-5), []byte{1})
	f.Add([]byte{0x05, 0x01}, uint64(7), int64(1_700_000_000_000), []byte("prefix"))
	f.Add([]byte{0x3a, 0x80, 3, 'k', 'e', 'y', 2, 'v', '1', 0x0e, 1, 'h', 0x03, 0x01, 0x00}, uint64(1<<63), int64(-1<<63), []byte{})
	f.Add([]byte("\x2a\x7f\x05hello\x05world\x06\x03abc\xff\xff\x0aagain\x7f"), uint64(42), int64(1<<63-1), []byte{9, 9})

	f.Fuzz(func(t *testing.T, data []byte, meta uint64, ts int64, prefix []byte) {
		want := fuzzRecords(data, ts)
		dst := append([]byte(nil), prefix...)
		b, err := AppendBatch(dst, want, meta)
		if err != nil {
			t.Fatalf("AppendBatch: %v", err)
		}
		if !bytes.Equal(dst[:len(prefix)], prefix) {
			t.Fatal("AppendBatch changed the bytes already in dst")
		}
		const trailer = "after"
		buf := append(append([]byte(nil), b...), trailer...)
		pb, rest, err := ParseBatch(buf)
		if err != nil {
			t.Fatalf("ParseBatch of a fresh batch: %v", err)
		}
		if string(rest) != trailer {
			t.Fatalf("ParseBatch left %q, want %q", rest, trailer)
		}
		if pb.BaseOffset() != 0 || pb.Count() != len(want) || pb.Meta() != meta || pb.NextOffset() != int64(len(want)) {
			t.Fatalf("header: base %d count %d meta %d, want 0 %d %d", pb.BaseOffset(), pb.Count(), pb.Meta(), len(want), meta)
		}
		maxTs := want[0].Timestamp
		for i := range want {
			maxTs = max(maxTs, want[i].Timestamp)
			want[i].Offset = int64(i)
		}
		if pb.FirstTimestamp() != want[0].Timestamp || pb.MaxTimestamp() != maxTs {
			t.Fatalf("timestamps first %d max %d, want %d %d", pb.FirstTimestamp(), pb.MaxTimestamp(), want[0].Timestamp, maxTs)
		}
		got, err := pb.Records(nil)
		if err != nil {
			t.Fatalf("Records: %v", err)
		}
		fxEqualRecords(t, got, want)

		// The log assigns the base offset: records are renumbered from it.
		pb.setBase(1 << 40)
		if _, _, err := ParseBatch(pb); err != nil {
			t.Fatalf("ParseBatch after setBase: %v", err)
		}
		got, err = pb.Records(got[:0])
		if err != nil {
			t.Fatalf("Records after setBase: %v", err)
		}
		for i := range want {
			want[i].Offset += 1 << 40
		}
		fxEqualRecords(t, got, want)
	})
}

// FuzzParseRecoveryPoint: the recovery point file's parser accepts exactly
// what encode writes, and never panics.
func FuzzParseRecoveryPoint(f *testing.F) {
	for _, s := range []string{"0 0\n", "52311 1048576\n", "9223372036854775807 9223372036854775807\n",
		"", "\n", "0 0", "0  0\n", "-1 0\n", "+1 0\n", "01 0\n", "1 2 3\n", "1\t2\n", "9223372036854775808 0\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rp, ok := parseRecoveryPoint(data)
		if !ok {
			return
		}
		if rp.base < 0 || rp.pos < 0 {
			t.Fatalf("parsed %q as %+v", data, rp)
		}
		if got := rp.encode(); !bytes.Equal(got, data) {
			t.Fatalf("parsed %q as %+v, which encodes as %q", data, rp, got)
		}
		again, ok := parseRecoveryPoint(rp.encode())
		if !ok || again != rp {
			t.Fatalf("%+v does not survive a round trip: %+v %v", rp, again, ok)
		}
	})
}
