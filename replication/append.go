package replication

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/vmihailenco/msgpack/v5"
)

// encodeAppend encodes an Append command: the type byte, then the msgpack
// array [Topic, Partition, Timestamp, Batch, ProducerID, Sequence,
// ProducerEpoch], written straight into one buffer sized up front (the
// batch is copied once).
func encodeAppend(c *AppendCmd) []byte {
	n := len(c.Batch)
	out := make([]byte, 0, 1+1+5+len(c.Topic)+9+9+5+n+27)
	out = append(out, byte(CmdAppend), 0x97) // fixarray of 7
	switch l := len(c.Topic); {
	case l < 32:
		out = append(out, 0xa0|byte(l))
	case l <= math.MaxUint8:
		out = append(out, 0xd9, byte(l))
	case l <= math.MaxUint16:
		out = binary.BigEndian.AppendUint16(append(out, 0xda), uint16(l))
	default:
		out = binary.BigEndian.AppendUint32(append(out, 0xdb), uint32(l))
	}
	out = append(out, c.Topic...)
	out = binary.BigEndian.AppendUint64(append(out, 0xd3), uint64(int64(c.Partition)))
	out = binary.BigEndian.AppendUint64(append(out, 0xd3), uint64(c.Timestamp))
	switch {
	case n <= math.MaxUint8:
		out = append(out, 0xc4, byte(n))
	case n <= math.MaxUint16:
		out = binary.BigEndian.AppendUint16(append(out, 0xc5), uint16(n))
	default:
		out = binary.BigEndian.AppendUint32(append(out, 0xc6), uint32(n))
	}
	out = append(out, c.Batch...)
	out = binary.BigEndian.AppendUint64(append(out, 0xd3), uint64(c.ProducerID))
	out = binary.BigEndian.AppendUint64(append(out, 0xd3), uint64(int64(c.Sequence)))
	return binary.BigEndian.AppendUint64(append(out, 0xd3), uint64(int64(c.ProducerEpoch)))
}

// decodeAppend decodes an Append command body (after the type byte). The
// returned Batch aliases body: it is not copied. It accepts any valid
// msgpack encoding of the array, with or without the producer fields (and
// with or without ProducerEpoch, 0 when missing), and ignores fields
// appended after them. Errors wrap ErrBadCommand.
func decodeAppend(body []byte) (AppendCmd, error) {
	var c AppendCmd
	r := bytes.NewReader(body)
	d := msgpack.NewDecoder(r)
	bad := func(what string, err error) (AppendCmd, error) {
		return AppendCmd{}, fmt.Errorf("%w: append %s: %v", ErrBadCommand, what, err)
	}
	n, err := d.DecodeArrayLen()
	if err != nil || n < 4 {
		return bad("array", fmt.Errorf("length %d: %v", n, err))
	}
	if c.Topic, err = d.DecodeString(); err != nil {
		return bad("topic", err)
	}
	if c.Partition, err = d.DecodeInt32(); err != nil {
		return bad("partition", err)
	}
	if c.Timestamp, err = d.DecodeInt64(); err != nil {
		return bad("timestamp", err)
	}
	bl, err := d.DecodeBytesLen()
	if err != nil || bl < 0 || bl > r.Len() {
		return bad("batch", fmt.Errorf("length %d of %d: %v", bl, r.Len(), err))
	}
	off := len(body) - r.Len()
	c.Batch = body[off : off+bl : off+bl]
	if n >= 6 {
		if _, err := r.Seek(int64(bl), io.SeekCurrent); err != nil {
			return bad("batch", err)
		}
		if c.ProducerID, err = d.DecodeInt64(); err != nil {
			return bad("producer id", err)
		}
		if c.Sequence, err = d.DecodeInt32(); err != nil {
			return bad("sequence", err)
		}
	}
	if n >= 7 {
		if c.ProducerEpoch, err = d.DecodeInt16(); err != nil {
			return bad("producer epoch", err)
		}
	}
	return c, nil
}
