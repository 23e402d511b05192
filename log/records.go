package log

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// minRecordSize is the smallest encoded record: length, attributes,
// timestamp delta, offset delta, key length, value length and header count,
// one byte each.
const minRecordSize = 7

// Records decodes the records of an uncompressed batch and appends them to
// dst, numbering them from the batch's base offset. Keys, values and header
// values alias b: they are valid as long as b is and must not be modified.
// It returns ErrCompressed (wrapped) for a compressed batch (decompress
// its records section and call DecodeRecords), and ErrMalformedBatch
// (wrapped) if a record does not fit the batch, the count in the header is
// wrong or an offset delta is out of place; every length is checked against
// the bytes left before anything is allocated.
func (b Batch) Records(dst []Record) ([]Record, error) {
	if _, err := batchLen(b); err != nil {
		return dst, err
	}
	if c := b.Compression(); c != CompressionNone {
		return dst, fmt.Errorf("%w: %v", ErrCompressed, c)
	}
	return walkRecords(dst, b, b[batchHeaderSize:], true)
}

// DecodeRecords decodes the records section plain of batch b, already
// decompressed by the caller (see internal/compress), and appends the
// records to dst as Records does: numbered from b's base offset, with
// timestamps from b's base timestamp (or every one b's max timestamp, for a
// batch stamped with log append time). Keys and values alias plain. It
// checks b's header (not its CRCs) and checks every length in plain before
// allocating; it returns ErrMalformedBatch (wrapped) for a bad header,
// records that do not fill plain exactly, or a count that disagrees with
// the header. It does not block and is safe for concurrent use.
func DecodeRecords(dst []Record, b Batch, plain []byte) ([]Record, error) {
	if _, err := batchLen(b); err != nil {
		return dst, err
	}
	return walkRecords(dst, b, plain, true)
}

// CheckRecords checks the records section plain of batch b (decompressed
// by the caller) as DecodeRecords would decode it, without allocating: a
// Kafka front door uses it to refuse a compressed batch whose records are
// malformed before it is stored. It returns ErrMalformedBatch (wrapped).
func CheckRecords(b Batch, plain []byte) error {
	if _, err := batchLen(b); err != nil {
		return err
	}
	return checkRecords(b, plain)
}

// checkRecords checks the uncompressed records section plain of the batch
// whose header is b, without allocating.
func checkRecords(b Batch, plain []byte) error {
	_, err := walkRecords(nil, b, plain, false)
	return err
}

// walkRecords parses the records section plain of batch b, appending the
// records to dst if keep is set.
func walkRecords(dst []Record, b Batch, plain []byte, keep bool) ([]Record, error) {
	base, firstTs, maxTs, count := b.BaseOffset(), b.FirstTimestamp(), b.MaxTimestamp(), b.Count()
	logAppendTime := b.attributes()&attrLogAppendTime != 0
	rest := plain
	if count > len(rest)/minRecordSize {
		return dst, fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrMalformedBatch, count, len(rest))
	}
	if keep {
		// Room for the records, but not all at once for a huge count: the
		// count is checked against the bytes only as records decode.
		dst = slices.Grow(dst, min(count, 4096))
	}
	for i := 0; i < count; i++ {
		n, k := binary.Varint(rest)
		if k <= 0 || n < 0 || n > int64(len(rest)-k) {
			return dst, fmt.Errorf("%w: record %d length", ErrMalformedBatch, i)
		}
		body := rest[k : k+int(n)]
		rest = rest[k+int(n):]
		var r Record
		delta, err := decodeRecord(body, &r, keep)
		if err != nil {
			return dst, fmt.Errorf("%w: record %d: %v", ErrMalformedBatch, i, err)
		}
		if delta != int64(i) {
			return dst, fmt.Errorf("%w: record %d has offset delta %d", ErrMalformedBatch, i, delta)
		}
		if keep {
			r.Offset = base + int64(i)
			if logAppendTime {
				r.Timestamp = maxTs
			} else {
				r.Timestamp += firstTs
			}
			dst = append(dst, r)
		}
	}
	if len(rest) != 0 {
		return dst, fmt.Errorf("%w: %d bytes after the last record", ErrMalformedBatch, len(rest))
	}
	return dst, nil
}

// decodeRecord decodes one record's body (after its length) into r, which
// gets the timestamp delta as its Timestamp, and returns the record's
// offset delta. Without keep it only checks, allocating nothing.
func decodeRecord(b []byte, r *Record, keep bool) (int64, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("empty")
	}
	b = b[1:] // attributes: unused by Kafka v2 records
	ts, k := binary.Varint(b)
	if k <= 0 {
		return 0, fmt.Errorf("timestamp delta")
	}
	r.Timestamp = ts
	b = b[k:]
	delta, k := binary.Varint(b)
	if k <= 0 {
		return 0, fmt.Errorf("offset delta")
	}
	b = b[k:]
	var err error
	if r.Key, b, err = readBytes(b); err != nil {
		return 0, fmt.Errorf("key: %w", err)
	}
	if r.Value, b, err = readBytes(b); err != nil {
		return 0, fmt.Errorf("value: %w", err)
	}
	nh, k := binary.Varint(b)
	if k <= 0 || nh < 0 || nh > int64(len(b)-k)/2 { // a header takes at least 2 bytes
		return 0, fmt.Errorf("header count")
	}
	b = b[k:]
	if keep && nh > 0 {
		r.Headers = make([]Header, nh)
	}
	for i := 0; i < int(nh); i++ {
		kl, k := binary.Varint(b)
		if k <= 0 || kl < 0 || kl > int64(len(b)-k) {
			return 0, fmt.Errorf("header %d key", i)
		}
		key := b[k : k+int(kl)]
		b = b[k+int(kl):]
		var v []byte
		if v, b, err = readBytes(b); err != nil {
			return 0, fmt.Errorf("header %d value: %w", i, err)
		}
		if keep {
			r.Headers[i] = Header{Key: string(key), Value: v}
		}
	}
	if len(b) != 0 {
		return 0, fmt.Errorf("%d trailing bytes", len(b))
	}
	if !keep {
		r.Key, r.Value = nil, nil
	}
	return delta, nil
}

// readBytes reads a varint length (-1 = nil) and that many bytes.
func readBytes(b []byte) ([]byte, []byte, error) {
	n, k := binary.Varint(b)
	if k <= 0 || n < -1 || n > int64(len(b)-k) {
		return nil, b, fmt.Errorf("bad length")
	}
	b = b[k:]
	if n == -1 {
		return nil, b, nil
	}
	return b[:n:n], b[n:], nil
}
