package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Header is a record header: an application-defined key and value.
type Header struct {
	Key   string
	Value []byte
}

// Record is one message in the log. Offset is assigned by the log on append
// and filled in by Batch.Records; it is ignored when encoding. Timestamp is in
// milliseconds since the Unix epoch. A nil Key or Value stays nil through a
// round trip; an empty one stays empty.
type Record struct {
	Offset    int64
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Compression is the codec of a batch's records section (the low 3 bits of
// the Kafka batch's attributes).
type Compression int8

// The codecs Kafka defines. Values 5 to 7 are invalid.
const (
	CompressionNone   Compression = 0
	CompressionGzip   Compression = 1
	CompressionSnappy Compression = 2
	CompressionLZ4    Compression = 3
	CompressionZstd   Compression = 4
)

func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionGzip:
		return "gzip"
	case CompressionSnappy:
		return "snappy"
	case CompressionLZ4:
		return "lz4"
	case CompressionZstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", int8(c))
}

// Batch is one frame in the format drawn in format.go: the 12-byte prefix
// (meta, hcrc) and a Kafka RecordBatch v2. It is a byte slice: appending it
// to the log writes exactly these bytes (after the log fills in the base
// offset and hcrc). The accessors read the header and expect a batch as
// ParseBatch, AppendBatch or WrapKafka returned it.
type Batch []byte

// AppendBatch encodes records as an uncompressed batch at the end of dst
// and returns the batch (the appended part of dst). The base offset is left
// at 0 for the log to assign, the leader epoch at -1, meta is stored as
// given, and the producer fields say "no producer" (id -1, epoch -1,
// sequence -1; see SetProducer). The batch's base timestamp is the first
// record's. It returns ErrMalformedBatch for an empty record slice or more
// than MaxInt32 records, and ErrBatchTooLarge for a batch over 1 GiB.
//
// It returns only the new batch, not the grown dst, as append would: if dst
// lacked the capacity, the batch lives in a new array that dst does not see.
// To encode several batches into one buffer, append each returned batch to
// the buffer passed in, noting the length before if you need to find the
// batch again (see the example):
//
//	start := len(buf)
//	b, err := AppendBatch(buf, recs, meta)
//	// if err != nil ...
//	buf = append(buf, b...) // b is buf[start:] from here on
//
// When dst had the capacity, that append copies the batch onto itself.
// Appending a batch to a Log changes its base offset and hcrc in place.
func AppendBatch(dst []byte, records []Record, meta uint64) (Batch, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: no records", ErrMalformedBatch)
	}
	if len(records) > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %d records", ErrMalformedBatch, len(records))
	}
	start := len(dst)
	firstTs, maxTs := records[0].Timestamp, records[0].Timestamp
	for i := range records {
		if records[i].Timestamp > maxTs {
			maxTs = records[i].Timestamp
		}
	}
	dst = append(dst, make([]byte, batchHeaderSize)...)
	for i := range records {
		r := &records[i]
		dst = binary.AppendVarint(dst, int64(recordBodySize(r, firstTs, i)))
		dst = append(dst, 0) // attributes
		dst = binary.AppendVarint(dst, r.Timestamp-firstTs)
		dst = binary.AppendVarint(dst, int64(i))
		dst = appendBytes(dst, r.Key)
		dst = appendBytes(dst, r.Value)
		dst = binary.AppendVarint(dst, int64(len(r.Headers)))
		for _, h := range r.Headers {
			dst = binary.AppendVarint(dst, int64(len(h.Key)))
			dst = append(dst, h.Key...)
			dst = appendBytes(dst, h.Value)
		}
	}
	b := Batch(dst[start:])
	if len(b) > maxBatchSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBatchTooLarge, len(b))
	}
	be := binary.BigEndian
	be.PutUint64(b[offMeta:], meta)
	be.PutUint64(b[offBaseOffset:], 0)
	be.PutUint32(b[offBatchLength:], uint32(len(b)-offBatchLength-4))
	be.PutUint32(b[offLeaderEpoch:], math.MaxUint32) // -1
	b[offMagic] = batchMagic
	be.PutUint16(b[offAttributes:], 0)
	be.PutUint32(b[offLastOffsetDelta:], uint32(len(records)-1))
	be.PutUint64(b[offFirstTs:], uint64(firstTs))
	be.PutUint64(b[offMaxTs:], uint64(maxTs))
	be.PutUint64(b[offProducerID:], math.MaxUint64) // -1
	be.PutUint16(b[offProducerEpoch:], math.MaxUint16)
	be.PutUint32(b[offBaseSequence:], math.MaxUint32)
	be.PutUint32(b[offCount:], uint32(len(records)))
	b.sealKafka()
	return b, nil
}

func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

func varintLen(v int64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], v)
}

func bytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return varintLen(int64(len(b))) + len(b)
}

// recordBodySize is the size of record i after its length prefix.
func recordBodySize(r *Record, firstTs int64, i int) int {
	n := 1 + varintLen(r.Timestamp-firstTs) + varintLen(int64(i)) + bytesLen(r.Key) + bytesLen(r.Value) +
		varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	return n
}

// ParseBatch checks that buf starts with a whole, well-formed batch whose
// CRCs match, and returns that batch and the bytes after it. It reads only
// the header's fixed fields before checking the length against len(buf), so
// it never allocates. It does not look inside the records section (Records
// and DecodeRecords check it). It returns ErrMalformedBatch for a short
// buffer or a bad header and ErrCorrupt (a *CorruptError) for a CRC
// mismatch.
func ParseBatch(buf []byte) (Batch, []byte, error) {
	n, err := batchLen(buf)
	if err != nil {
		return nil, buf, err
	}
	b := Batch(buf[:n])
	if err := b.checkCRCs(); err != nil {
		return nil, buf, err
	}
	return b, buf[n:], nil
}

// checkCRCs verifies both CRCs; the error is a *CorruptError.
func (b Batch) checkCRCs() error {
	if got, want := headerCRC(b), b.hcrc(); got != want {
		return &CorruptError{Reason: fmt.Sprintf("header crc %08x, frame says %08x", got, want)}
	}
	if got, want := kafkaCRC(b), b.kcrc(); got != want {
		return &CorruptError{Reason: fmt.Sprintf("crc %08x, header says %08x", got, want)}
	}
	return nil
}

// batchLen validates a batch header at the start of buf and returns the
// batch's total size. It does not check the CRCs.
func batchLen(buf []byte) (int, error) {
	if len(buf) < batchHeaderSize {
		return 0, fmt.Errorf("%w: %d bytes, header needs %d", ErrMalformedBatch, len(buf), batchHeaderSize)
	}
	n, reason := checkHeader(buf)
	if reason != "" {
		return 0, fmt.Errorf("%w: %s", ErrMalformedBatch, reason)
	}
	if int64(len(buf)) < n {
		return 0, fmt.Errorf("%w: %d bytes, header says %d", ErrMalformedBatch, len(buf), n)
	}
	return int(n), nil
}

var be = binary.BigEndian

// Kafka is the Kafka RecordBatch v2 inside the frame: what a Kafka Fetch
// hands a consumer. It aliases b.
func (b Batch) Kafka() []byte { return b[offKafka:] }

// BaseOffset is the offset of the batch's first record.
func (b Batch) BaseOffset() int64 { return int64(be.Uint64(b[offBaseOffset:])) }

// Count is the number of records in the batch (lastOffsetDelta+1).
func (b Batch) Count() int { return int(int32(be.Uint32(b[offLastOffsetDelta:]))) + 1 }

// NextOffset is the offset after the batch's last record.
func (b Batch) NextOffset() int64 { return b.BaseOffset() + int64(b.Count()) }

// Meta is the caller-defined value stored with the batch.
func (b Batch) Meta() uint64 { return be.Uint64(b[offMeta:]) }

// LeaderEpoch is the Kafka partitionLeaderEpoch field (replication: the
// Raft term of the entry that appended the batch; -1 before that).
func (b Batch) LeaderEpoch() int32 { return int32(be.Uint32(b[offLeaderEpoch:])) }

// MaxTimestamp is the largest record timestamp in the batch.
func (b Batch) MaxTimestamp() int64 { return int64(be.Uint64(b[offMaxTs:])) }

// FirstTimestamp is the batch's base timestamp: the first record's.
func (b Batch) FirstTimestamp() int64 { return int64(be.Uint64(b[offFirstTs:])) }

// ProducerID is the idempotent producer's id, -1 for none.
func (b Batch) ProducerID() int64 { return int64(be.Uint64(b[offProducerID:])) }

// ProducerEpoch is the producer's epoch, -1 for none.
func (b Batch) ProducerEpoch() int16 { return int16(be.Uint16(b[offProducerEpoch:])) }

// BaseSequence is the first record's sequence number, -1 for none.
func (b Batch) BaseSequence() int32 { return int32(be.Uint32(b[offBaseSequence:])) }

// Compression is the codec of the records section.
func (b Batch) Compression() Compression { return Compression(b[offAttributes+1] & attrCompression) }

// attributes is the Kafka batch's attributes field.
func (b Batch) attributes() uint16 { return be.Uint16(b[offAttributes:]) }

func (b Batch) hcrc() uint32 { return be.Uint32(b[offHCRC:]) }
func (b Batch) kcrc() uint32 { return be.Uint32(b[offCRC:]) }

// sealHeader recomputes hcrc.
func (b Batch) sealHeader() { be.PutUint32(b[offHCRC:], headerCRC(b)) }

// sealKafka recomputes Kafka's crc, and then hcrc, which covers it.
func (b Batch) sealKafka() {
	be.PutUint32(b[offCRC:], kafkaCRC(b))
	b.sealHeader()
}

// SetMeta stores meta in the batch and updates hcrc. It does not block and
// changes b in place.
func (b Batch) SetMeta(meta uint64) {
	be.PutUint64(b[offMeta:], uint64(meta))
	b.sealHeader()
}

// SetLeaderEpoch stores the Kafka partitionLeaderEpoch and updates hcrc
// (Kafka's crc leaves the field out). It changes b in place.
func (b Batch) SetLeaderEpoch(epoch int32) {
	be.PutUint32(b[offLeaderEpoch:], uint32(epoch))
	b.sealHeader()
}

// SetProducer stores an idempotent producer's id, epoch and the batch's
// base sequence, and recomputes both CRCs (Kafka's covers these fields: it
// reads the whole batch). The native produce path uses it on a batch made
// by AppendBatch. It changes b in place.
func (b Batch) SetProducer(id int64, epoch int16, seq int32) {
	be.PutUint64(b[offProducerID:], uint64(id))
	be.PutUint16(b[offProducerEpoch:], uint16(epoch))
	be.PutUint32(b[offBaseSequence:], uint32(seq))
	b.sealKafka()
}

// setBase stores the base offset and updates hcrc.
func (b Batch) setBase(base int64) {
	be.PutUint64(b[offBaseOffset:], uint64(base))
	b.sealHeader()
}

// WrapKafka validates kafkaBatch, one Kafka RecordBatch v2 as a producer
// sends it, and appends a frame holding a copy of it (meta 0) to dst. It
// returns the frame (the appended part of dst; see AppendBatch). The
// records of an uncompressed batch are checked too (lengths, count, offset
// deltas); a compressed one's are not (DecodeRecords checks them after
// decompression). It allocates only the copy.
//
// Errors: ErrMalformedBatch (wrapped) for a length that disagrees with the
// buffer or batchLength, a magic other than 2, recordsCount below 1 or not
// lastOffsetDelta+1, an unknown codec or malformed records; ErrCorrupt (a
// *CorruptError) for a CRC mismatch; ErrUnsupportedBatch (wrapped) for a
// control or transactional batch; ErrBatchTooLarge over 1 GiB.
func WrapKafka(dst []byte, kafkaBatch []byte) (Batch, error) {
	kb := kafkaBatch
	if len(kb) < kafkaHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, a Kafka batch header needs %d", ErrMalformedBatch, len(kb), kafkaHeaderSize)
	}
	if len(kb) > maxBatchSize-frameHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBatchTooLarge, len(kb))
	}
	if bl := int64(int32(be.Uint32(kb[8:]))); bl+12 != int64(len(kb)) {
		return nil, fmt.Errorf("%w: batchLength %d, %d bytes follow it", ErrMalformedBatch, bl, len(kb)-12)
	}
	// The checks below read the fields at their frame offsets: build the
	// frame's prefix in front of a view of the header.
	var hdr [batchHeaderSize]byte
	copy(hdr[offKafka:], kb[:kafkaHeaderSize])
	if _, reason := checkHeader(hdr[:]); reason != "" {
		return nil, fmt.Errorf("%w: %s", ErrMalformedBatch, reason)
	}
	if got, want := crc32Kafka(kb), be.Uint32(kb[17:]); got != want {
		return nil, &CorruptError{Reason: fmt.Sprintf("crc %08x, batch says %08x", got, want)}
	}
	h := Batch(hdr[:])
	attr := h.attributes()
	switch {
	case attr&attrControl != 0:
		return nil, fmt.Errorf("%w: control batch", ErrUnsupportedBatch)
	case attr&attrTransactional != 0:
		return nil, fmt.Errorf("%w: transactional batch", ErrUnsupportedBatch)
	case h.Compression() > CompressionZstd:
		return nil, fmt.Errorf("%w: compression codec %d", ErrMalformedBatch, h.Compression())
	}
	if h.Compression() == CompressionNone {
		if err := checkRecords(h, kb[kafkaHeaderSize:]); err != nil {
			return nil, err
		}
	}
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderSize)...)
	dst = append(dst, kb...)
	b := Batch(dst[start:])
	b.sealHeader()
	return b, nil
}

// crc32Kafka is Kafka's crc of a bare Kafka batch: its bytes from the
// attributes on.
func crc32Kafka(kb []byte) uint32 {
	return crc32.Checksum(kb[offAttributes-offKafka:], castagnoli)
}
