// Package log is the on-disk log of one topic partition: an append-only
// sequence of record batches, each record numbered by a 64-bit offset.
//
// A Log is a directory of segments and a recovery point. Each segment is a
// pair of files named by the segment's base offset, zero-padded to 20
// digits:
//
//	00000000000000000000.log      record batches, back to back
//	00000000000000000000.index    sparse index: relative offset -> file position
//	00000000000000000000.summary  newest timestamp of the segment (a hint)
//	00000000000000052311.log
//	00000000000000052311.index
//	recovery-point                "52311 1048576": everything before is durable
//	removed-meta                  "4711": largest batch meta retention removed
//
// The last segment is the active one; only it is appended to. A segment is
// sealed (never written again) once the log rolls past it, by size or age.
// Retention deletes whole sealed segments, oldest first; Truncate drops the
// tail (replication uses it to rewind).
//
// The byte formats of batches, records, index entries and the recovery
// point are drawn in format.go. A batch is a Kafka RecordBatch v2 behind a
// 12-byte prefix (the caller's meta and a CRC32C of the header fields that
// Kafka's own CRC32C leaves out), so every byte is checked, and what Kafka
// producers send is stored, and handed to Kafka consumers, as it is.
// WrapKafka takes a producer's batch; AppendBatch encodes one;
// internal/compress decompresses a compressed one's records for
// DecodeRecords. Open refuses a log in an older format (ErrOldFormat).
//
// # Durability
//
// Appended bytes are durable once fsynced, and only then. What is fsynced
// when:
//
//   - Sync (and Close) makes everything appended so far durable and moves
//     the recovery point to the end of the log.
//   - Under SyncNever, nothing else is promised: until Sync returns, any of
//     the appended data may be lost in a machine crash (a process crash loses
//     nothing: the bytes are in the page cache).
//   - SyncEveryAppend fsyncs the active segment before Append returns;
//     SyncEveryBytes fsyncs it every SyncBytes. These fsyncs do not move the
//     recovery point (that would cost three more fsyncs each).
//   - A roll hands the sealed segment to the Log's flusher goroutine, which
//     fsyncs it in the background (Append does not wait) and then moves the
//     recovery point to the end of that segment. The new segment's creation
//     becomes durable with the next directory fsync (the flusher's, Sync's,
//     or the first SyncEveryBytes fsync in it). Under SyncEveryAppend the
//     roll fsyncs the sealed segment and the directory itself, as every
//     append is durable when it returns.
//
// The recovery point is Kafka's: a position before which every byte was
// fsynced. Open trusts what lies before it: it verifies only the batches
// after each segment's last index entry there, and damage found is reported
// as a *CorruptError (ErrCorrupt), never cut, since data that was durable
// and is now wrong is real damage. From the recovery point on, Open
// verifies every batch (CRC, offsets that follow on from the batch before)
// and rebuilds the index from them; at the first bad batch, or the first
// segment that does not follow on from the one before, it cuts the log:
// later segments are deleted, newest first, the bad segment's tail is cut,
// and the cut (bytes, first offset, segments) is logged to Config.Logger.
// After a clean Close the recovery point is the end of the log, so Open
// reads next to nothing.
//
// So a machine crash under SyncNever may cut an unsynced tail, and with it
// sealed segments the flusher had not finished, but it never leaves the log
// silently inconsistent: what Open returns is a prefix of what was
// appended, with every batch after the recovery point verified, and
// everything Sync had returned for intact. Truncate and retention order
// their deletions and cuts so that a crash in the middle leaves the log as
// before, as after, or (Truncate) a prefix of before.
//
// A failed background fsync cannot be retried safely (the kernel may have
// dropped the dirty pages), and nobody is waiting for it, so it fails the
// Log: every later write returns ErrFlushFailed, wrapped with the cause,
// and so does Close once. Reads go on working. Reopening the log recovers
// it from the recovery point, which never moved past the failed segment.
//
// # Concurrency
//
// A Log is safe for concurrent use. It has one writer at a time (Append,
// Truncate, EnforceRetention, LinkSegments, Sync and Close are serialized)
// and any number of concurrent readers. A reader never observes a partially
// written batch: the size that readers may read up to is published only
// after the batch has been written. Each Log runs one flusher goroutine,
// from Open until Close.
//
// All disk access goes through the FS interface so tests can inject short
// writes, ENOSPC and fsync failures. The package uses the standard library
// only.
package log
