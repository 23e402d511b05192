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
// Open checks and rebuilds from the .log when it does not hold up.
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
