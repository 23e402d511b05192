package compress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/klauspost/compress/s2"

	mlog "github.com/minibroker/minibroker/log"
)

var codecs = []mlog.Compression{mlog.CompressionGzip, mlog.CompressionSnappy, mlog.CompressionLZ4, mlog.CompressionZstd}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/13)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, codec := range append([]mlog.Compression{mlog.CompressionNone}, codecs...) {
		for _, n := range []int{0, 1, 100, 70 << 10, 1 << 20} {
			t.Run(fmt.Sprintf("%v/%d", codec, n), func(t *testing.T) {
				src := payload(n)
				c, err := Compress(codec, []byte("pre"), src)
				if err != nil {
					t.Fatal(err)
				}
				if string(c[:3]) != "pre" {
					t.Fatal("Compress lost dst's bytes")
				}
				got, err := Decompress(codec, []byte("x"), c[3:])
				if err != nil {
					t.Fatal(err)
				}
				if got[0] != 'x' || !bytes.Equal(got[1:], src) {
					t.Fatalf("round trip: %d bytes back, want %d", len(got)-1, len(src))
				}
			})
		}
	}
}

// xerial frames raw snappy blocks as snappy-java does.
func xerial(src []byte, chunk int) []byte {
	out := append([]byte(nil), xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1)
	out = binary.BigEndian.AppendUint32(out, 1)
	for len(src) > 0 || len(out) == xerialHeaderSize {
		n := min(chunk, len(src))
		blk := s2.EncodeSnappy(nil, src[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(blk)))
		out = append(out, blk...)
		src = src[n:]
		if n == 0 {
			break
		}
	}
	return out
}

func TestXerialSnappy(t *testing.T) {
	src := payload(100 << 10)
	got, err := Decompress(mlog.CompressionSnappy, nil, xerial(src, 32<<10))
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("xerial: %v, %d bytes, want %d", err, len(got), len(src))
	}
	for _, bad := range [][]byte{
		xerialMagic,                          // short header
		append(xerial(src, 32<<10), 0, 0, 1), // torn chunk length
		xerial(src, 32<<10)[:40],             // chunk cut short
	} {
		if _, err := Decompress(mlog.CompressionSnappy, nil, bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bad xerial stream: %v, want ErrCorrupt", err)
		}
	}
	if _, err := DecompressLimit(mlog.CompressionSnappy, nil, xerial(src, 32<<10), 50<<10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("xerial over the limit: %v, want ErrTooLarge", err)
	}
}

// TestLimit: a small input that expands past the limit fails with a
// *TooLargeError, for every codec; at the limit exactly it works.
func TestLimit(t *testing.T) {
	zeros := make([]byte, 4<<20)
	for _, codec := range append([]mlog.Compression{mlog.CompressionNone}, codecs...) {
		c, err := Compress(codec, nil, zeros)
		if err != nil {
			t.Fatal(err)
		}
		_, err = DecompressLimit(codec, nil, c, 1<<20)
		var te *TooLargeError
		if !errors.Is(err, ErrTooLarge) || !errors.As(err, &te) || te.Limit != 1<<20 || te.Codec != codec {
			t.Fatalf("%v: %v, want a *TooLargeError at 1 MiB", codec, err)
		}
		if got, err := DecompressLimit(codec, nil, c, len(zeros)); err != nil || len(got) != len(zeros) {
			t.Fatalf("%v at the limit exactly: %v", codec, err)
		}
	}
}

func TestCorrupt(t *testing.T) {
	for _, codec := range codecs {
		c, err := Compress(codec, nil, payload(10000))
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range [][]byte{nil, []byte("garbage, not compressed at all"), c[:len(c)/2]} {
			if _, err := Decompress(codec, nil, bad); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%v of %d bad bytes: %v, want ErrCorrupt", codec, len(bad), err)
			}
		}
	}
	if _, err := Decompress(5, nil, nil); !errors.Is(err, ErrUnknownCodec) {
		t.Fatalf("codec 5: %v", err)
	}
	if _, err := Compress(-1, nil, nil); !errors.Is(err, ErrUnknownCodec) {
		t.Fatalf("codec -1: %v", err)
	}
}

// TestDecodeBatch: a batch compressed by CompressBatch (as a Kafka
// producer sends one) decodes to the records it was made from, for every
// codec; several batches decoded into one scratch stay valid.
func TestDecodeBatch(t *testing.T) {
	recs := []mlog.Record{
		{Timestamp: 1_700_000_000_000, Key: []byte("k1"), Value: bytes.Repeat([]byte("v"), 500),
			Headers: []mlog.Header{{Key: "h", Value: []byte("x")}, {Key: "nil"}}},
		{Timestamp: 1_700_000_000_005, Key: nil, Value: []byte{}},
	}
	plain, err := mlog.AppendBatch(nil, recs, 42)
	if err != nil {
		t.Fatal(err)
	}
	var scratch []byte
	var got []mlog.Record
	for _, codec := range codecs {
		cb, err := CompressBatch(nil, plain, codec)
		if err != nil {
			t.Fatal(err)
		}
		if cb.Compression() != codec || cb.Meta() != 42 || cb.Count() != 2 {
			t.Fatalf("%v: compression %v meta %d count %d", codec, cb.Compression(), cb.Meta(), cb.Count())
		}
		if _, _, err := mlog.ParseBatch(cb); err != nil {
			t.Fatal(err)
		}
		if got, scratch, err = DecodeBatch(got, scratch, cb, 1<<20); err != nil {
			t.Fatalf("%v: %v", codec, err)
		}
		if _, err := CompressBatch(nil, cb, codec); !errors.Is(err, mlog.ErrCompressed) {
			t.Fatalf("CompressBatch of a compressed batch: %v", err)
		}
	}
	if len(got) != 2*len(codecs) {
		t.Fatalf("%d records", len(got))
	}
	for i, r := range got {
		w := recs[i%2]
		if r.Timestamp != w.Timestamp || !bytes.Equal(r.Key, w.Key) || (r.Key == nil) != (w.Key == nil) ||
			!bytes.Equal(r.Value, w.Value) || (r.Value == nil) != (w.Value == nil) || len(r.Headers) != len(w.Headers) {
			t.Fatalf("record %d: %+v, want %+v", i, r, w)
		}
		for j, h := range w.Headers {
			if r.Headers[j].Key != h.Key || !bytes.Equal(r.Headers[j].Value, h.Value) || (r.Headers[j].Value == nil) != (h.Value == nil) {
				t.Fatalf("record %d header %d: %+v, want %+v", i, j, r.Headers[j], h)
			}
		}
	}
	cb, _ := CompressBatch(nil, plain, mlog.CompressionZstd)
	if _, _, err := DecodeBatch(nil, nil, cb, 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("DecodeBatch over the limit: %v", err)
	}
	if _, err := CheckBatch(nil, cb, 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("CheckBatch over the limit: %v", err)
	}
	for _, b := range []mlog.Batch{plain, cb} {
		if _, err := CheckBatch(nil, b, 1<<20); err != nil {
			t.Fatalf("CheckBatch of a good %v batch: %v", b.Compression(), err)
		}
	}
	// A compressed batch whose records section does not decode: compress
	// a cut section, as a broken producer could.
	kb := append([]byte(nil), plain.Kafka()[:kafkaHeaderSize]...)
	kb, _ = Compress(mlog.CompressionGzip, kb, plain.Kafka()[kafkaHeaderSize:len(plain.Kafka())-1])
	binary.BigEndian.PutUint32(kb[8:], uint32(len(kb)-12))
	kb[22] |= byte(mlog.CompressionGzip)
	binary.BigEndian.PutUint32(kb[17:], crc32.Checksum(kb[21:], castagnoli))
	bad, err := mlog.WrapKafka(nil, kb)
	if err != nil {
		t.Fatalf("WrapKafka of a compressed batch (its records are not checked): %v", err)
	}
	if _, err := CheckBatch(nil, bad, 1<<20); !errors.Is(err, mlog.ErrMalformedBatch) {
		t.Fatalf("CheckBatch of bad records: %v, want ErrMalformedBatch", err)
	}
}

func FuzzDecompress(f *testing.F) {
	for _, codec := range codecs {
		c, _ := Compress(codec, nil, payload(300))
		f.Add(int8(codec), c)
		f.Add(int8(codec), c[:len(c)-1])
	}
	f.Add(int8(mlog.CompressionSnappy), xerial(payload(3000), 1000))
	f.Add(int8(9), []byte{1})
	f.Fuzz(func(t *testing.T, codec int8, src []byte) {
		const limit = 1 << 16
		out, err := DecompressLimit(mlog.Compression(codec), []byte("d"), src, limit)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnknownCodec) {
				t.Fatalf("untyped error %v", err)
			}
			if string(out) != "d" {
				t.Fatal("a failed Decompress changed dst")
			}
			return
		}
		if len(out)-1 > limit || out[0] != 'd' {
			t.Fatalf("%d bytes out of a %d limit", len(out)-1, limit)
		}
	})
}

func FuzzCompressRoundTrip(f *testing.F) {
	f.Add(int8(1), []byte("hello hello hello"))
	f.Add(int8(4), []byte{})
	f.Fuzz(func(t *testing.T, codec int8, src []byte) {
		codec = int8(uint8(codec) % 5)
		c, err := Compress(mlog.Compression(codec), nil, src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecompressLimit(mlog.Compression(codec), nil, c, len(src))
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("%v: %v, %d bytes back of %d", mlog.Compression(codec), err, len(got), len(src))
		}
	})
}
