package log

import (
	"encoding/binary"
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
// A batch is a 48-byte header followed by its records:
//
//	 0       4       8   9  10      12              20              28
//	 +-------+-------+---+---+-------+---------------+---------------+
//	 |length | crc   |mag|att| rsvd  |  baseOffset   |     meta      |
//	 +-------+-------+---+---+-------+---------------+---------------+
//	28              36              44      48
//	 +---------------+---------------+-------+----------------------+
//	 |  firstTs      |   maxTs       | count | records ...          |
//	 +---------------+---------------+-------+----------------------+
//
//	length      uint32  bytes after this field: the batch is 4+length bytes
//	crc         uint32  CRC32C (Castagnoli) of bytes [8, 4+length)
//	mag         uint8   format version, 1
//	att         uint8   attributes, 0 (reserved: compression)
//	rsvd        uint16  0
//	baseOffset  int64   offset of the first record; record i has baseOffset+i
//	meta        uint64  set by the caller; replication stores the Raft index
//	firstTs     int64   timestamp (ms since the Unix epoch) of the first record
//	maxTs       int64   largest record timestamp in the batch
//	count       uint32  number of records, at least 1
//
// The CRC covers everything after it, including baseOffset and meta, so a
// flipped bit anywhere but in the length is caught, and a bad length is caught
// because the CRC is then computed over the wrong bytes.
//
// A record, with varints as in encoding/binary (zig-zag for signed):
//
//	+-------------+---------+--------+-----+----------+-------+----------+---------+
//	| len uvarint | tsDelta | keyLen | key | valueLen | value | nHeaders | headers |
//	+-------------+---------+--------+-----+----------+-------+----------+---------+
//
//	len        uvarint  bytes of the record after this field
//	tsDelta    varint   timestamp minus the batch's firstTs
//	keyLen     varint   -1 for a nil key, else the key's length
//	valueLen   varint   -1 for a nil value, else the value's length
//	nHeaders   uvarint  then per header: uvarint keyLen, key, varint valueLen
//	                    (-1 for nil), value
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
//	lastCRC  uint32  that batch's crc field
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
	batchHeaderSize = 48
	batchMagic      = 1
	indexEntrySize  = 8

	offLength     = 0
	offCRC        = 4
	offMagic      = 8
	offAttributes = 9
	offBaseOffset = 12
	offMeta       = 20
	offFirstTs    = 28
	offMaxTs      = 36
	offCount      = 44

	// maxBatchSize bounds one batch so that positions fit the index's uint32
	// with plenty of room.
	maxBatchSize = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchCRC computes the checksum stored in a batch's header.
func batchCRC(b []byte) uint32 { return crc32.Checksum(b[offMagic:], castagnoli) }

func putHeader(b []byte, length uint32, base int64, meta uint64, firstTs, maxTs int64, count uint32) {
	be := binary.BigEndian
	be.PutUint32(b[offLength:], length)
	b[offMagic] = batchMagic
	b[offAttributes] = 0
	b[10], b[11] = 0, 0
	be.PutUint64(b[offBaseOffset:], uint64(base))
	be.PutUint64(b[offMeta:], meta)
	be.PutUint64(b[offFirstTs:], uint64(firstTs))
	be.PutUint64(b[offMaxTs:], uint64(maxTs))
	be.PutUint32(b[offCount:], count)
}
