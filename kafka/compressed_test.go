package kafka_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/minibroker/minibroker/internal/compress"
	mlog "github.com/minibroker/minibroker/log"
)

// compressedBatch is a Kafka batch of values, its records compressed with
// codec.
func compressedBatch(t *testing.T, codec mlog.Compression, values ...string) []byte {
	t.Helper()
	var recs []mlog.Record
	for i, v := range values {
		recs = append(recs, mlog.Record{Timestamp: int64(1000 + i), Key: []byte(fmt.Sprint("k", i)), Value: []byte(v)})
	}
	b, err := mlog.AppendBatch(nil, recs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if codec == mlog.CompressionNone {
		return slices.Clone(b.Kafka())
	}
	cb, err := compress.CompressBatch(nil, b, codec)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(cb.Kafka())
}

// Compressed batches are stored as produced and fetched back unchanged:
// compression survives end to end; their records decode.
func TestCompressedRoundTrip(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "cz", 1)
	codecs := []mlog.Compression{mlog.CompressionNone, mlog.CompressionGzip, mlog.CompressionSnappy, mlog.CompressionLZ4, mlog.CompressionZstd}
	var sent [][]byte
	for i, codec := range codecs {
		kb := compressedBatch(t, codec, fmt.Sprint(codec, "-a"), fmt.Sprint(codec, "-b"))
		sent = append(sent, kb)
		if p := produce(t, k, 11, "cz", 0, kb); p.ErrorCode != 0 || p.BaseOffset != int64(2*i) {
			t.Fatalf("%v: error %d at %d", codec, p.ErrorCode, p.BaseOffset)
		}
	}
	got := fetch(t, k, 12, "cz", 0, 0, 0, 0).RecordBatches
	for i, kb := range sent {
		if len(got) < len(kb) {
			t.Fatalf("%v: fetched %d bytes, want %d more", codecs[i], len(got), len(kb))
		}
		g := got[:len(kb)]
		got = got[len(kb):]
		// The same bytes but the base offset and leader epoch (set by the
		// broker, outside Kafka's CRC).
		if !bytes.Equal(g[16:], kb[16:]) || int64(binary.BigEndian.Uint64(g)) != int64(2*i) {
			t.Fatalf("%v: fetched batch differs from the produced one", codecs[i])
		}
		fb, err := mlog.WrapKafka(nil, g)
		if err != nil {
			t.Fatalf("%v: fetched batch: %v", codecs[i], err)
		}
		recs, _, err := compress.DecodeBatch(nil, nil, fb, 1<<20)
		if err != nil || len(recs) != 2 || string(recs[1].Value) != fmt.Sprint(codecs[i], "-b") {
			t.Fatalf("%v: records %v, %v", codecs[i], recs, err)
		}
	}
	// A compressed batch whose payload does not decompress is refused.
	bad := compressedBatch(t, mlog.CompressionGzip, "x")
	for j := 61; j < len(bad); j++ {
		bad[j] ^= 0x5a
	}
	binary.BigEndian.PutUint32(bad[17:], crc(bad[21:]))
	if p := produce(t, k, 11, "cz", 0, bad); p.ErrorCode != 2 {
		t.Fatalf("undecompressable batch: error %d, want 2 (CORRUPT_MESSAGE)", p.ErrorCode)
	}
}

// A producer epoch bump starts over at sequence 0 (KIP-360); an older
// epoch is fenced.
func TestProducerEpochs(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "ep", 1)
	id := initProducerID(t, k, nil).ProducerID
	if p := produce(t, k, 11, "ep", 0, kafkaBatch(1, id, 0, 0, "a")); p.ErrorCode != 0 {
		t.Fatalf("epoch 0: %d", p.ErrorCode)
	}
	if p := produce(t, k, 11, "ep", 0, kafkaBatch(1, id, 1, 0, "b")); p.ErrorCode != 0 || p.BaseOffset != 1 {
		t.Fatalf("epoch 1: %d at %d", p.ErrorCode, p.BaseOffset)
	}
	if p := produce(t, k, 11, "ep", 0, kafkaBatch(1, id, 0, 1, "c")); p.ErrorCode != 47 {
		t.Fatalf("epoch 0 again: error %d, want 47 (INVALID_PRODUCER_EPOCH)", p.ErrorCode)
	}
}
