package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/minibroker/minibroker/internal/auth"
	mlog "github.com/minibroker/minibroker/log"
)

// FuzzApply decodes the fuzz input into a sequence of Raft entries, each
// either a known command type with arbitrary body bytes or a well-formed
// command whose fields come from the input, and applies them to two fresh
// FSMs. Neither may panic (unknown command types, the one documented
// panic, are never generated: the type byte is mapped onto the known
// ones), both must give the same responses (the sentinels errors match,
// results print alike) and end with the same Digest.
func FuzzApply(f *testing.F) {
	f.Add([]byte{})
	// Sequence -1 of a producer on a partition it never wrote: defect (1)
	// of issue #14.
	f.Add([]byte{6, 0, 0, 1, 0, 1, 0, 3, 0, 0, 0, 0, 3, 0xfc, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0, 2, 0, 3, 0, 1, 4, 5})                      // create, delete, appends
	f.Add([]byte{6, 0, 3, 0, 0, 9, 3, 0, 1, 2, 3, 0, 1, 1, 3, 0}) // producer, idempotent appends
	f.Add([]byte{8, 1, 0, 2, 10, 1, 0, 1, 5, 11, 1, 0, 0, 12, 1, 9, 1, 1})
	f.Add([]byte{0, 3, 10, 0x94, 0xa1, 't', 1, 2, 0xc4, 3, 1, 2, 3, 13, 7, 200})
	f.Add([]byte{0, 8, 5, 0x81, 0xa1, 'g', 0xa1, 'x', 4, 1, 0, 5, 2, 9, 7, 7, 7})
	for _, s := range []string{"create then many appends", "\x03\x00\x00\x03\x01\x00\x07\x07\x03\x00\x02", "\x06\x03\x00\xff\xff\x03\x00\x80"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries := fuzzEntries(t, data)
		a := newFuzzFSM(t)
		b := newFuzzFSM(t)
		for _, l := range entries {
			ra := fuzzApplyOne(t, a, l)
			rb := fuzzApplyOne(t, b, l)
			if sa, sb := respSignature(ra), respSignature(rb); sa != sb {
				t.Fatalf("%s: responses differ:\n%s\n%s", describeEntry(l), sa, sb)
			}
		}
		da, err := a.Digest()
		if err != nil {
			t.Fatal(err)
		}
		db, err := b.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if da.Sum() != db.Sum() {
			t.Fatalf("digests differ after %d entries in %v", len(entries), da.Diff(db))
		}
	})
}

func newFuzzFSM(t *testing.T) *FSM {
	f, err := NewFSM(FSMConfig{Dir: filepath.Join(t.TempDir(), "fsm")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, bad := fuzzPoisoned.Load(f); !bad {
			f.Close()
		}
	})
	return f
}

// fuzzPoisoned holds the FSMs that panicked: they may hold a lock for
// good, so they are not closed.
var fuzzPoisoned sync.Map

func fuzzApplyOne(t *testing.T, f *FSM, l *raft.Log) (resp any) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			fuzzPoisoned.Store(f, true)
			t.Fatalf("Apply panicked on %s: %v", describeEntry(l), r)
		}
	}()
	return f.Apply(l)
}

// fuzzSentinels are the errors responses are compared by.
var fuzzSentinels = []error{ErrUnknownTopic, ErrUnknownPartition, ErrTopicExists, ErrInvalidTopic, ErrBadCommand,
	ErrUnknownProducer, ErrOutOfOrderSequence, ErrDuplicateSequence, ErrInvalidSequence, ErrInvalidProducerEpoch, ErrStopped, ErrInvalidGroup, ErrUnknownGroup,
	ErrUnknownMember, ErrIllegalGeneration, ErrNotAssigned, ErrOffsetRegression, ErrGroupNotEmpty, ErrOffsetOutOfRange,
	ErrFencedInstanceID, ErrInconsistentGroupProtocol, ErrGroupSubscribed}

// respSignature prints a response for comparison: errors by the
// sentinels they wrap (their text may name local paths), other results
// in full.
func respSignature(r any) string {
	switch v := r.(type) {
	case error:
		var is []string
		for _, s := range fuzzSentinels {
			if errors.Is(v, s) {
				is = append(is, s.Error())
			}
		}
		var re *mlog.OffsetRangeError
		if errors.As(v, &re) {
			is = append(is, fmt.Sprintf("range%+v", *re))
		}
		return "error[" + strings.Join(is, ",") + "]"
	case *CommitResult:
		var parts []string
		for _, e := range v.Errors {
			if e == nil {
				parts = append(parts, "ok")
			} else {
				parts = append(parts, respSignature(e))
			}
		}
		return "commit[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprintf("%T %+v", r, r)
}

// fuzzReader hands out the fuzz input a few bytes at a time; past the end
// it returns zeros.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) u8() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzReader) bytes(n int) []byte {
	n = min(n, len(r.b))
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

// small is a small number, or now and then an extreme one.
func (r *fuzzReader) small() int64 {
	c := r.u8()
	switch c {
	case 0xff:
		return math.MaxInt64
	case 0xfe:
		return math.MinInt64
	case 0xfd:
		return math.MaxInt32
	case 0xfc:
		return -1
	case 0xfb:
		return math.MinInt32
	}
	return int64(c % 16)
}

func (r *fuzzReader) i32() int32 {
	v := r.small()
	if v > math.MaxInt32 || v < math.MinInt32 {
		return int32(v >> 32)
	}
	return int32(v)
}

func (r *fuzzReader) name(pool ...string) string { return pool[int(r.u8())%len(pool)] }

func (r *fuzzReader) ts() int64 {
	return 1_700_000_000_000 + int64(binary.BigEndian.Uint16(append(r.bytes(2), 0, 0)))*60_000
}

var fuzzTopics = []string{"t", "u", "", "../x"}

func (r *fuzzReader) topic() string { return r.name(fuzzTopics...) }

// acls returns up to 3 ACLs, sometimes invalid (a bad principal, host,
// pattern or operation for the type, a name that is not UTF-8), in no
// particular order and with duplicates.
func (r *fuzzReader) acls() []auth.ACL {
	var out []auth.ACL
	for i := r.u8() % 4; i > 0; i-- {
		k := r.u8()
		out = append(out, auth.ACL{
			Principal:  r.name("User:alice", "User:*", "alice", "User:"),
			Host:       r.name("*", "*", "*", "10.0.0.1"),
			Resource:   auth.ResourceType(1 + k%5),
			Pattern:    auth.PatternType(2 + k/5%3),
			Name:       r.name("t", "a", "*", auth.ClusterName, "x\xff"),
			Operation:  auth.Operation(1 + k/15%12),
			Permission: auth.Permission(1 + r.u8()%3),
		})
	}
	return out
}

func (r *fuzzReader) group() string { return r.name("g", "h", "", "a/b") }

func (r *fuzzReader) bounds(topic string, p int32) []PartitionBounds {
	if r.u8()%4 == 0 {
		return nil
	}
	return []PartitionBounds{{Topic: topic, Partition: p, TopicIndex: uint64(r.u8() % 8), Start: r.small(), End: r.small()}}
}

// fuzzEntries decodes the input into at most 48 entries.
func fuzzEntries(t *testing.T, data []byte) []*raft.Log {
	r := &fuzzReader{b: data}
	var out []*raft.Log
	types := []CommandType{CmdCreateTopic, CmdDeleteTopic, CmdAppend, CmdCommitOffset, CmdRegisterNode, CmdInitProducer,
		CmdHousekeeping, CmdSyncGroup, CmdRemoveMembers, CmdCommitOffsets, CmdResetOffsets, CmdDeleteGroup,
		CmdKafkaGroup, CmdDeleteOffsets, CmdPutUser, CmdDeleteUser, CmdCreateACLs, CmdDeleteACLs}
	for len(r.b) > 0 && len(out) < 48 {
		index := uint64(len(out) + 1)
		op := int(r.u8()) % (len(types) + 2)
		var body any
		ct := CommandType(0)
		switch op {
		case 0: // a known type, arbitrary body bytes
			ct = types[int(r.u8())%len(types)]
			data := append([]byte{byte(ct)}, r.bytes(int(r.u8()%64))...)
			out = append(out, &raft.Log{Index: index, Type: raft.LogCommand, Data: data})
			continue
		case len(types) + 1:
			if r.u8()%2 == 0 {
				out = append(out, &raft.Log{Index: index, Type: raft.LogCommand}) // empty
			} else {
				out = append(out, &raft.Log{Index: index, Type: raft.LogConfiguration})
			}
			continue
		}
		ct = types[op-1]
		switch ct {
		case CmdCreateTopic:
			c := &CreateTopicCmd{Name: r.topic(), Partitions: r.i32()}
			if r.u8()%2 == 1 {
				c.Config = TopicConfig{SegmentBytes: 1024 * r.small(), RetentionBytes: 512 * r.small(), RetentionMs: 1000 * r.small()}
			}
			body = c
		case CmdDeleteTopic:
			body = &DeleteTopicCmd{Name: r.topic()}
		case CmdAppend:
			c := &AppendCmd{Topic: r.topic(), Partition: r.i32(), Timestamp: r.ts()}
			if k := r.u8(); k%2 == 1 {
				// Epochs -1 to 3: stale ones, bumps, and a negative one.
				c.ProducerID, c.Sequence, c.ProducerEpoch = int64(k/2%8), r.i32(), int16(k/16%5)-1
			}
			n := 1 + int(r.u8()%4)
			recs := make([]mlog.Record, n)
			for i := range recs {
				recs[i] = mlog.Record{Timestamp: r.ts() - 1_000_000, Value: r.bytes(int(r.u8() % 32))}
			}
			b, err := mlog.AppendBatch(nil, recs, 0)
			if err != nil {
				t.Fatal(err)
			}
			// The batch carries the producer fields (Store.Submit's
			// source), but now and then disagrees with the command.
			switch m := r.u8(); {
			case m > 250:
				b.SetProducer(c.ProducerID+1, c.ProducerEpoch, c.Sequence)
			case m > 245:
				b.SetProducer(c.ProducerID, c.ProducerEpoch+1, c.Sequence^1)
			case c.ProducerID != 0:
				b.SetProducer(c.ProducerID, c.ProducerEpoch, c.Sequence)
			}
			if cut := r.u8(); cut > 240 {
				b = b[:int(cut)%len(b)]
			}
			c.Batch = b
			out = append(out, &raft.Log{Index: index, Term: 1 + index/8, Type: raft.LogCommand, Data: encodeAppend(c)})
			continue
		case CmdCommitOffset:
			body = &CommitOffsetCmd{Group: r.group(), Topic: r.topic(), Partition: r.i32(), Offset: r.small(), Generation: r.i32(), Timestamp: r.ts()}
		case CmdRegisterNode:
			body = &RegisterNodeCmd{ID: r.name("n1", "n2", ""), Addr: r.name("127.0.0.1:1", "")}
		case CmdInitProducer:
			body = &InitProducerCmd{Timestamp: r.ts()}
		case CmdHousekeeping:
			body = &HousekeepingCmd{Timestamp: r.ts()}
		case CmdSyncGroup:
			c := &SyncGroupCmd{Group: r.group(), Generation: r.i32(), Strategy: "range", Timestamp: r.ts()}
			for i := r.u8() % 4; i > 0; i-- {
				m := GroupMember{ID: r.name("m1", "m2", "m3", "")}
				for j := r.u8() % 3; j > 0; j-- {
					m.Assignment = append(m.Assignment, TopicPartitions{Topic: r.topic(), Partitions: []int32{r.i32(), r.i32()}})
				}
				c.Members = append(c.Members, m)
			}
			body = c
		case CmdRemoveMembers:
			body = &RemoveMembersCmd{Group: r.group(), Generation: r.i32(), MemberIDs: []string{r.name("m1", "m2", "x")}, Timestamp: r.ts()}
		case CmdCommitOffsets:
			c := &CommitOffsetsCmd{Group: r.group(), MemberID: r.name("", "m1", "m2"), Generation: r.i32(), Timestamp: r.ts()}
			if k := r.u8(); k%2 == 1 {
				c.Kafka, c.InstanceID = true, r.name("", "i1", "i2")
			}
			for i := r.u8() % 4; i > 0; i-- {
				o := OffsetCommit{Topic: r.topic(), Partition: r.i32(), Offset: r.small()}
				c.Offsets = append(c.Offsets, o)
				c.Bounds = append(c.Bounds, r.bounds(o.Topic, o.Partition)...)
			}
			body = c
		case CmdResetOffsets:
			c := &ResetOffsetsCmd{Group: r.group(), Topic: r.topic(), Mode: int8(r.u8()%4) - 2, Offset: r.small(), Timestamp: r.ts()}
			for i := r.u8() % 3; i > 0; i-- {
				c.Partitions = append(c.Partitions, r.i32())
			}
			for p := int32(0); p < 3; p++ {
				c.Bounds = append(c.Bounds, r.bounds(c.Topic, p)...)
			}
			body = c
		case CmdDeleteGroup:
			body = &DeleteGroupCmd{Group: r.group()}
		case CmdKafkaGroup:
			c := &KafkaGroupCmd{Group: r.group(), Generation: r.i32(), ProtocolType: r.name("consumer", "", "connect"),
				Protocol: r.name("range", ""), Leader: r.name("m1", "m2", ""), Timestamp: r.ts()}
			for i := r.u8() % 4; i > 0; i-- {
				m := GroupMember{ID: r.name("m1", "m2", "m3", ""), InstanceID: r.name("", "i1", "i2"),
					SessionTimeoutMs: r.i32(), RebalanceTimeoutMs: r.i32(), Metadata: r.bytes(int(r.u8() % 8)),
					AssignmentBytes: r.bytes(int(r.u8() % 8)), Topics: []string{r.topic()}}
				for j := r.u8() % 3; j > 0; j-- {
					m.Assignment = append(m.Assignment, TopicPartitions{Topic: r.topic(), Partitions: []int32{r.i32()}})
				}
				c.Members = append(c.Members, m)
			}
			body = c
		case CmdDeleteOffsets:
			body = &DeleteOffsetsCmd{Group: r.group(), Partitions: []TopicPartitions{{Topic: r.topic(), Partitions: []int32{r.i32(), r.i32()}}}}
		case CmdPutUser:
			k := r.u8()
			c := &PutUserCmd{Name: r.name("alice", "bob", ""), Create: k%2 == 0, Replace: k%8 > 5}
			for i := k / 64; i > 0; i-- {
				c.Delete = append(c.Delete, r.name("SCRAM-SHA-256", "SCRAM-SHA-512", "X"))
			}
			for i := r.u8() % 3; i > 0; i-- {
				c.Creds = append(c.Creds, ScramCred{Mechanism: r.name("SCRAM-SHA-256", "SCRAM-SHA-512", "X"),
					Iterations: int(r.i32()), Salt: r.bytes(int(r.u8() % 4)), StoredKey: r.bytes(int(r.u8() % 70)), ServerKey: r.bytes(int(r.u8() % 70))})
			}
			if r.u8()%2 == 0 {
				su := r.u8()%2 == 0
				c.Superuser = &su
			}
			body = c
		case CmdDeleteUser:
			body = &DeleteUserCmd{Name: r.name("alice", "bob", ""), Mechanism: r.name("", "SCRAM-SHA-256", "SCRAM-SHA-512", "X")}
		case CmdCreateACLs:
			body = &CreateACLsCmd{ACLs: r.acls()}
		case CmdDeleteACLs:
			body = &DeleteACLsCmd{ACLs: r.acls()}
		}
		data, err := encodeCommand(ct, body)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &raft.Log{Index: index, Type: raft.LogCommand, Data: data})
	}
	return out
}
