package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"
)

// FuzzWrapKafka: WrapKafka never panics, returns only its typed errors,
// and what it accepts is a frame that ParseBatch accepts, holding the
// input unchanged, whose records (uncompressed) decode.
func FuzzWrapKafka(f *testing.F) {
	for _, b := range fuzzSeedBatches(f) {
		f.Add([]byte(b.Kafka()))
		f.Add([]byte(b.Kafka()[:len(b.Kafka())-1]))
		f.Add(kafkaOf(b, true, func(kb []byte) { kb[22] |= byte(CompressionLZ4) }))
		f.Add(kafkaOf(b, true, func(kb []byte) { kb[22] |= attrControl }))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(kb []byte) error {
			w, err := WrapKafka([]byte("x"), kb)
			if err != nil {
				if !errors.Is(err, ErrMalformedBatch) && !errors.Is(err, ErrCorrupt) &&
					!errors.Is(err, ErrUnsupportedBatch) && !errors.Is(err, ErrBatchTooLarge) {
					t.Fatalf("WrapKafka error %v is not typed", err)
				}
				return err
			}
			if !bytes.Equal(w.Kafka(), kb) || w.Meta() != 0 {
				t.Fatal("WrapKafka changed the Kafka batch")
			}
			pb, rest, err := ParseBatch(w)
			if err != nil || len(rest) != 0 {
				t.Fatalf("ParseBatch of a wrapped batch: %v", err)
			}
			if pb.Compression() == CompressionNone {
				recs, err := pb.Records(nil)
				if err != nil || len(recs) != pb.Count() {
					t.Fatalf("Records of a wrapped batch: %d records of %d, %v", len(recs), pb.Count(), err)
				}
			}
			return nil
		}
		check(data)
		// Random bytes almost never pass the header checks: fix them up
		// and check again.
		if len(data) < kafkaHeaderSize {
			return
		}
		kb := append([]byte(nil), data...)
		be := binary.BigEndian
		be.PutUint32(kb[8:], uint32(len(kb)-12))
		kb[16] = batchMagic
		kb[22] &^= attrControl | attrTransactional
		if int32(be.Uint32(kb[57:])) < 1 {
			be.PutUint32(kb[57:], 1)
		}
		be.PutUint32(kb[23:], be.Uint32(kb[57:])-1)
		be.PutUint32(kb[17:], crc32Kafka(kb))
		if err := check(kb); err != nil && !errors.Is(err, ErrMalformedBatch) {
			t.Fatalf("WrapKafka of a fixed-up batch: %v", err)
		}
	})
}

// FuzzDecodeRecords: DecodeRecords of any records section under a header
// claiming any count never panics, returns only ErrMalformedBatch, and
// allocates in proportion to its input, not to the count.
func FuzzDecodeRecords(f *testing.F) {
	for _, b := range fuzzSeedBatches(f) {
		f.Add(int32(b.Count()), []byte(b[batchHeaderSize:]))
		f.Add(int32(b.Count()+1), []byte(b[batchHeaderSize:]))
	}
	f.Add(int32(0x7fffffff), []byte{})
	f.Add(int32(1), []byte{0x0e, 0, 0, 0, 1, 1, 0, 0})
	f.Fuzz(func(t *testing.T, count int32, plain []byte) {
		b := mustBatch(t, 0, 1, 0)
		if count < 1 {
			count = 1
		}
		binary.BigEndian.PutUint32(b[offCount:], uint32(count))
		binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(count-1))
		recs, err := DecodeRecords(nil, b, plain)
		if err != nil {
			if !errors.Is(err, ErrMalformedBatch) {
				t.Fatalf("DecodeRecords error %v is not ErrMalformedBatch", err)
			}
		} else if len(recs) != int(count) {
			t.Fatalf("DecodeRecords: %d records, header says %d", len(recs), count)
		}
		var payload, headers int
		for _, r := range recs {
			payload += len(r.Key) + len(r.Value)
			headers += len(r.Headers)
			for _, h := range r.Headers {
				payload += len(h.Key) + len(h.Value)
			}
		}
		structs := cap(recs)*int(unsafe.Sizeof(Record{})) + headers*int(unsafe.Sizeof(Header{}))
		if payload > len(plain) || structs > 20*len(plain) {
			t.Fatalf("decoded %d payload bytes, %d struct bytes from %d bytes", payload, structs, len(plain))
		}
	})
}
