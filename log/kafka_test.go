package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// TestAppendBatchKafkaBytes checks AppendBatch's bytes against a Kafka
// RecordBatch v2 written out by hand from Kafka's documentation
// (https://kafka.apache.org/documentation/#recordbatch).
func TestAppendBatchKafkaBytes(t *testing.T) {
	recs := []Record{
		{Timestamp: 1000, Key: []byte("k"), Value: []byte("vv"), Headers: []Header{{Key: "h", Value: nil}}},
		{Timestamp: 998, Key: nil, Value: []byte{}},
	}
	b, err := AppendBatch(nil, recs, 0x0102030405060708)
	if err != nil {
		t.Fatal(err)
	}
	// Records, zig-zag varints: record 0 body is attr 0, tsDelta 0, offDelta
	// 0, keyLen 1 "k", valueLen 2 "vv", 1 header: keyLen 1 "h", valueLen -1.
	r0 := []byte{0, 0, 0, 2, 'k', 4, 'v', 'v', 2, 2, 'h', 1}
	// record 1: attr 0, tsDelta -2, offDelta 1, keyLen -1, valueLen 0, 0 headers.
	r1 := []byte{0, 3, 2, 1, 0, 0}
	records := append(append([]byte{byte(len(r0) * 2)}, r0...), append([]byte{byte(len(r1) * 2)}, r1...)...)

	k := new(bytes.Buffer)
	w := func(v any) { binary.Write(k, binary.BigEndian, v) }
	w(int64(0))                 // baseOffset
	w(int32(49 + len(records))) // batchLength
	w(int32(-1))                // partitionLeaderEpoch
	w(int8(2))                  // magic
	w(uint32(0))                // crc, below
	w(int16(0))                 // attributes
	w(int32(1))                 // lastOffsetDelta
	w(int64(1000))              // baseTimestamp
	w(int64(1000))              // maxTimestamp
	w(int64(-1))                // producerId
	w(int16(-1))                // producerEpoch
	w(int32(-1))                // baseSequence
	w(int32(2))                 // records count
	k.Write(records)
	want := k.Bytes()
	binary.BigEndian.PutUint32(want[17:], crc32.Checksum(want[21:], crc32.MakeTable(crc32.Castagnoli)))
	if got := b.Kafka(); !bytes.Equal(got, want) {
		t.Fatalf("Kafka batch\n got %x\nwant %x", got, want)
	}
	if b.Meta() != 0x0102030405060708 || b.Count() != 2 || b.ProducerID() != -1 || b.ProducerEpoch() != -1 ||
		b.BaseSequence() != -1 || b.LeaderEpoch() != -1 || b.Compression() != CompressionNone {
		t.Fatalf("accessors: meta %x count %d producer %d/%d/%d epoch %d codec %v", b.Meta(), b.Count(),
			b.ProducerID(), b.ProducerEpoch(), b.BaseSequence(), b.LeaderEpoch(), b.Compression())
	}
	// WrapKafka of the Kafka part gives the same frame, meta aside.
	wrapped, err := WrapKafka([]byte("prefix"), b.Kafka())
	if err != nil {
		t.Fatal(err)
	}
	wrapped.SetMeta(b.Meta())
	if !bytes.Equal(wrapped, b) {
		t.Fatalf("WrapKafka(Kafka()) differs:\n got %x\nwant %x", wrapped, b)
	}
}

// TestBatchSetters: SetProducer, SetLeaderEpoch and SetMeta keep the batch
// valid and change only their fields; Kafka's crc is untouched by the
// fields it leaves out.
func TestBatchSetters(t *testing.T) {
	b := mustBatch(t, 0, 3, 1)
	kcrc := b.kcrc()
	b.SetMeta(99)
	b.SetLeaderEpoch(7)
	b.setBase(1234)
	if b.kcrc() != kcrc {
		t.Fatal("meta, leader epoch or base offset changed Kafka's crc")
	}
	b.SetProducer(42, 3, 17)
	pb, rest, err := ParseBatch(b)
	if err != nil || len(rest) != 0 {
		t.Fatalf("ParseBatch after the setters: %v", err)
	}
	if pb.Meta() != 99 || pb.LeaderEpoch() != 7 || pb.BaseOffset() != 1234 || pb.ProducerID() != 42 ||
		pb.ProducerEpoch() != 3 || pb.BaseSequence() != 17 || pb.NextOffset() != 1237 {
		t.Fatalf("fields: meta %d epoch %d base %d producer %d/%d/%d", pb.Meta(), pb.LeaderEpoch(), pb.BaseOffset(),
			pb.ProducerID(), pb.ProducerEpoch(), pb.BaseSequence())
	}
	if _, err := WrapKafka(nil, pb.Kafka()); err != nil {
		t.Fatalf("WrapKafka after SetProducer: %v", err)
	}
	recs, err := pb.Records(nil)
	if err != nil || len(recs) != 3 || recs[2].Offset != 1236 {
		t.Fatalf("Records: %v %+v", err, recs)
	}
}

// kafkaOf returns a copy of b's Kafka batch with f applied and, if reseal,
// Kafka's crc recomputed.
func kafkaOf(b Batch, reseal bool, f func(kb []byte)) []byte {
	kb := append([]byte(nil), b.Kafka()...)
	f(kb)
	if reseal {
		binary.BigEndian.PutUint32(kb[17:], crc32Kafka(kb))
	}
	return kb
}

func TestWrapKafkaRejects(t *testing.T) {
	b := mustBatch(t, 0, 2, 0)
	be := binary.BigEndian
	cases := []struct {
		name string
		kb   []byte
		want error
	}{
		{"short", b.Kafka()[:60], ErrMalformedBatch},
		{"trailing bytes", append(append([]byte(nil), b.Kafka()...), 0), ErrMalformedBatch},
		{"truncated", b.Kafka()[:len(b.Kafka())-1], ErrMalformedBatch},
		{"magic 1", kafkaOf(b, true, func(kb []byte) { kb[16] = 1 }), ErrMalformedBatch},
		{"bad crc", kafkaOf(b, false, func(kb []byte) { kb[len(kb)-1] ^= 1 }), ErrCorrupt},
		{"zero records", kafkaOf(b, true, func(kb []byte) { be.PutUint32(kb[57:], 0); be.PutUint32(kb[23:], 0xffffffff) }), ErrMalformedBatch},
		{"count vs last offset delta", kafkaOf(b, true, func(kb []byte) { be.PutUint32(kb[57:], 3) }), ErrMalformedBatch},
		{"count vs records", kafkaOf(b, true, func(kb []byte) { be.PutUint32(kb[57:], 1); be.PutUint32(kb[23:], 0) }), ErrMalformedBatch},
		{"control", kafkaOf(b, true, func(kb []byte) { kb[22] |= attrControl }), ErrUnsupportedBatch},
		{"transactional", kafkaOf(b, true, func(kb []byte) { kb[22] |= attrTransactional }), ErrUnsupportedBatch},
		{"codec 5", kafkaOf(b, true, func(kb []byte) { kb[22] |= 5 }), ErrMalformedBatch},
		{"offset delta", kafkaOf(b, true, func(kb []byte) { kb[61+3] = 2 }), ErrMalformedBatch}, // record 0: len, attr, tsDelta, offDelta 0 -> 1
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := WrapKafka(nil, c.kb); !errors.Is(err, c.want) {
				t.Fatalf("WrapKafka: %v, want %v", err, c.want)
			}
		})
	}
	// A compressed batch is stored as it is; Records refuses it.
	kb := kafkaOf(b, true, func(kb []byte) { kb[22] |= byte(CompressionZstd) })
	w, err := WrapKafka(nil, kb)
	if err != nil {
		t.Fatalf("WrapKafka of a compressed batch: %v", err)
	}
	if _, err := w.Records(nil); !errors.Is(err, ErrCompressed) {
		t.Fatalf("Records of a compressed batch: %v, want ErrCompressed", err)
	}
	// DecodeRecords decodes a records section given apart.
	recs, err := DecodeRecords(nil, w, b[batchHeaderSize:])
	if err != nil || len(recs) != 2 || string(recs[1].Value) != string(rec(1).Value) {
		t.Fatalf("DecodeRecords: %v %+v", err, recs)
	}
	if _, err := DecodeRecords(nil, w, b[batchHeaderSize+1:]); !errors.Is(err, ErrMalformedBatch) {
		t.Fatalf("DecodeRecords of a cut section: %v", err)
	}
}

// TestLogAppendTime: a batch stamped with log append time gives every
// record its max timestamp.
func TestLogAppendTime(t *testing.T) {
	b := mustBatch(t, 0, 3, 0)
	kb := kafkaOf(b, true, func(kb []byte) { kb[22] |= attrLogAppendTime; binary.BigEndian.PutUint64(kb[35:], 5555) })
	w, err := WrapKafka(nil, kb)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := w.Records(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Timestamp != 5555 {
			t.Fatalf("record %d: timestamp %d, want 5555", r.Offset, r.Timestamp)
		}
	}
}

// oldFormatBatch encodes one batch in format 1 (before Kafka support).
func oldFormatBatch(value string) []byte {
	body := []byte{byte(3 + len(value)), 0, 1, byte(len(value) * 2)} // format 1 record: len, tsDelta 0, nil key, valueLen
	body = append(body, value...)
	b := make([]byte, 48, 48+len(body))
	b = append(b, body...)
	be := binary.BigEndian
	be.PutUint32(b[0:], uint32(len(b)-4))
	b[8] = 1
	be.PutUint64(b[28:], 1_700_000_000_000)
	be.PutUint64(b[36:], 1_700_000_000_000)
	be.PutUint32(b[44:], 1)
	be.PutUint32(b[4:], crc32.Checksum(b[8:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// TestOpenRefusesOldFormat: a log directory written in format 1 is refused
// with a *FormatError naming the format, and nothing in it is changed.
func TestOpenRefusesOldFormat(t *testing.T) {
	dir := t.TempDir()
	old := append(oldFormatBatch("hello"), oldFormatBatch("world")...)
	path := filepath.Join(dir, segmentName(0, ".log"))
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Config{})
	var fe *FormatError
	if !errors.Is(err, ErrOldFormat) || !errors.As(err, &fe) || fe.Format != 1 {
		t.Fatalf("Open of a format 1 log: %v, want a *FormatError for format 1", err)
	}
	t.Log(err)
	got, rerr := os.ReadFile(path)
	if rerr != nil || !bytes.Equal(got, old) {
		t.Fatalf("Open changed the old segment (%v)", rerr)
	}
}
