package log

import (
	"errors"
	"fmt"
)

// Sentinel errors. Compare with errors.Is; the errors returned by this package
// wrap these with context.
var (
	// ErrOffsetOutOfRange is returned by Read and Truncate for an offset below
	// the log's start offset or past its end. The concrete error is an
	// *OffsetRangeError carrying the valid range.
	ErrOffsetOutOfRange = errors.New("log: offset out of range")

	// ErrCorrupt means data on disk failed verification: a bad CRC, a batch
	// whose offsets do not follow on from the previous one, or a malformed
	// header. Open returns it for a sealed segment; it never silently drops
	// data from a sealed segment.
	ErrCorrupt = errors.New("log: corrupt data")

	// ErrMalformedBatch is returned by ParseBatch and Append for bytes that
	// are not a well-formed batch.
	ErrMalformedBatch = errors.New("log: malformed batch")

	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("log: closed")

	// ErrInvalidConfig is returned by Open for a Config that fails Validate.
	ErrInvalidConfig = errors.New("log: invalid config")

	// ErrFlushFailed means the background fsync of a sealed segment failed
	// (see doc.go, Durability). The Log is failed from then on: every writing
	// method (Append, Sync, Truncate, EnforceRetention, LinkSegments) returns
	// it, wrapped with the cause, and Close returns it once. Reads still
	// work. Close and reopen the log: recovery verifies everything after the
	// recovery point, which never moved past the segment that failed.
	ErrFlushFailed = errors.New("log: background fsync failed")

	// ErrBatchTooLarge is returned by Append for a batch that cannot fit in a
	// segment at all (over 1 GiB, the limit of the index's 32-bit positions
	// with room to spare).
	ErrBatchTooLarge = errors.New("log: batch too large")

	// ErrCompressed is returned by Batch.Records for a batch whose records
	// are compressed: decompress the records section and call
	// DecodeRecords.
	ErrCompressed = errors.New("log: batch is compressed")

	// ErrUnsupportedBatch is returned by WrapKafka for a well-formed Kafka
	// batch that minibroker does not store: a control or transactional
	// batch.
	ErrUnsupportedBatch = errors.New("log: unsupported batch")

	// ErrOldFormat is returned by Open for a log written in an older format
	// (see format.go); the concrete error is a *FormatError naming it.
	// Replication returns it, as a *FormatError too, for a data directory
	// made by an older version.
	ErrOldFormat = errors.New("log: old data format")
)

// Format is the log format this version writes and reads (see format.go).
const Format = 2

// FormatError reports data written in another format than Format.
type FormatError struct {
	Path   string // the log directory or data directory
	Format int    // the format found
}

func (e *FormatError) Error() string {
	by := "minibroker before Kafka support"
	if e.Format > Format {
		by = "a newer minibroker"
	}
	return fmt.Sprintf("log: %s is in log format %d (%s); this version reads format %d: start from an empty data directory",
		e.Path, e.Format, by, Format)
}

// Is makes errors.Is(err, ErrOldFormat) true.
func (e *FormatError) Is(target error) bool { return target == ErrOldFormat }

// OffsetRangeError reports an offset outside [Start, End]. End is the next
// offset to be written (one past the last record).
type OffsetRangeError struct {
	Offset, Start, End int64
}

func (e *OffsetRangeError) Error() string {
	return fmt.Sprintf("log: offset %d out of range [%d, %d]", e.Offset, e.Start, e.End)
}

// Is makes errors.Is(err, ErrOffsetOutOfRange) true.
func (e *OffsetRangeError) Is(target error) bool { return target == ErrOffsetOutOfRange }

// CorruptError locates corrupt data: the segment file, the byte position of
// the first bad batch and what was wrong with it.
type CorruptError struct {
	File   string
	Pos    int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("log: corrupt data in %s at byte %d: %s", e.File, e.Pos, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
