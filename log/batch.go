package log

import (
	"encoding/binary"
	"fmt"
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

// Batch is one encoded record batch in the format drawn in format.go. It is a
// byte slice: appending it to the log writes exactly these bytes (after the
// log fills in the base offset and checksum).
type Batch []byte

// AppendBatch encodes records as a batch at the end of dst and returns the
// batch (the appended part of dst). The base offset is left at 0 for the log
// to assign, meta is stored as given. It returns ErrMalformedBatch for an empty
// record slice and ErrBatchTooLarge for a batch over 1 GiB.
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
// Appending a batch to a Log changes its base offset and checksum in place.
func AppendBatch(dst []byte, records []Record, meta uint64) (Batch, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: no records", ErrMalformedBatch)
	}
	start := len(dst)
	firstTs, maxTs := records[0].Timestamp, records[0].Timestamp
	for i := range records {
		if records[i].Timestamp > maxTs {
			maxTs = records[i].Timestamp
		}
	}
	dst = append(dst, make([]byte, batchHeaderSize)...)
	var scratch [binary.MaxVarintLen64]byte
	for i := range records {
		r := &records[i]
		n := recordBodySize(r, firstTs)
		dst = append(dst, scratch[:binary.PutUvarint(scratch[:], uint64(n))]...)
		dst = binary.AppendVarint(dst, r.Timestamp-firstTs)
		dst = appendBytes(dst, r.Key)
		dst = appendBytes(dst, r.Value)
		dst = binary.AppendUvarint(dst, uint64(len(r.Headers)))
		for _, h := range r.Headers {
			dst = binary.AppendUvarint(dst, uint64(len(h.Key)))
			dst = append(dst, h.Key...)
			dst = appendBytes(dst, h.Value)
		}
	}
	b := dst[start:]
	if len(b) > maxBatchSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBatchTooLarge, len(b))
	}
	putHeader(b, uint32(len(b)-4), 0, meta, firstTs, maxTs, uint32(len(records)))
	binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b))
	return Batch(b), nil
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

func uvarintLen(v uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], v)
}

func bytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return varintLen(int64(len(b))) + len(b)
}

// recordBodySize is the size of a record after its length prefix.
func recordBodySize(r *Record, firstTs int64) int {
	n := varintLen(r.Timestamp-firstTs) + bytesLen(r.Key) + bytesLen(r.Value) + uvarintLen(uint64(len(r.Headers)))
	for _, h := range r.Headers {
		n += uvarintLen(uint64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	return n
}

// ParseBatch checks that buf starts with a whole, well-formed batch whose CRC
// matches, and returns that batch and the bytes after it. It reads only the
// header's fixed fields before checking the length against len(buf), so it
// never allocates. It returns ErrMalformedBatch for a short buffer or a bad
// header and ErrCorrupt (a *CorruptError) for a CRC mismatch.
func ParseBatch(buf []byte) (Batch, []byte, error) {
	n, err := batchLen(buf)
	if err != nil {
		return nil, buf, err
	}
	b := Batch(buf[:n])
	if got, want := batchCRC(b), b.crc(); got != want {
		return nil, buf, &CorruptError{Reason: fmt.Sprintf("crc %08x, header says %08x", got, want)}
	}
	return b, buf[n:], nil
}

// batchLen validates a batch header at the start of buf and returns the
// batch's total size. It does not check the CRC.
func batchLen(buf []byte) (int, error) {
	if len(buf) < batchHeaderSize {
		return 0, fmt.Errorf("%w: %d bytes, header needs %d", ErrMalformedBatch, len(buf), batchHeaderSize)
	}
	length := int64(binary.BigEndian.Uint32(buf[offLength:]))
	switch {
	case length+4 < batchHeaderSize || length+4 > maxBatchSize:
		return 0, fmt.Errorf("%w: length %d", ErrMalformedBatch, length)
	case buf[offMagic] != batchMagic:
		return 0, fmt.Errorf("%w: magic %d", ErrMalformedBatch, buf[offMagic])
	case binary.BigEndian.Uint32(buf[offCount:]) == 0:
		return 0, fmt.Errorf("%w: zero records", ErrMalformedBatch)
	case int64(len(buf)) < length+4:
		return 0, fmt.Errorf("%w: %d bytes, header says %d", ErrMalformedBatch, len(buf), length+4)
	}
	return int(length + 4), nil
}

// BaseOffset is the offset of the batch's first record.
func (b Batch) BaseOffset() int64 { return int64(binary.BigEndian.Uint64(b[offBaseOffset:])) }

// Count is the number of records in the batch.
func (b Batch) Count() int { return int(binary.BigEndian.Uint32(b[offCount:])) }

// NextOffset is the offset after the batch's last record.
func (b Batch) NextOffset() int64 { return b.BaseOffset() + int64(b.Count()) }

// Meta is the caller-defined value stored with the batch.
func (b Batch) Meta() uint64 { return binary.BigEndian.Uint64(b[offMeta:]) }

// MaxTimestamp is the largest record timestamp in the batch.
func (b Batch) MaxTimestamp() int64 { return int64(binary.BigEndian.Uint64(b[offMaxTs:])) }

// FirstTimestamp is the first record's timestamp.
func (b Batch) FirstTimestamp() int64 { return int64(binary.BigEndian.Uint64(b[offFirstTs:])) }

func (b Batch) crc() uint32 { return binary.BigEndian.Uint32(b[offCRC:]) }

// SetMeta stores meta in the batch and updates its checksum.
func (b Batch) SetMeta(meta uint64) {
	binary.BigEndian.PutUint64(b[offMeta:], meta)
	binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b))
}

// setBase stores the base offset and updates the checksum.
func (b Batch) setBase(base int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(base))
	binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b))
}

// Records decodes the batch's records and appends them to dst, numbering them
// from the batch's base offset. Keys, values and header values alias b: they
// are valid as long as b is and must not be modified. It returns
// ErrMalformedBatch (wrapped) if a record does not fit the batch or the count
// in the header is wrong; every length is checked against the bytes left
// before anything is allocated.
func (b Batch) Records(dst []Record) ([]Record, error) {
	if _, err := batchLen(b); err != nil {
		return dst, err
	}
	base, firstTs, count := b.BaseOffset(), b.FirstTimestamp(), b.Count()
	rest := []byte(b[batchHeaderSize:])
	if count > len(rest) { // every record takes at least one byte
		return dst, fmt.Errorf("%w: count %d exceeds %d bytes", ErrMalformedBatch, count, len(rest))
	}
	for i := 0; i < count; i++ {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return dst, fmt.Errorf("%w: record %d length", ErrMalformedBatch, i)
		}
		body := rest[k : k+int(n)]
		rest = rest[k+int(n):]
		r, err := decodeRecord(body)
		if err != nil {
			return dst, fmt.Errorf("%w: record %d: %v", ErrMalformedBatch, i, err)
		}
		r.Offset = base + int64(i)
		r.Timestamp += firstTs
		dst = append(dst, r)
	}
	if len(rest) != 0 {
		return dst, fmt.Errorf("%w: %d bytes after the last record", ErrMalformedBatch, len(rest))
	}
	return dst, nil
}

func decodeRecord(b []byte) (Record, error) {
	var r Record
	ts, k := binary.Varint(b)
	if k <= 0 {
		return r, fmt.Errorf("timestamp")
	}
	r.Timestamp = ts
	b = b[k:]
	var err error
	if r.Key, b, err = readBytes(b); err != nil {
		return r, fmt.Errorf("key: %w", err)
	}
	if r.Value, b, err = readBytes(b); err != nil {
		return r, fmt.Errorf("value: %w", err)
	}
	nh, k := binary.Uvarint(b)
	if k <= 0 || nh > uint64(len(b)-k)/2 { // a header takes at least 2 bytes
		return r, fmt.Errorf("header count")
	}
	b = b[k:]
	if nh > 0 {
		r.Headers = make([]Header, nh)
		for i := range r.Headers {
			kl, k := binary.Uvarint(b)
			if k <= 0 || kl > uint64(len(b)-k) {
				return r, fmt.Errorf("header %d key", i)
			}
			r.Headers[i].Key = string(b[k : k+int(kl)])
			b = b[k+int(kl):]
			if r.Headers[i].Value, b, err = readBytes(b); err != nil {
				return r, fmt.Errorf("header %d value: %w", i, err)
			}
		}
	}
	if len(b) != 0 {
		return r, fmt.Errorf("%d trailing bytes", len(b))
	}
	return r, nil
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
