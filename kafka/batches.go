package kafka

// This file is the one place that knows how partition logs store batches.
// The log stores its own batch format (log/format.go) until the log's batch
// becomes a framed Kafka RecordBatch v2 (docs: kafka-design section 1); until
// then a produced Kafka batch is decoded and re-encoded as a log batch, and a
// fetched log batch is encoded as an uncompressed Kafka batch. Compressed
// Kafka batches are refused with UNSUPPORTED_COMPRESSION_TYPE until then.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"

	mlog "github.com/minibroker/minibroker/log"
	"github.com/minibroker/minibroker/replication"
)

var (
	// errUnsupportedBatch: a control or transactional batch.
	errUnsupportedBatch = errors.New("kafka: control and transactional batches are not supported")
	// errCompressed: a compressed batch where only uncompressed ones are
	// handled.
	errCompressed = errors.New("kafka: compressed batches are not supported yet")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Offsets of a Kafka RecordBatch v2's fields.
const (
	kbLength       = 8
	kbMagic        = 16
	kbCRC          = 17
	kbAttributes   = 21
	kbLastDelta    = 23
	kbFirstTs      = 27
	kbProducerID   = 43
	kbEpoch        = 51
	kbSequence     = 53
	kbCount        = 57
	kbHeaderSize   = 61
	kbCRCStart     = 21
	attrCompress   = 0x07
	attrTxn        = 0x10
	attrControl    = 0x20
	kbLengthPrefix = 12 // baseOffset and batchLength
)

// splitKafkaBatches splits a Produce partition's records into Kafka
// batches by their batchLength fields, checking each against the bytes
// left. It allocates nothing but the slice of views.
func splitKafkaBatches(records []byte) ([][]byte, error) {
	var out [][]byte
	for len(records) > 0 {
		if len(records) < kbHeaderSize {
			return nil, fmt.Errorf("%w: %d bytes left, a batch header needs %d", mlog.ErrMalformedBatch, len(records), kbHeaderSize)
		}
		n := int64(int32(binary.BigEndian.Uint32(records[kbLength:]))) + kbLengthPrefix
		if n < kbHeaderSize || n > int64(len(records)) {
			return nil, fmt.Errorf("%w: batch length %d with %d bytes left", mlog.ErrMalformedBatch, n-kbLengthPrefix, len(records))
		}
		out = append(out, records[:n])
		records = records[n:]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no record batch", mlog.ErrMalformedBatch)
	}
	return out, nil
}

// produceBatch is one validated batch of a Produce request, ready for the
// store.
type produceBatch struct {
	log        mlog.Batch
	producerID int64 // -1: not idempotent
	epoch      int16
	sequence   int32
	count      int
}

// wrapBatch validates one Kafka batch (magic 2, length, CRC-32C, record
// count against lastOffsetDelta, not control, not transactional) and makes
// the log batch to append.
func wrapBatch(kb []byte) (produceBatch, error) {
	var pb produceBatch
	if len(kb) < kbHeaderSize || int64(int32(binary.BigEndian.Uint32(kb[kbLength:])))+kbLengthPrefix != int64(len(kb)) {
		return pb, fmt.Errorf("%w: batch length does not match its %d bytes", mlog.ErrMalformedBatch, len(kb))
	}
	if kb[kbMagic] != 2 {
		return pb, fmt.Errorf("%w: magic %d: only record batch v2 (magic 2) is accepted", mlog.ErrMalformedBatch, kb[kbMagic])
	}
	if got, want := crc32.Checksum(kb[kbCRCStart:], castagnoli), binary.BigEndian.Uint32(kb[kbCRC:]); got != want {
		return pb, &mlog.CorruptError{Reason: fmt.Sprintf("record batch crc %08x, header says %08x", got, want)}
	}
	attrs := binary.BigEndian.Uint16(kb[kbAttributes:])
	if attrs&(attrTxn|attrControl) != 0 {
		return pb, fmt.Errorf("%w (attributes %#x)", errUnsupportedBatch, attrs)
	}
	if attrs&attrCompress != 0 {
		return pb, fmt.Errorf("%w (codec %d)", errCompressed, attrs&attrCompress)
	}
	count := int32(binary.BigEndian.Uint32(kb[kbCount:]))
	lastDelta := int32(binary.BigEndian.Uint32(kb[kbLastDelta:]))
	if count < 1 || int64(count) != int64(lastDelta)+1 {
		return pb, fmt.Errorf("%w: %d records, lastOffsetDelta %d", mlog.ErrMalformedBatch, count, lastDelta)
	}
	firstTs := int64(binary.BigEndian.Uint64(kb[kbFirstTs:]))
	rest := kb[kbHeaderSize:]
	if int(count) > len(rest) {
		return pb, fmt.Errorf("%w: %d records in %d bytes", mlog.ErrMalformedBatch, count, len(rest))
	}
	recs := make([]mlog.Record, 0, count)
	for i := int32(0); i < count; i++ {
		n, k := binary.Varint(rest)
		if k <= 0 || n < 0 || n > int64(len(rest)-k) {
			return pb, fmt.Errorf("%w: record %d length", mlog.ErrMalformedBatch, i)
		}
		var kr kmsg.Record
		if err := kr.ReadFrom(rest[:k+int(n)]); err != nil {
			return pb, fmt.Errorf("%w: record %d: %v", mlog.ErrMalformedBatch, i, err)
		}
		rest = rest[k+int(n):]
		r := mlog.Record{Timestamp: firstTs + kr.TimestampDelta64, Key: kr.Key, Value: kr.Value}
		for _, h := range kr.Headers {
			r.Headers = append(r.Headers, mlog.Header{Key: h.Key, Value: h.Value})
		}
		recs = append(recs, r)
	}
	if len(rest) != 0 {
		return pb, fmt.Errorf("%w: %d bytes after the last record", mlog.ErrMalformedBatch, len(rest))
	}
	b, err := mlog.AppendBatch(nil, recs, 0)
	if err != nil {
		return pb, err
	}
	pb.log = b
	pb.producerID = int64(binary.BigEndian.Uint64(kb[kbProducerID:]))
	pb.epoch = int16(binary.BigEndian.Uint16(kb[kbEpoch:]))
	pb.sequence = int32(binary.BigEndian.Uint32(kb[kbSequence:]))
	pb.count = int(count)
	return pb, nil
}

// submit hands one batch to the store (see replication.Store), in the
// order of the calls.
func (s *Server) submit(ctx context.Context, topic string, partition int32, pb produceBatch, acks replication.Acks) (*replication.PendingAppend, error) {
	id := pb.producerID
	if id < 0 {
		id = 0 // not idempotent
	}
	return s.store.SubmitIdempotent(ctx, topic, partition, pb.log, acks, id, pb.sequence)
}

// appendKafkaBatches appends the batches of a partition log's bytes (as
// FSM.ReadInto returns them) to dst as Kafka batches.
func appendKafkaBatches(dst, logBytes []byte, leaderEpoch int32) ([]byte, error) {
	var lrecs []mlog.Record
	for len(logBytes) > 0 {
		b, rest, err := mlog.ParseBatch(logBytes)
		if err != nil {
			return dst, err
		}
		logBytes = rest
		if lrecs, err = b.Records(lrecs[:0]); err != nil {
			return dst, err
		}
		var recs []byte
		for i := range lrecs {
			lr := &lrecs[i]
			kr := kmsg.Record{TimestampDelta64: lr.Timestamp - b.FirstTimestamp(), OffsetDelta: int32(i), Key: lr.Key, Value: lr.Value}
			for _, h := range lr.Headers {
				kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
			}
			body := kr.AppendTo(nil) // with Length 0: a one-byte prefix
			kr.Length = int32(len(body) - 1)
			recs = kr.AppendTo(recs)
		}
		kb := kmsg.RecordBatch{
			FirstOffset: b.BaseOffset(), PartitionLeaderEpoch: leaderEpoch, Magic: 2,
			LastOffsetDelta: int32(len(lrecs) - 1), FirstTimestamp: b.FirstTimestamp(), MaxTimestamp: b.MaxTimestamp(),
			ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(lrecs)), Records: recs,
		}
		start := len(dst)
		dst = kb.AppendTo(dst)
		out := dst[start:]
		binary.BigEndian.PutUint32(out[kbLength:], uint32(len(out)-kbLengthPrefix))
		binary.BigEndian.PutUint32(out[kbCRC:], crc32.Checksum(out[kbCRCStart:], castagnoli))
	}
	return dst, nil
}

// offsetAtTime returns the offset of the first record of b with a timestamp
// at or after ts, and whether there is one.
func offsetAtTime(b mlog.Batch, ts int64) (int64, bool, error) {
	if b.MaxTimestamp() < ts {
		return 0, false, nil
	}
	recs, err := b.Records(nil)
	if err != nil {
		return 0, false, err
	}
	for _, r := range recs {
		if r.Timestamp >= ts {
			return r.Offset, true, nil
		}
	}
	return 0, false, nil
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
