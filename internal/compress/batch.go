package compress

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	mlog "github.com/minibroker/minibroker/log"
)

// DecodeBatch decodes the records of b, compressed or not, and appends them
// to dst. A compressed records section is decompressed (at most limit
// bytes) onto the end of scratch, which is returned, grown, for reuse:
// bytes already in scratch are never overwritten, so records decoded from
// earlier batches into the same scratch stay valid. Keys and values alias b
// or scratch. Errors: those of DecompressLimit, and log.ErrMalformedBatch
// (wrapped) from log.DecodeRecords. It is safe for concurrent use.
func DecodeBatch(dst []mlog.Record, scratch []byte, b mlog.Batch, limit int) ([]mlog.Record, []byte, error) {
	codec := b.Compression()
	if codec == mlog.CompressionNone {
		recs, err := b.Records(dst)
		return recs, scratch, err
	}
	start := len(scratch)
	out, err := DecompressLimit(codec, scratch, b.Kafka()[kafkaHeaderSize:], limit)
	if err != nil {
		return dst, scratch, fmt.Errorf("batch at offset %d: %w", b.BaseOffset(), err)
	}
	recs, err := mlog.DecodeRecords(dst, b, out[start:len(out):len(out)])
	return recs, out, err
}

// kafkaHeaderSize is the size of a Kafka RecordBatch v2's fixed fields:
// its records section starts there.
const kafkaHeaderSize = 61

// CheckBatch checks that the records of b, compressed or not, decode: a
// compressed records section is decompressed (at most limit bytes) into
// scratch, which is returned for reuse (its bytes are overwritten), and
// checked with log.CheckRecords. It allocates no records. A Kafka produce
// path runs it on a compressed batch before storing it, as log.WrapKafka
// checks only an uncompressed one's records. Errors: those of
// DecompressLimit and log.ErrMalformedBatch (wrapped).
func CheckBatch(scratch []byte, b mlog.Batch, limit int) ([]byte, error) {
	codec := b.Compression()
	if codec == mlog.CompressionNone {
		return scratch, mlog.CheckRecords(b, b.Kafka()[kafkaHeaderSize:])
	}
	out, err := DecompressLimit(codec, scratch[:0], b.Kafka()[kafkaHeaderSize:], limit)
	if err != nil {
		return scratch, fmt.Errorf("batch at offset %d: %w", b.BaseOffset(), err)
	}
	return out, mlog.CheckRecords(b, out)
}

// CompressBatch returns a copy of the uncompressed batch b, appended to
// dst, whose records section is compressed with codec, as a Kafka producer
// would send it: the attributes name the codec, batchLength and Kafka's
// crc are recomputed, and the meta is kept. It returns
// log.ErrCompressed (wrapped) if b is compressed already, and the errors of
// Compress and log.WrapKafka.
func CompressBatch(dst []byte, b mlog.Batch, codec mlog.Compression) (mlog.Batch, error) {
	if c := b.Compression(); c != mlog.CompressionNone {
		return nil, fmt.Errorf("%w: %v", mlog.ErrCompressed, c)
	}
	kb := b.Kafka()
	out := append([]byte(nil), kb[:kafkaHeaderSize]...)
	out, err := Compress(codec, out, kb[kafkaHeaderSize:])
	if err != nil {
		return nil, err
	}
	be := binary.BigEndian
	be.PutUint32(out[8:], uint32(len(out)-12))                           // batchLength
	be.PutUint16(out[21:], be.Uint16(out[21:])&^0x07|uint16(codec)&0x07) // attributes
	be.PutUint32(out[17:], crc32.Checksum(out[21:], castagnoli))         // crc
	w, err := mlog.WrapKafka(dst, out)
	if err != nil {
		return nil, err
	}
	w.SetMeta(b.Meta())
	return w, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)
