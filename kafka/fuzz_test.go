package kafka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzParseHeader: the request header parser never panics, never reads
// past its input, and gives back a body that is a suffix of it.
func FuzzParseHeader(f *testing.F) {
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(12)
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("c")).AppendRequest(nil, meta, 3)
	f.Add(frame[4:], true)
	f.Add(frame[4:], false)
	f.Add([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 2, 1, 1, 0}, true)
	f.Add([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0, 1}, true)
	f.Fuzz(func(t *testing.T, b []byte, flexible bool) {
		h, body, err := parseHeader(b, flexible)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if !bytes.HasSuffix(b, body) || len(body) > len(b)-10 {
			t.Fatalf("body of %d bytes from %d", len(body), len(b))
		}
		if h.Key != int16(binary.BigEndian.Uint16(b)) || h.Corr != int32(binary.BigEndian.Uint32(b[4:])) {
			t.Fatalf("header %+v", h)
		}
	})
}

// FuzzProduceBatches: splitting and validating a Produce partition's
// records never panics, and what it accepts holds the records the batch
// header counts.
func FuzzProduceBatches(f *testing.F) {
	f.Add(testBatch("a", "b"))
	f.Add(append(testBatch("a"), testBatch("b", "c")...))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 49, 0, 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, records []byte) {
		kbs, err := splitKafkaBatches(records)
		if err != nil {
			return
		}
		for _, kb := range kbs {
			b, err := wrapBatch(kb, 1<<20)
			if err != nil {
				continue
			}
			if b.Count() < 1 || !bytes.Equal(b.Kafka(), kb) {
				t.Fatalf("count %d; stored batch differs from the produced one", b.Count())
			}
		}
	})
}

// testBatch is an uncompressed Kafka batch of values.
func testBatch(values ...string) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{Magic: 2, LastOffsetDelta: int32(len(values) - 1), ProducerID: -1, ProducerEpoch: -1,
		FirstSequence: -1, NumRecords: int32(len(values)), Records: recs}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[kbLength:], uint32(len(out)-kbLengthPrefix))
	binary.BigEndian.PutUint32(out[17:], be32crc(out[21:]))
	return out
}
