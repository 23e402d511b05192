package replication

import (
	"testing"
)

// Apply-level tests of Kafka groups (KafkaGroupCmd, Kafka commits,
// DeleteOffsetsCmd).

func kmember(id, instance string) GroupMember {
	return GroupMember{ID: id, InstanceID: instance, ClientID: "kc", SessionTimeoutMs: 10000, RebalanceTimeoutMs: 30000,
		Topics: []string{"t"}, Metadata: []byte("md-" + id), AssignmentBytes: []byte("as-" + id)}
}

func (h *fsmHarness) kgroup(group string, gen int32, leader string, members ...GroupMember) any {
	h.t.Helper()
	return h.apply(CmdKafkaGroup, &KafkaGroupCmd{Group: group, Generation: gen, ProtocolType: "consumer", Protocol: "range",
		Leader: leader, Members: members, Timestamp: 9000})
}

func (h *fsmHarness) kcommit(group, member, instance string, gen int32, offs ...OffsetCommit) any {
	h.t.Helper()
	c := CommitOffsetsCmd{Group: group, MemberID: member, Generation: gen, Offsets: offs, Timestamp: 7000, Kafka: true, InstanceID: instance}
	for _, o := range offs {
		if b, ok := h.f.partitionBounds(o.Topic, o.Partition); ok {
			c.Bounds = append(c.Bounds, b)
		}
	}
	return h.apply(CmdCommitOffsets, &c)
}

func TestKafkaGroupRecord(t *testing.T) {
	h := groupHarness(t)
	wantErr(t, "leader not a member", h.kgroup("g", 1, "x", kmember("a", "")), ErrBadCommand)
	wantErr(t, "members without generation", h.kgroup("g", 0, "a", kmember("a", "")), ErrBadCommand)
	wantErr(t, "instance twice", h.kgroup("g", 1, "a", kmember("a", "i"), kmember("b", "i")), ErrBadCommand)
	wantErr(t, "bad name", h.kgroup("a/b", 1, "a", kmember("a", "")), ErrInvalidGroup)
	wantErr(t, "no protocol type", h.apply(CmdKafkaGroup, &KafkaGroupCmd{Group: "g", Generation: 1}), ErrBadCommand)
	wantErr(t, "gen 3", h.kgroup("g", 3, "b", kmember("a", "i1"), kmember("b", "")), nil)
	g, ok := h.f.Group("g")
	if !ok || !g.IsKafka() || g.Generation != 3 || g.Leader != "b" || len(g.Members) != 2 || string(g.Members[0].AssignmentBytes) != "as-a" || g.Members[0].InstanceID != "i1" {
		t.Fatalf("group: %+v", g)
	}
	wantErr(t, "stale generation", h.kgroup("g", 2, "a", kmember("a", "")), ErrIllegalGeneration)
	wantErr(t, "same generation (static member replaced)", h.kgroup("g", 3, "b", kmember("a2", "i1"), kmember("b", "")), nil)
	wantErr(t, "native sync over a Kafka group", h.sync("g", 4, member("n")), ErrInconsistentGroupProtocol)
	wantErr(t, "other protocol type", h.apply(CmdKafkaGroup, &KafkaGroupCmd{Group: "g", Generation: 4, ProtocolType: "connect", Protocol: "x", Leader: "c",
		Members: []GroupMember{kmember("c", "")}}), ErrInconsistentGroupProtocol)
	wantErr(t, "native member commit", h.commit("g", "b", 3, oc("t", 0, 1)), ErrInconsistentGroupProtocol)

	wantErr(t, "native group", h.sync("n", 1, member("m", tps("t", 0))), nil)
	wantErr(t, "Kafka over a native group", h.kgroup("n", 2, "a", kmember("a", "")), ErrInconsistentGroupProtocol)
	wantErr(t, "Kafka commit to a native group", h.kcommit("n", "m", "", 1, oc("t", 0, 1)), ErrInconsistentGroupProtocol)
	wantErr(t, "native group emptied", h.remove("n", 1, "m"), nil)
	wantErr(t, "Kafka takes over an empty native group", h.kgroup("n", 2, "a", kmember("a", "")), nil)
}

func TestKafkaCommitFencing(t *testing.T) {
	h := groupHarness(t)
	wantErr(t, "record", h.kgroup("g", 2, "a", kmember("a", "i1"), kmember("b", "")), nil)
	wantErr(t, "fenced instance", h.kcommit("g", "old", "i1", 2, oc("t", 0, 1)), ErrFencedInstanceID)
	wantErr(t, "unknown member", h.kcommit("g", "zz", "", 2, oc("t", 0, 1)), ErrUnknownMember)
	wantErr(t, "illegal generation", h.kcommit("g", "a", "i1", 1, oc("t", 0, 1)), ErrIllegalGeneration)
	wantErr(t, "standalone with members", h.kcommit("g", "", "", -1, oc("t", 0, 1)), ErrGroupNotEmpty)
	// Any partition (no ownership check), and backward, as Kafka.
	if errs := partErrs(t, h.kcommit("g", "b", "", 2, oc("t", 0, 5), oc("t", 1, 7))); errs[0] != nil || errs[1] != nil {
		t.Fatalf("commit: %v", errs)
	}
	if errs := partErrs(t, h.kcommit("g", "a", "i1", 2, oc("t", 0, 3))); errs[0] != nil {
		t.Fatalf("backward commit: %v", errs)
	}
	if o := h.f.GroupOffsets("g"); len(o) != 2 || o[0].Offset != 3 {
		t.Fatalf("offsets: %+v", o)
	}
	wantErr(t, "delete offsets of a subscribed topic", h.apply(CmdDeleteOffsets, &DeleteOffsetsCmd{Group: "g", Partitions: []TopicPartitions{tps("t", 0)}}), ErrGroupSubscribed)
	wantErr(t, "emptied", h.kgroup("g", 3, ""), nil)
	wantErr(t, "standalone to the empty group", h.kcommit("g", "", "", -1, oc("t", 0, 4)), nil)
	wantErr(t, "delete offsets", h.apply(CmdDeleteOffsets, &DeleteOffsetsCmd{Group: "g", Partitions: []TopicPartitions{tps("t", 0)}}), nil)
	if o := h.f.GroupOffsets("g"); len(o) != 1 || o[0].Partition != 1 {
		t.Fatalf("offsets after delete: %+v", o)
	}
}

// TestKafkaGroupDigest: the Kafka fields are in the digest, so replicas
// that disagree on them are told apart.
func TestKafkaGroupDigest(t *testing.T) {
	digest := func(assign string) string {
		h := groupHarness(t)
		m := kmember("a", "i1")
		m.AssignmentBytes = []byte(assign)
		wantErr(t, "record", h.kgroup("g", 1, "a", m), nil)
		d, err := h.f.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.Meta
	}
	if digest("x") == digest("y") {
		t.Fatal("digest ignores a member's assignment bytes")
	}
}
