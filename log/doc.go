// Package log is the on-disk log of one topic partition: an append-only
// sequence of record batches, each record numbered by a 64-bit offset.
//
// A Log is a directory of segments. Each segment is a pair of files named by
// the segment's base offset, zero-padded to 20 digits:
//
//	00000000000000000000.log    record batches, back to back
//	00000000000000000000.index  sparse index: relative offset -> file position
//	00000000000000052311.log
//	00000000000000052311.index
//
// The last segment is the active one; only it is appended to. A segment is
// sealed (never written again) once the log rolls past it, by size or age.
// Retention deletes whole sealed segments, oldest first; Truncate drops the
// tail (replication uses it to rewind).
//
// The byte formats of batches, records and index entries are drawn in
// format.go. Every batch carries a CRC32C; Open verifies the tail of the
// active segment and cuts a torn or corrupt tail, rebuilds missing or corrupt
// indexes, and reports a corrupt sealed segment as ErrCorrupt rather than
// dropping data silently.
//
// Concurrency: a Log is safe for concurrent use. It has one writer at a time
// (Append, Truncate, Roll, EnforceRetention, Sync and Close are serialized)
// and any number of concurrent readers. A reader never observes a partially
// written batch: the size that readers may read up to is published only after
// the batch has been written.
//
// All disk access goes through the FS interface so tests can inject short
// writes, ENOSPC and fsync failures. The package uses the standard library only.
package log
