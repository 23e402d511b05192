package kafka

// This file is the one place that knows how partition logs store batches:
// a log batch is a Kafka RecordBatch v2 behind a 12-byte frame prefix
// (log/format.go). A produced batch is validated and wrapped, never
// re-encoded; a fetch hands out the Kafka part of each frame as stored, so
// compression survives end to end.

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/minibroker/minibroker/internal/compress"
	mlog "github.com/minibroker/minibroker/log"
)

// Sizes of a Kafka RecordBatch v2's leading fields.
const (
	kbLength       = 8  // offset of batchLength
	kbLengthPrefix = 12 // baseOffset and batchLength: bytes before what batchLength counts
	kbHeaderSize   = 61 // the fixed fields, before the records
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

// wrapBatch validates one Kafka batch (log.WrapKafka: magic 2, lengths,
// CRC-32C, record count against lastOffsetDelta, not control, not
// transactional) and copies it into a log frame. A compressed batch is
// decompressed once (at most limit bytes) to check its records
// (compress.CheckBatch), so that nothing stored breaks a reader later.
func wrapBatch(kb []byte, limit int) (mlog.Batch, error) {
	b, err := mlog.WrapKafka(nil, kb)
	if err != nil {
		return nil, err
	}
	if b.Compression() != mlog.CompressionNone {
		_, err := compress.CheckBatch(nil, b, limit)
		if errors.Is(err, compress.ErrTooLarge) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", mlog.ErrMalformedBatch, err)
		}
	}
	return b, nil
}

// appendKafkaBatches appends the Kafka part of each log frame in logBytes
// (as FSM.ReadInto returns them) to dst. dst may be logBytes[:0]: every
// write then lands before the bytes still to be read.
func appendKafkaBatches(dst, logBytes []byte) ([]byte, error) {
	for len(logBytes) > 0 {
		b, rest, err := mlog.ParseBatch(logBytes)
		if err != nil {
			return dst, err
		}
		dst = append(dst, b.Kafka()...)
		logBytes = rest
	}
	return dst, nil
}

// offsetAtTime returns the offset and timestamp of the first record of b
// with a timestamp at or after ts, and whether there is one. A compressed
// batch is decompressed (at most limit bytes).
func offsetAtTime(b mlog.Batch, ts int64, limit int) (int64, int64, bool, error) {
	if b.MaxTimestamp() < ts {
		return 0, 0, false, nil
	}
	recs, _, err := compress.DecodeBatch(nil, nil, b, limit)
	if err != nil {
		return 0, 0, false, err
	}
	for _, r := range recs {
		if r.Timestamp >= ts {
			return r.Offset, r.Timestamp, true, nil
		}
	}
	return 0, 0, false, nil
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
