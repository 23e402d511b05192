package replication

import (
	"fmt"
	"math"
	"math/rand"
	"slices"

	"github.com/hashicorp/raft"
	"github.com/minibroker/minibroker/internal/auth"
	mlog "github.com/minibroker/minibroker/log"
	"github.com/vmihailenco/msgpack/v5"
)

// modelGen generates a random history of Raft entries and applies each one
// to the reference FSM as it goes: like the leader's Store, it reads the
// reference (the state just before the entry) to stamp bounds and to pick
// sequences, groups and members, so most commands are meaningful and some,
// by choice, are hostile.
type modelGen struct {
	rng *rand.Rand
	ref *FSM

	index uint64 // Raft index of the entry being generated
	term  uint64

	// Leader clocks: real time advances for all, each leader's clock is
	// skewed, so time goes backward when leadership moves.
	base   int64
	skew   [3]int64
	leader int

	pids  []int64           // producer ids handed out (some expired since)
	stale []PartitionBounds // bounds seen earlier, for commands from a stale leader view

	panicMsg string // set when the reference panicked: the history ends there
}

var (
	modelTopics = []string{"a", "b", "c", "d"}
	modelGroups = []string{"g1", "g2", "g3"}
)

func (g *modelGen) now() int64 { return g.base + g.skew[g.leader] }

func (g *modelGen) pick(n int) int { return g.rng.Intn(n) }

func (g *modelGen) chance(p float64) bool { return g.rng.Float64() < p }

// step advances time, maybe changes the leader, and appends one entry.
func (g *modelGen) step() (ct CommandType, data []byte, typ raft.LogType) {
	g.base += int64(g.pick(3000))
	if g.chance(0.01) {
		g.base += int64(1+g.pick(30)) * 3600_000 // an idle stretch: hours
	}
	if g.chance(0.03) {
		g.leader = g.pick(len(g.skew))
		g.term++
	}
	typ = raft.LogCommand
	switch r := g.pick(100); {
	case r < 7:
		ct, data = g.createTopic()
	case r < 10:
		ct, data = CmdDeleteTopic, g.enc(CmdDeleteTopic, &DeleteTopicCmd{Name: g.topicName()})
	case r < 50:
		ct, data = CmdAppend, g.append()
	case r < 51:
		ct, data = g.acls()
	case r < 52:
		if g.chance(0.7) {
			ct, data = CmdPutUser, g.putUser()
		} else {
			ct, data = CmdDeleteUser, g.deleteUser()
		}
	case r < 56:
		ct, data = CmdInitProducer, g.enc(CmdInitProducer, &InitProducerCmd{Timestamp: g.now()})
		g.pids = append(g.pids, int64(g.index))
	case r < 62:
		ct, data = CmdHousekeeping, g.enc(CmdHousekeeping, &HousekeepingCmd{Timestamp: g.now()})
	case r < 64:
		addr := ""
		if g.chance(0.7) {
			addr = fmt.Sprintf("127.0.0.1:%d", 9000+g.pick(5))
		}
		kaddr := ""
		if g.chance(0.5) {
			kaddr = fmt.Sprintf("127.0.0.1:%d", 19000+g.pick(5))
		}
		ct, data = CmdRegisterNode, g.enc(CmdRegisterNode, &RegisterNodeCmd{ID: fmt.Sprint("n", g.pick(3)), Addr: addr, KafkaAddr: kaddr})
	case r < 70:
		ct, data = CmdSyncGroup, g.syncGroup()
	case r < 73:
		ct, data = CmdRemoveMembers, g.removeMembers()
	case r < 83:
		ct, data = CmdCommitOffsets, g.commitOffsets()
	case r < 87:
		ct, data = CmdResetOffsets, g.resetOffsets()
	case r < 89:
		ct, data = CmdDeleteGroup, g.enc(CmdDeleteGroup, &DeleteGroupCmd{Group: g.groupName()})
	case r < 91:
		ct, data = CmdCommitOffset, g.legacyCommit()
	case r < 94:
		ct, data = CmdKafkaGroup, g.kafkaGroup()
	case r < 95:
		ct, data = CmdDeleteOffsets, g.deleteOffsets()
	case r < 97:
		ct, data = g.garbage()
	case r < 98:
		ct, data = CmdDigest, g.enc(CmdDigest, &DigestCmd{}) // must change nothing

	default:
		typ = raft.LogConfiguration
	}
	return ct, data, typ
}

func (g *modelGen) enc(ct CommandType, body any) []byte {
	b, err := encodeCommand(ct, body)
	if err != nil {
		panic(err)
	}
	return b
}

func (g *modelGen) topicName() string {
	if g.chance(0.05) {
		return "nope"
	}
	return modelTopics[g.pick(len(modelTopics))]
}

func (g *modelGen) groupName() string {
	if g.chance(0.04) {
		return []string{"", "bad/name", ".."}[g.pick(3)]
	}
	return modelGroups[g.pick(len(modelGroups))]
}

func (g *modelGen) createTopic() (CommandType, []byte) {
	c := CreateTopicCmd{Name: g.topicName(), Partitions: int32(1 + g.pick(3))}
	switch g.pick(6) {
	case 1:
		c.Config.SegmentBytes = int64(1024 + g.pick(3000))
	case 2:
		c.Config = TopicConfig{SegmentBytes: 1024, RetentionBytes: int64(1500 + g.pick(5000))}
	case 3, 4:
		c.Config = TopicConfig{SegmentBytes: 1024, RetentionMs: int64(1000 + g.pick(60_000))}
		if g.chance(0.5) {
			c.Config.RetentionBytes = int64(2048 + g.pick(4000))
		}
	}
	if g.chance(0.08) { // hostile
		switch g.pick(5) {
		case 0:
			c.Name = []string{"", "../x", "a/b", string(make([]byte, 300))}[g.pick(4)]
		case 1:
			c.Partitions = []int32{0, -1, MaxPartitions + 1}[g.pick(3)]
		case 2:
			c.Config.RetentionBytes = -1
		case 3:
			c.Config.SegmentBytes = []int64{100, 1 << 31}[g.pick(2)]
		case 4:
			c.Config.RetentionMs = -5
		}
	}
	return CmdCreateTopic, g.enc(CmdCreateTopic, &c)
}

// existingPartition picks a partition of an existing topic, or false.
func (g *modelGen) existingPartition() (Topic, int32, bool) {
	ts := g.ref.Topics()
	if len(ts) == 0 {
		return Topic{}, 0, false
	}
	t := ts[g.pick(len(ts))]
	return t, int32(g.pick(int(t.Partitions))), true
}

func (g *modelGen) batch(n int) []byte {
	recs := make([]mlog.Record, n)
	now := g.now()
	for i := range recs {
		ts := now - int64(g.pick(2000))
		switch {
		case g.chance(0.05):
			ts = now + int64(1+g.pick(1<<30)) // in the future
		case g.chance(0.03):
			ts = 0
		}
		v := make([]byte, 10+g.pick(200))
		g.rng.Read(v)
		recs[i] = mlog.Record{Timestamp: ts, Value: v}
		if g.chance(0.2) {
			recs[i].Key = []byte(fmt.Sprint("k", g.pick(10)))
		}
	}
	b, err := mlog.AppendBatch(nil, recs, 0)
	if err != nil {
		panic(err)
	}
	return b
}

func (g *modelGen) append() []byte {
	c := AppendCmd{Timestamp: g.now()}
	t, p, ok := g.existingPartition()
	c.Topic, c.Partition = t.Name, p
	if !ok || g.chance(0.05) {
		c.Topic = g.topicName()
	}
	if g.chance(0.04) {
		c.Partition = []int32{-1, t.Partitions, math.MaxInt32}[g.pick(3)]
	}
	n := 1 + g.pick(4)
	if len(g.pids) > 0 && g.chance(0.45) {
		c.ProducerID = g.pids[g.pick(len(g.pids))]
		if g.chance(0.03) {
			c.ProducerID = int64(1 + g.pick(1<<20))
		}
		next, recent, epoch := g.producerPart(c.ProducerID, c.Topic, c.Partition)
		c.Sequence, c.ProducerEpoch = next, epoch
		switch r := g.pick(100); {
		case r < 4: // a bumped epoch (KIP-360), mostly starting over at 0
			c.ProducerEpoch, c.Sequence = epoch+int16(1+g.pick(2)), 0
			if g.chance(0.2) {
				c.Sequence = int32(1 + g.pick(3))
			}
		case r < 7: // a stale epoch, maybe with a sequence that would fit
			c.ProducerEpoch = epoch - int16(1+g.pick(2))
			if g.chance(0.3) {
				c.ProducerEpoch = -1
			}
			if g.chance(0.5) && len(recent) > 0 {
				c.Sequence = recent[0].FirstSeq
			}
		case r < 12 && len(recent) > 0: // a retry of a stored batch
			rb := recent[g.pick(len(recent))]
			c.Sequence, n = rb.FirstSeq, int(rb.Count)
			if g.chance(0.2) {
				n++ // same start, other count: not the same batch
			}
		case r < 17:
			c.Sequence = next + int32(1+g.pick(5)) // a gap
		case r < 22:
			c.Sequence = max(0, next-int32(1+g.pick(3))) // old, maybe forgotten
			if g.chance(0.5) {
				c.Sequence = next - int32(1+g.pick(3)) // maybe negative
			}
		case r < 26:
			c.Sequence = []int32{-1, math.MinInt32, math.MaxInt32, math.MaxInt32 - 1}[g.pick(4)]
		}
	}
	b := mlog.Batch(g.batch(n))
	if c.ProducerID != 0 {
		b.SetProducer(c.ProducerID, c.ProducerEpoch, c.Sequence)
	}
	if g.chance(0.01) { // the command disagrees with its batch
		b.SetProducer(c.ProducerID+int64(g.pick(2)), c.ProducerEpoch+int16(g.pick(2)), c.Sequence+1)
	}
	c.Batch = b
	if g.chance(0.02) {
		c.Batch = c.Batch[:g.pick(len(c.Batch))] // a damaged batch
	}
	return encodeAppend(&c)
}

// producerPart reads the reference's dedup state of a producer in a
// partition: the next sequence, the remembered batches and the epoch.
func (g *modelGen) producerPart(pid int64, topic string, partition int32) (int32, []recentBatch, int16) {
	g.ref.mu.RLock()
	defer g.ref.mu.RUnlock()
	p, ok := g.ref.meta.Producers[pid]
	if !ok {
		return 0, nil, 0
	}
	pp := p.find(topic, partition)
	if pp == nil {
		return 0, nil, 0
	}
	return pp.NextSeq, slices.Clone(pp.Recent), pp.Epoch
}

func (g *modelGen) syncGroup() []byte {
	c := SyncGroupCmd{Group: g.groupName(), Strategy: "range", Timestamp: g.now()}
	cur, _ := g.ref.Group(c.Group)
	c.Generation = cur.Generation + 1
	if g.chance(0.1) {
		c.Generation = []int32{cur.Generation, cur.Generation + 2, 0, -1, math.MaxInt32}[g.pick(5)]
	}
	nm := g.pick(4)
	for i := 0; i < nm; i++ {
		c.Members = append(c.Members, GroupMember{ID: fmt.Sprint("m", g.pick(5)), ClientID: "c", SessionTimeoutMs: 1000})
	}
	// Members ids may repeat (rejected); dedupe most of the time.
	if g.chance(0.9) {
		seen := map[string]bool{}
		ms := c.Members[:0]
		for _, m := range c.Members {
			if !seen[m.ID] {
				seen[m.ID] = true
				ms = append(ms, m)
			}
		}
		c.Members = ms
	}
	if len(c.Members) > 0 {
		for _, t := range g.ref.Topics() {
			if g.chance(0.4) {
				continue
			}
			for p := int32(0); p < t.Partitions; p++ {
				m := &c.Members[g.pick(len(c.Members))]
				m.Assignment = append(m.Assignment, TopicPartitions{Topic: t.Name, Partitions: []int32{p}})
				if g.chance(0.03) { // assigned twice: rejected
					m2 := &c.Members[g.pick(len(c.Members))]
					m2.Assignment = append(m2.Assignment, TopicPartitions{Topic: t.Name, Partitions: []int32{p}})
				}
			}
		}
		if g.chance(0.1) {
			c.Members[0].Assignment = append(c.Members[0].Assignment, TopicPartitions{Topic: "later", Partitions: []int32{0, 5}})
		}
	}
	return g.enc(CmdSyncGroup, &c)
}

func (g *modelGen) removeMembers() []byte {
	c := RemoveMembersCmd{Group: g.groupName(), Timestamp: g.now()}
	cur, _ := g.ref.Group(c.Group)
	c.Generation = cur.Generation
	if g.chance(0.1) {
		c.Generation--
	}
	for _, m := range cur.Members {
		if g.chance(0.5) {
			c.MemberIDs = append(c.MemberIDs, m.ID)
		}
	}
	if g.chance(0.2) {
		c.MemberIDs = append(c.MemberIDs, "ghost")
	}
	return g.enc(CmdRemoveMembers, &c)
}

// boundsFor stamps the leader's view of a partition (sometimes a stale or
// missing one).
func (g *modelGen) boundsFor(topic string, p int32) []PartitionBounds {
	b, ok := g.ref.partitionBounds(topic, p)
	if ok && g.chance(0.2) {
		g.stale = append(g.stale, b)
	}
	switch {
	case g.chance(0.1) && len(g.stale) > 0:
		return []PartitionBounds{g.stale[g.pick(len(g.stale))]}
	case !ok || g.chance(0.03):
		return nil
	}
	return []PartitionBounds{b}
}

func (g *modelGen) offsetIn(b []PartitionBounds) int64 {
	var end int64 = 10
	if len(b) > 0 {
		end = b[0].End
	}
	switch r := g.pick(100); {
	case r < 5:
		return -1 - int64(g.pick(3))
	case r < 12:
		return end + 1 + int64(g.pick(10)) // beyond the high-water mark
	case r < 14:
		return math.MaxInt64
	}
	return int64(g.pick(int(end) + 1))
}

func (g *modelGen) commitOffsets() []byte {
	c := CommitOffsetsCmd{Group: g.groupName(), Generation: -1, Timestamp: g.now()}
	cur, ok := g.ref.Group(c.Group)
	c.Kafka = cur.IsKafka() != g.chance(0.05) // now and then the other protocol
	if ok && len(cur.Members) > 0 && g.chance(0.8) {
		m := cur.Members[g.pick(len(cur.Members))]
		c.MemberID, c.Generation = m.ID, cur.Generation
		if c.Kafka {
			c.InstanceID = m.InstanceID
			if g.chance(0.1) {
				c.InstanceID = []string{"i0", "i1", "i2"}[g.pick(3)] // maybe another's: fenced
			}
		}
		switch {
		case g.chance(0.05):
			c.Generation--
		case g.chance(0.05):
			c.MemberID = "ghost"
		}
		for _, a := range m.Assignment {
			for _, p := range a.Partitions {
				if g.chance(0.7) {
					b := g.boundsFor(a.Topic, p)
					c.Offsets = append(c.Offsets, OffsetCommit{Topic: a.Topic, Partition: p, Offset: g.offsetIn(b), Metadata: "md"})
					c.Bounds = append(c.Bounds, b...)
				}
			}
		}
	}
	for i := g.pick(3); i > 0; i-- { // standalone, or not assigned to the member
		t, p, ok := g.existingPartition()
		if !ok {
			t.Name = "nope"
		}
		b := g.boundsFor(t.Name, p)
		c.Offsets = append(c.Offsets, OffsetCommit{Topic: t.Name, Partition: p, Offset: g.offsetIn(b)})
		c.Bounds = append(c.Bounds, b...)
	}
	return g.enc(CmdCommitOffsets, &c)
}

func (g *modelGen) resetOffsets() []byte {
	c := ResetOffsetsCmd{Group: g.groupName(), Topic: g.topicName(), Timestamp: g.now()}
	c.Mode = []int8{ResetEarliest, ResetLatest, ResetToOffset, ResetToOffset, 7}[g.pick(5)]
	t, _ := g.ref.Topic(c.Topic)
	for p := int32(0); p < t.Partitions; p++ {
		c.Bounds = append(c.Bounds, g.boundsFor(c.Topic, p)...)
		if g.chance(0.3) {
			c.Partitions = append(c.Partitions, p)
		}
	}
	if g.chance(0.05) {
		c.Partitions = append(c.Partitions, t.Partitions, -1)
	}
	c.Offset = g.offsetIn(c.Bounds)
	return g.enc(CmdResetOffsets, &c)
}

func (g *modelGen) legacyCommit() []byte {
	t, p, _ := g.existingPartition()
	c := CommitOffsetCmd{Group: g.groupName(), Topic: t.Name, Partition: p, Generation: int32(g.pick(3)), Timestamp: g.now()}
	c.Offset = int64(g.pick(50)) - 2
	return g.enc(CmdCommitOffset, &c)
}

// garbage returns a known command type with a body it cannot decode, or an
// empty entry.
func (g *modelGen) garbage() (CommandType, []byte) {
	types := []CommandType{CmdCreateTopic, CmdDeleteTopic, CmdAppend, CmdCommitOffset, CmdRegisterNode, CmdInitProducer,
		CmdHousekeeping, CmdSyncGroup, CmdRemoveMembers, CmdCommitOffsets, CmdResetOffsets, CmdDeleteGroup, CmdDigest,
		CmdKafkaGroup, CmdDeleteOffsets, CmdPutUser, CmdDeleteUser, CmdCreateACLs, CmdDeleteACLs}
	ct := types[g.pick(len(types))]
	switch g.pick(4) {
	case 0:
		return ct, nil // empty entry: no type byte
	case 1:
		b, _ := msgpack.Marshal("not a command")
		return ct, append([]byte{byte(ct)}, b...)
	case 2:
		b, _ := msgpack.Marshal([]any{1, "x", []byte{1}, nil})
		return ct, append([]byte{byte(ct)}, b...)
	}
	b := make([]byte, g.pick(40))
	g.rng.Read(b)
	return ct, append([]byte{byte(ct)}, b...)
}

// describe summarises an entry for failure messages.
func describeEntry(l *raft.Log) string {
	if l.Type != raft.LogCommand {
		return fmt.Sprintf("#%d %v", l.Index, l.Type)
	}
	if len(l.Data) == 0 {
		return fmt.Sprintf("#%d empty command", l.Index)
	}
	ct := CommandType(l.Data[0])
	var v any
	switch ct {
	case CmdAppend:
		c, err := decodeAppend(l.Data[1:])
		if err != nil {
			return fmt.Sprintf("#%d Append (undecodable: %v)", l.Index, err)
		}
		n := -1
		if b, _, err := mlog.ParseBatch(c.Batch); err == nil {
			n = b.Count()
		}
		return fmt.Sprintf("#%d Append{%s/%d ts=%d pid=%d epoch=%d seq=%d records=%d bytes=%d}", l.Index, c.Topic, c.Partition,
			c.Timestamp, c.ProducerID, c.ProducerEpoch, c.Sequence, n, len(c.Batch))
	case CmdCreateTopic:
		v = &CreateTopicCmd{}
	case CmdDeleteTopic:
		v = &DeleteTopicCmd{}
	case CmdCommitOffset:
		v = &CommitOffsetCmd{}
	case CmdRegisterNode:
		v = &RegisterNodeCmd{}
	case CmdInitProducer:
		v = &InitProducerCmd{}
	case CmdHousekeeping:
		v = &HousekeepingCmd{}
	case CmdSyncGroup:
		v = &SyncGroupCmd{}
	case CmdRemoveMembers:
		v = &RemoveMembersCmd{}
	case CmdCommitOffsets:
		v = &CommitOffsetsCmd{}
	case CmdResetOffsets:
		v = &ResetOffsetsCmd{}
	case CmdDeleteGroup:
		v = &DeleteGroupCmd{}
	case CmdDigest:
		v = &DigestCmd{}
	case CmdKafkaGroup:
		v = &KafkaGroupCmd{}
	case CmdDeleteOffsets:
		v = &DeleteOffsetsCmd{}
	case CmdPutUser:
		v = &PutUserCmd{}
	case CmdDeleteUser:
		v = &DeleteUserCmd{}
	case CmdCreateACLs:
		v = &CreateACLsCmd{}
	case CmdDeleteACLs:
		v = &DeleteACLsCmd{}
	default:
		return fmt.Sprintf("#%d %v (%d bytes)", l.Index, ct, len(l.Data))
	}
	if err := msgpack.Unmarshal(l.Data[1:], v); err != nil {
		return fmt.Sprintf("#%d %v (undecodable, %d bytes)", l.Index, ct, len(l.Data))
	}
	return fmt.Sprintf("#%d %v%+v", l.Index, ct, v)
}

// kafkaGroup records a Kafka group: mostly the next generation of a group
// with members from the pool, sometimes an emptied group, a stale
// generation, another protocol type or a malformed command.
func (g *modelGen) kafkaGroup() []byte {
	c := KafkaGroupCmd{Group: g.groupName(), ProtocolType: "consumer", Protocol: "range", Timestamp: g.now()}
	cur, _ := g.ref.Group(c.Group)
	c.Generation = cur.Generation + int32(g.pick(2))
	if g.chance(0.05) {
		c.Generation = []int32{cur.Generation - 1, -1}[g.pick(2)]
	}
	if g.chance(0.05) {
		c.ProtocolType = []string{"connect", ""}[g.pick(2)]
	}
	nm := g.pick(4)
	for i := 0; i < nm; i++ {
		m := GroupMember{ID: fmt.Sprint("k", g.pick(5)), ClientID: "kc", ClientHost: "/127.0.0.1",
			SessionTimeoutMs: 10000, RebalanceTimeoutMs: 30000, Metadata: []byte{0, 1, byte(g.pick(3))}}
		if g.chance(0.5) {
			m.InstanceID = fmt.Sprint("i", g.pick(3))
		}
		if g.chance(0.8) {
			m.AssignmentBytes = []byte{0, 1, byte(i)}
		}
		if g.chance(0.5) {
			m.Topics = []string{g.topicName()}
		}
		c.Members = append(c.Members, m)
	}
	if len(c.Members) > 0 {
		if c.Generation == 0 {
			c.Generation = 1
		}
		c.Leader = c.Members[g.pick(len(c.Members))].ID
		if g.chance(0.03) {
			c.Leader = "nobody"
		}
	}
	return g.enc(CmdKafkaGroup, &c)
}

// deleteOffsets deletes some committed offsets of a group.
func (g *modelGen) deleteOffsets() []byte {
	c := DeleteOffsetsCmd{Group: g.groupName()}
	t := g.topicName()
	c.Partitions = []TopicPartitions{{Topic: t, Partitions: []int32{int32(g.pick(3)), int32(g.pick(3))}}}
	return g.enc(CmdDeleteOffsets, &c)
}

// acls creates or deletes ACLs from a small pool (so that creates repeat
// and deletes hit), sometimes with an invalid one that rejects the create.
func (g *modelGen) acls() (CommandType, []byte) {
	pick := func() auth.ACL {
		a := auth.ACL{Principal: []string{"User:alice", "User:bob", "User:*"}[g.pick(3)], Host: "*",
			Resource: auth.ResourceTopic, Pattern: auth.PatternLiteral, Name: g.topicName(),
			Operation: []auth.Operation{auth.OpRead, auth.OpWrite, auth.OpAll}[g.pick(3)], Permission: auth.PermissionAllow}
		if g.chance(0.3) {
			a.Resource, a.Name = auth.ResourceGroup, g.groupName()
			a.Operation = auth.OpRead
		}
		if g.chance(0.3) {
			a.Pattern = auth.PatternPrefixed
		}
		if g.chance(0.2) {
			a.Permission = auth.PermissionDeny
		}
		if g.chance(0.05) {
			a.Host = "10.0.0.1" // invalid
		}
		return a
	}
	list := make([]auth.ACL, 1+g.pick(3))
	for i := range list {
		list[i] = pick()
	}
	if g.chance(0.35) {
		return CmdDeleteACLs, g.enc(CmdDeleteACLs, &DeleteACLsCmd{ACLs: list})
	}
	return CmdCreateACLs, g.enc(CmdCreateACLs, &CreateACLsCmd{ACLs: list})
}
