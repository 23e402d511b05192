package replication

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// FuzzDecodeAppend: any input either decodes or fails with ErrBadCommand,
// never panics, and a decoded batch lies within the input; encodeAppend's
// output decodes to what went in.
func FuzzDecodeAppend(f *testing.F) {
	good := encodeAppend(&AppendCmd{Topic: "orders", Partition: 3, Timestamp: 99, Batch: []byte("batch-bytes"), ProducerID: 7, Sequence: 12, ProducerEpoch: 3})
	f.Add(good[1:])
	old := []byte{0x96, 0xa1, 't', 1, 2, 0xc4, 1, 'b', 7, 12} // the 6 fields before ProducerEpoch
	f.Add(old)
	f.Add([]byte{0x94})
	f.Add([]byte{0x94, 0xa1, 't', 0x01, 0x02, 0xc6, 0xff, 0xff, 0xff, 0xff})
	refl, _ := encodeCommand(CmdAppend, &AppendCmd{Topic: "x", Batch: []byte{1, 2, 3}})
	f.Add(refl[1:])
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := decodeAppend(body)
		if err != nil {
			return
		}
		if len(c.Batch) > len(body) {
			t.Fatalf("batch of %d bytes from %d bytes of input", len(c.Batch), len(body))
		}
		again := encodeAppend(&c)
		c2, err := decodeAppend(again[1:])
		if err != nil || c2.Topic != c.Topic || c2.Partition != c.Partition || c2.Timestamp != c.Timestamp || !bytes.Equal(c2.Batch, c.Batch) ||
			c2.ProducerID != c.ProducerID || c2.Sequence != c.Sequence || c2.ProducerEpoch != c.ProducerEpoch {
			t.Fatalf("round trip: %+v vs %+v (%v)", c2, c, err)
		}
	})
}

// FuzzDecodeCommands feeds arbitrary bodies to every metadata command's
// decoder and to the FSM's apply of them, on a state with a topic: no
// panic, errors only.
func FuzzDecodeCommands(f *testing.F) {
	for _, v := range []any{
		&CreateTopicCmd{Name: "t", Partitions: 2, Config: TopicConfig{RetentionBytes: 10}},
		&DeleteTopicCmd{Name: "t"},
		&CommitOffsetCmd{Group: "g", Topic: "t", Partition: 1, Offset: 5},
		&RegisterNodeCmd{ID: "n1", Addr: "127.0.0.1:1"},
	} {
		b, _ := msgpack.Marshal(v)
		f.Add(uint8(CmdCreateTopic), b)
	}
	// The group commands, each seeded under its own type (index in types).
	for i, v := range []any{
		&SyncGroupCmd{Group: "g", Generation: 1, Members: []GroupMember{{ID: "a", Assignment: []TopicPartitions{{Topic: "t", Partitions: []int32{0, 1}}}}}},
		&RemoveMembersCmd{Group: "g", Generation: 1, MemberIDs: []string{"a"}},
		&CommitOffsetsCmd{Group: "g", Generation: -1, Offsets: []OffsetCommit{{Topic: "t", Offset: 1}}, Bounds: []PartitionBounds{{Topic: "t", End: 5}}},
		&ResetOffsetsCmd{Group: "g", Topic: "t", Mode: ResetLatest, Bounds: []PartitionBounds{{Topic: "t", End: 5}}},
		&DeleteGroupCmd{Group: "g"},
	} {
		b, _ := msgpack.Marshal(v)
		f.Add(uint8(5+i), b)
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		h := newHarness(t, FSMConfig{})
		h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 2})
		types := []CommandType{CmdCreateTopic, CmdDeleteTopic, CmdCommitOffset, CmdRegisterNode, CmdAppend,
			CmdSyncGroup, CmdRemoveMembers, CmdCommitOffsets, CmdResetOffsets, CmdDeleteGroup, CmdDigest}
		ct := types[int(which)%len(types)]
		h.index++
		data := append([]byte{byte(ct)}, body...)
		h.f.Apply(rawLog(h.index, data))
	})
}

// FuzzSnapshotHeader: the snapshot header reader takes any bytes without
// panicking or allocating past its bound.
func FuzzSnapshotHeader(f *testing.F) {
	m := &manifest{Meta: newMetaState()}
	hdr, _ := m.header(kindStream)
	f.Add(hdr)
	f.Add([]byte{'S', 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		readHeader(bufio.NewReader(bytes.NewReader(data)))
	})
}
