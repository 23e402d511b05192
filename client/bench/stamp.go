package bench

import (
	"encoding/binary"
	"time"
)

// StampSize is the size of the stamp at the start of a message value: a
// 4-byte magic and the send time as big-endian Unix nanoseconds. A value
// shorter than that carries no stamp.
const StampSize = 12

// stampMagic tells a stamped value from other data.
var stampMagic = [4]byte{'m', 'b', 'b', 1}

// Stamp writes the stamp for t into the start of value, if it is long
// enough. A zero t marks a warm-up message, which consumers skip.
func Stamp(value []byte, t time.Time) {
	if len(value) < StampSize {
		return
	}
	copy(value, stampMagic[:])
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	binary.BigEndian.PutUint64(value[4:], uint64(ns))
}

// stampOf returns the send time in value's stamp: ok is false for a value
// without a stamp; ns is 0 for a warm-up message.
func stampOf(value []byte) (ns int64, ok bool) {
	if len(value) < StampSize || [4]byte(value[:4]) != stampMagic {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(value[4:])), true
}
