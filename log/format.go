package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// On-disk formats. All fixed-width integers are big-endian.
//
// A segment's .log file is a sequence of batches with nothing between them:
//
//	+---------+---------+---------+-----
//	| batch 0 | batch 1 | batch 2 | ...
//	+---------+---------+---------+-----
//
// This is log format 2. A batch (a frame, "Batch" in this package) is a
// 12-byte prefix followed by a Kafka RecordBatch v2 exactly as it travels
// on the Kafka wire, so that what a Kafka producer sent is stored, and
// handed to Kafka consumers, without decoding or re-encoding its records
// (compressed ones stay compressed):
//
//	 0          8        12                                          24+batchLength
//	 +----------+--------+----------------------------------------------+
//	 | meta     | hcrc   | Kafka RecordBatch v2                         |
//	 +----------+--------+----------------------------------------------+
//
//	meta   uint64  set by the caller; replication stores the Raft index
//	hcrc   uint32  CRC32C (Castagnoli) of frame bytes [0, 8) followed by
//	               [12, 33): meta and the Kafka header fields that Kafka's
//	               own crc leaves out (baseOffset, batchLength,
//	               partitionLeaderEpoch, magic, crc)
//
// The Kafka batch, at frame byte 12 (offsets below are relative to it):
//
//	 0             8       12      16  17      21   23      27
//	 +-------------+-------+-------+---+-------+----+-------+
//	 | baseOffset  |batchLn|leaderE|mag| crc   |attr|lastOD |
//	 +-------------+-------+-------+---+-------+----+-------+
//	27             35            43            51   53      57      61
//	 +-------------+-------------+-------------+----+-------+-------+------------+
//	 | baseTs      | maxTs       | producerId  |pEpo|baseSeq| count | records ...|
//	 +-------------+-------------+-------------+----+-------+-------+------------+
//
//	baseOffset      int64  offset of the first record; record i has baseOffset+i
//	batchLn         int32  bytes after this field: the Kafka batch is 12+batchLn
//	                       bytes, the frame 24+batchLn
//	leaderE         int32  partitionLeaderEpoch; replication stores the Raft
//	                       term of the entry that appended the batch
//	mag             int8   2 (Kafka's magic)
//	crc             uint32 CRC32C of the Kafka batch's bytes [21, end)
//	attr            int16  bits 0-2 compression of the records (0 none, 1 gzip,
//	                       2 snappy, 3 lz4, 4 zstd), bit 3 timestamp type
//	                       (1: log append time, every record has maxTs), bit 4
//	                       transactional, bit 5 control; both of the last are
//	                       refused (WrapKafka)
//	lastOD          int32  lastOffsetDelta: count-1
//	baseTs          int64  timestamp (ms since the Unix epoch) of the first record
//	maxTs           int64  largest record timestamp in the batch
//	producerId      int64  idempotent producer id, -1 for none
//	pEpo            int16  producer epoch, -1 for none
//	baseSeq         int32  the first record's sequence number, -1 for none
//	count           int32  number of records, at least 1
//
// Append sets baseOffset and recomputes hcrc only; the caller sets meta
// and leaderE the same way (SetMeta, SetLeaderEpoch). Kafka's crc covers
// the records and the fields from attr on, which nothing changes after the
// producer (but SetProducer, which recomputes it), so the two CRCs together
// cover every byte of the frame: a flipped bit anywhere is caught.
//
// The records section holds count records, compressed as a whole when
// attr says so. A record, in Kafka's varints (zig-zag, as
// encoding/binary's signed varints):
//
//	+-----+------+---------+----------+--------+-----+----------+-------+----------+---------+
//	| len | attr | tsDelta | offDelta | keyLen | key | valueLen | value | nHeaders | headers |
//	+-----+------+---------+----------+--------+-----+----------+-------+----------+---------+
//
//	len        varint  bytes of the record after this field
//	attr       int8    0
//	tsDelta    varint  timestamp minus the batch's baseTs
//	offDelta   varint  the record's index in the batch (offset - baseOffset)
//	keyLen     varint  -1 for a nil key, else the key's length
//	valueLen   varint  -1 for a nil value, else the value's length
//	nHeaders   varint  then per header: varint keyLen (not -1), key,
//	                   varint valueLen (-1 for nil), value
//
// Format 1 (minibroker before Kafka support) began each batch with a
// length, a CRC and magic byte 1; Open refuses a log in it with a
// *FormatError (ErrOldFormat).
//
// A segment's .index file is a sequence of 8-byte entries, written every
// IndexInterval bytes of log; entry i says that the batch holding
// relOffset starts at pos:
//
//	+------------------+------------------+
//	| relOffset uint32 |  pos uint32      |   relOffset = offset - segment base
//	+------------------+------------------+
//
// Both fields strictly increase from entry to entry. The index is a hint that
// Open checks and rebuilds from the .log when it does not hold up. Entries
// reach the file in chunks (see indexFlushEntries), at the latest when the
// segment is sealed and on Sync, Close and Truncate; Open trusts only those
// for batches before the recovery point.
//
// A segment's .summary file (see summary.go) holds the largest batch maxTs
// over the first covered bytes of its .log, so that Open learns a sealed
// segment's newest timestamp, which retention by age uses, without reading
// every batch header. It is 40 bytes:
//
//	 0       4       8               16              24              32      36      40
//	 +-------+-------+---------------+---------------+---------------+-------+-------+
//	 | magic | crc   |   covered     |    maxTs      |   lastPos     |lastCRC| rsvd  |
//	 +-------+-------+---------------+---------------+---------------+-------+-------+
//
//	magic    uint32  0x4d425331 ("MBS1")
//	crc      uint32  CRC32C (Castagnoli) of bytes [8, 40)
//	covered  int64   bytes of the .log it covers, [0, covered): a batch boundary
//	maxTs    int64   largest batch maxTs in [0, covered) (0 if all are below 0)
//	lastPos  int64   position of the last batch in [0, covered)
//	lastCRC  uint32  that batch's hcrc field
//	rsvd     uint32  0
//
// It is written when the segment is sealed and, for the active segment, by
// Close, without fsync: it is a hint. Open trusts it only when the CRC holds,
// covered is within the recovered .log, and the batch at lastPos ends at
// covered and carries lastCRC; otherwise it reads the headers of the
// batches recovery did not scan (and rewrites the file of a sealed segment).
// A missing file (a log written before summaries existed) is the same.
//
// The log directory's recovery-point file says how much of the log is known
// durable: every byte before byte pos of the segment whose base offset is
// segmentBase was fsynced (.log and .index) before the file was written. It
// is one line of ASCII, two decimal numbers and a newline:
//
//	+-------------+-----+-----+----+
//	| segmentBase | ' ' | pos | \n |      e.g. "52311 1048576\n"
//	+-------------+-----+-----+----+
//
//	segmentBase  decimal int64 >= 0, the base offset of an existing segment
//	pos          decimal int64 >= 0, a batch boundary in that segment's .log
//
// It is replaced atomically (written to recovery-point.tmp, fsynced, renamed
// over recovery-point, directory fsynced), so it holds the old value or the
// new one, never a mix; a file that does not parse is a *CorruptError. A
// missing file means the start of the first segment: nothing is known
// durable (a new log is given the file by its first flush).
//
// The log directory's removed-meta file holds the largest batch meta that
// retention has removed (removedmeta.go), so that LastMeta does not forget
// it when every later batch is lost in a crash:
//
//	+------+----+
//	| meta | \n |      e.g. "52311\n"
//	+------+----+
//
//	meta  decimal uint64, no sign or leading zeros
//
// It is written before the segments are removed, replaced atomically as
// the recovery point is (removed-meta.tmp, fsync, rename, directory fsync);
// a missing file means 0 (nothing removed, or a log written before it
// existed), one that does not parse is a *CorruptError.
const (
	frameHeaderSize = 12                                // meta, hcrc
	kafkaHeaderSize = 61                                // the Kafka batch's fixed fields
	batchHeaderSize = frameHeaderSize + kafkaHeaderSize // 73
	batchMagic      = 2
	indexEntrySize  = 8

	// Frame offsets.
	offMeta  = 0
	offHCRC  = 8
	offKafka = 12
	// Kafka batch fields, as offsets in the frame.
	offBaseOffset      = offKafka + 0
	offBatchLength     = offKafka + 8
	offLeaderEpoch     = offKafka + 12
	offMagic           = offKafka + 16
	offCRC             = offKafka + 17
	offAttributes      = offKafka + 21
	offLastOffsetDelta = offKafka + 23
	offFirstTs         = offKafka + 27
	offMaxTs           = offKafka + 35
	offProducerID      = offKafka + 43
	offProducerEpoch   = offKafka + 51
	offBaseSequence    = offKafka + 53
	offCount           = offKafka + 57

	// minBatchLength is the smallest batchLength: the fixed fields after it.
	minBatchLength = kafkaHeaderSize - 12

	// Attribute bits.
	attrCompression   = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20

	// maxBatchSize bounds one frame so that positions fit the index's uint32
	// with plenty of room.
	maxBatchSize = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// headerCRC computes a frame's hcrc: meta and the Kafka fields before attr.
func headerCRC(b []byte) uint32 {
	c := crc32.Update(0, castagnoli, b[offMeta:offHCRC])
	return crc32.Update(c, castagnoli, b[offKafka:offAttributes])
}

// kafkaCRC computes a frame's Kafka crc: attr to the end.
func kafkaCRC(b []byte) uint32 { return crc32.Checksum(b[offAttributes:], castagnoli) }

// frameLen returns the frame size a header's batchLength implies, or -1 if
// it is out of bounds. b holds at least batchHeaderSize bytes.
func frameLen(b []byte) int64 {
	bl := int64(int32(binary.BigEndian.Uint32(b[offBatchLength:])))
	n := offBatchLength + 4 + bl
	if bl < minBatchLength || n > maxBatchSize {
		return -1
	}
	return n
}

// checkHeader checks a frame header's fixed fields (magic, count and
// lastOffsetDelta, length) and returns the frame's size. It does not look
// at the CRCs. The reason is empty when the header is good.
func checkHeader(b []byte) (int64, string) {
	be := binary.BigEndian
	n := frameLen(b)
	switch {
	case n < 0:
		return 0, fmt.Sprintf("batch length %d", int32(be.Uint32(b[offBatchLength:])))
	case b[offMagic] != batchMagic:
		return 0, fmt.Sprintf("magic %d", int8(b[offMagic]))
	}
	count := int32(be.Uint32(b[offCount:]))
	if count < 1 || int32(be.Uint32(b[offLastOffsetDelta:])) != count-1 {
		return 0, fmt.Sprintf("%d records, last offset delta %d", count, int32(be.Uint32(b[offLastOffsetDelta:])))
	}
	return n, ""
}
