package replication

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	mlog "github.com/minibroker/minibroker/log"
)

// Apply-level tests of the consumer-group commands, through fsmHarness.

// commit applies a CommitOffsetsCmd with bounds stamped from the FSM's
// current state, as Store.CommitOffsets does.
func (h *fsmHarness) commit(group, member string, gen int32, offs ...OffsetCommit) any {
	h.t.Helper()
	c := CommitOffsetsCmd{Group: group, MemberID: member, Generation: gen, Offsets: offs, Timestamp: 7000}
	for _, o := range offs {
		if b, ok := h.f.partitionBounds(o.Topic, o.Partition); ok {
			c.Bounds = append(c.Bounds, b)
		}
	}
	return h.apply(CmdCommitOffsets, &c)
}

// reset applies a ResetOffsetsCmd with bounds stamped as Store does.
func (h *fsmHarness) reset(c ResetOffsetsCmd) any {
	h.t.Helper()
	if t, ok := h.f.Topic(c.Topic); ok {
		for p := int32(0); p < t.Partitions; p++ {
			b, _ := h.f.partitionBounds(c.Topic, p)
			c.Bounds = append(c.Bounds, b)
		}
	}
	return h.apply(CmdResetOffsets, &c)
}

func (h *fsmHarness) sync(group string, gen int32, members ...GroupMember) any {
	h.t.Helper()
	return h.apply(CmdSyncGroup, &SyncGroupCmd{Group: group, Generation: gen, Strategy: "range", Members: members, Timestamp: 6000})
}

func (h *fsmHarness) remove(group string, gen int32, ids ...string) any {
	h.t.Helper()
	return h.apply(CmdRemoveMembers, &RemoveMembersCmd{Group: group, Generation: gen, MemberIDs: ids, Timestamp: 6500})
}

func member(id string, assign ...TopicPartitions) GroupMember {
	return GroupMember{ID: id, ClientID: "client-" + id, Topics: []string{"t"}, SessionTimeoutMs: 10000, Assignment: assign}
}

func tps(topic string, parts ...int32) TopicPartitions {
	return TopicPartitions{Topic: topic, Partitions: parts}
}

func oc(topic string, p int32, off int64) OffsetCommit {
	return OffsetCommit{Topic: topic, Partition: p, Offset: off, Metadata: fmt.Sprint("m", off)}
}

// wantErr fails unless resp is an error matching want (nil: no error).
func wantErr(t *testing.T, what string, resp any, want error) {
	t.Helper()
	err, _ := resp.(error)
	if want == nil {
		if resp != nil {
			if _, ok := resp.(*CommitResult); !ok {
				t.Fatalf("%s: got %v, want success", what, resp)
			}
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, resp, want)
	}
}

// partErrs returns the per-partition errors of a CommitOffsets response.
func partErrs(t *testing.T, resp any) []error {
	t.Helper()
	r, ok := resp.(*CommitResult)
	if !ok {
		t.Fatalf("commit response %#v, want *CommitResult", resp)
	}
	return r.Errors
}

func committed(t *testing.T, f *FSM, group, topic string, p int32) int64 {
	t.Helper()
	c, ok := f.CommittedOffset(group, topic, p)
	if !ok {
		return -1
	}
	return c.Offset
}

// groupHarness has topic "t" with 2 partitions of 10 records each.
func groupHarness(t *testing.T) *fsmHarness {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 2})
	h.append("t", 0, "a", 10)
	h.append("t", 1, "b", 10)
	return h
}

func TestSyncGroupGenerations(t *testing.T) {
	h := groupHarness(t)
	wantErr(t, "new group at generation 2", h.sync("g", 2), ErrIllegalGeneration)
	if _, ok := h.f.Group("g"); ok {
		t.Fatal("rejected sync created the group")
	}
	for _, bad := range []string{"", "a/b", "..", string(make([]byte, MaxGroupNameLen+1))} {
		wantErr(t, fmt.Sprintf("group name %q", bad), h.sync(bad, 1), ErrInvalidGroup)
	}
	// Unsorted members, a split and unsorted assignment, repeats: stored
	// in canonical order. Partitions of a topic that does not exist are fine.
	m2 := member("m2", tps("t", 1), tps("nope", 3, 0), tps("t", 1))
	m2.Topics = []string{"t", "nope", "t"}
	wantErr(t, "sync 1", h.sync("g", 1, m2, member("m1", tps("t", 0))), nil)
	g, ok := h.f.Group("g")
	if !ok || g.Generation != 1 || g.Strategy != "range" || g.UpdatedAt != 6000 || len(g.Members) != 2 {
		t.Fatalf("group %+v %v", g, ok)
	}
	want := GroupMember{ID: "m2", ClientID: "client-m2", Topics: []string{"nope", "t"}, SessionTimeoutMs: 10000,
		Assignment: []TopicPartitions{tps("nope", 0, 3), tps("t", 1)}}
	if g.Members[0].ID != "m1" || !reflect.DeepEqual(g.Members[1], want) {
		t.Fatalf("members %+v", g.Members)
	}
	if id, ok := g.Owner("t", 1); !ok || id != "m2" {
		t.Fatalf("Owner(t/1) = %q %v", id, ok)
	}
	if _, ok := g.Owner("t", 5); ok {
		t.Fatal("Owner of an unassigned partition")
	}
	if m, ok := g.Member("m1"); !ok || m.ClientID != "client-m1" {
		t.Fatalf("Member(m1) = %+v %v", m, ok)
	}
	if _, ok := g.Member("zz"); ok {
		t.Fatal("Member of a non-member")
	}
	wantErr(t, "sync 1 again", h.sync("g", 1), ErrIllegalGeneration)
	wantErr(t, "sync 3", h.sync("g", 3), ErrIllegalGeneration)
	wantErr(t, "sync 2", h.sync("g", 2, member("m1", tps("t", 0, 1))), nil)
	if g, _ := h.f.Group("g"); g.Generation != 2 || len(g.Members) != 1 {
		t.Fatalf("after sync 2: %+v", g)
	}
}

func TestSyncGroupRejectsBadMembershipWithoutChange(t *testing.T) {
	h := groupHarness(t)
	h.sync("g", 1, member("a", tps("t", 0)), member("b", tps("t", 1)))
	before, _ := h.f.Group("g")
	cases := map[string][]GroupMember{
		"partition assigned twice": {member("a", tps("t", 0)), member("b", tps("t", 1, 0))},
		"member twice":             {member("a", tps("t", 0)), member("a", tps("t", 1))},
		"empty member id":          {member("", tps("t", 0))},
		"negative partition":       {member("a", tps("t", -1))},
		"empty topic":              {member("a", tps("", 0))},
	}
	for name, ms := range cases {
		wantErr(t, name, h.sync("g", 2, ms...), ErrBadCommand)
		if g, _ := h.f.Group("g"); !reflect.DeepEqual(g, before) {
			t.Fatalf("%s changed the group: %+v", name, g)
		}
	}
	// The node did not stop: the next good command applies.
	wantErr(t, "good sync", h.sync("g", 2, member("a", tps("t", 0, 1))), nil)
}

func TestCommitOffsetsFencing(t *testing.T) {
	h := groupHarness(t)
	h.sync("g", 1, member("a", tps("t", 0)), member("b", tps("t", 1)))

	errs := partErrs(t, h.commit("g", "a", 1, oc("t", 0, 5)))
	if errs[0] != nil || committed(t, h.f, "g", "t", 0) != 5 {
		t.Fatalf("commit: %v, stored %d", errs, committed(t, h.f, "g", "t", 0))
	}
	if c, _ := h.f.CommittedOffset("g", "t", 0); c.Generation != 1 || c.Metadata != "m5" || c.Timestamp != 7000 {
		t.Fatalf("stored %+v", c)
	}
	wantErr(t, "stale generation", h.commit("g", "a", 0, oc("t", 0, 6)), ErrIllegalGeneration)
	wantErr(t, "future generation", h.commit("g", "a", 2, oc("t", 0, 6)), ErrIllegalGeneration)
	wantErr(t, "unknown member", h.commit("g", "zz", 1, oc("t", 0, 6)), ErrUnknownMember)
	wantErr(t, "unknown group", h.commit("nope", "a", 1, oc("t", 0, 6)), ErrUnknownGroup)
	wantErr(t, "bad group name", h.commit("a b", "a", 1, oc("t", 0, 6)), ErrInvalidGroup)

	errs = partErrs(t, h.commit("g", "a", 1,
		oc("t", 1, 3),  // b's
		oc("t", 0, 4),  // backward
		oc("t", 0, 11), // beyond the high-water mark (10)
		oc("t", 0, -1),
		oc("x", 0, 1),
		oc("t", 7, 1),
		oc("t", 0, 5),  // equal: a no-op
		oc("t", 0, 10), // at the high-water mark: fine
	))
	want := []error{ErrNotAssigned, ErrOffsetRegression, ErrOffsetOutOfRange, mlog.ErrOffsetOutOfRange, ErrUnknownTopic, ErrUnknownPartition, nil, nil}
	for i, w := range want {
		if (w == nil) != (errs[i] == nil) || (w != nil && !errors.Is(errs[i], w)) {
			t.Fatalf("offset %d: got %v, want %v", i, errs[i], w)
		}
	}
	var re *mlog.OffsetRangeError
	if !errors.As(errs[2], &re) || re.End != 10 || re.Offset != 11 {
		t.Fatalf("out-of-range error %v", errs[2])
	}
	if got := committed(t, h.f, "g", "t", 0); got != 10 {
		t.Fatalf("stored %d, want 10", got)
	}
	wantErr(t, "regression message", errs[1], ErrOffsetRegression)
	if _, ok := h.f.CommittedOffset("g", "t", 1); ok {
		t.Fatal("a commit for another member's partition was stored")
	}

	// A new generation fences the old one; members keep committing in it.
	h.sync("g", 2, member("a", tps("t", 1)), member("b", tps("t", 0)))
	wantErr(t, "old generation after a rebalance", h.commit("g", "a", 1, oc("t", 1, 1)), ErrIllegalGeneration)
	if errs := partErrs(t, h.commit("g", "a", 2, oc("t", 1, 2))); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if errs := partErrs(t, h.commit("g", "a", 2, oc("t", 0, 10))); !errors.Is(errs[0], ErrNotAssigned) {
		t.Fatalf("a no longer owns t/0: %v", errs[0])
	}
}

func TestRemoveMembersFencesCommits(t *testing.T) {
	h := groupHarness(t)
	h.sync("g", 1, member("a", tps("t", 0)), member("b", tps("t", 1)))
	wantErr(t, "remove in another generation", h.remove("g", 2, "a"), ErrIllegalGeneration)
	wantErr(t, "remove from unknown group", h.remove("nope", 1, "a"), ErrUnknownGroup)
	before, _ := h.f.Group("g")
	wantErr(t, "remove unknown ids", h.remove("g", 1, "x", "y"), nil)
	if g, _ := h.f.Group("g"); !reflect.DeepEqual(g, before) {
		t.Fatalf("removing unknown ids changed the group: %+v", g)
	}
	wantErr(t, "remove a", h.remove("g", 1, "a", "x"), nil)
	g, _ := h.f.Group("g")
	if g.Generation != 1 || len(g.Members) != 1 || g.Members[0].ID != "b" || g.UpdatedAt != 6500 {
		t.Fatalf("after remove: %+v", g)
	}
	wantErr(t, "commit by a removed member", h.commit("g", "a", 1, oc("t", 0, 1)), ErrUnknownMember)
	if errs := partErrs(t, h.commit("g", "b", 1, oc("t", 1, 1))); errs[0] != nil {
		t.Fatalf("the remaining member's commit: %v", errs[0])
	}
	wantErr(t, "remove the last", h.remove("g", 1, "b"), nil)
	if g, ok := h.f.Group("g"); !ok || g.Members != nil || g.Generation != 1 {
		t.Fatalf("empty group %+v %v", g, ok)
	}
}

func TestStandaloneCommits(t *testing.T) {
	h := groupHarness(t)
	if errs := partErrs(t, h.commit("solo", "", -1, oc("t", 0, 3), oc("t", 1, 4))); errs[0] != nil || errs[1] != nil {
		t.Fatalf("standalone commit to an unknown group: %v", errs)
	}
	if c, _ := h.f.CommittedOffset("solo", "t", 1); c.Offset != 4 || c.Generation != -1 {
		t.Fatalf("stored %+v", c)
	}
	if errs := partErrs(t, h.commit("solo", "", -1, oc("t", 0, 2))); !errors.Is(errs[0], ErrOffsetRegression) {
		t.Fatalf("standalone commits never go backward either: %v", errs[0])
	}
	h.sync("g", 1, member("a", tps("t", 0)))
	wantErr(t, "standalone commit to a group with members", h.commit("g", "", -1, oc("t", 0, 1)), ErrGroupNotEmpty)
	wantErr(t, "no member id, a generation", h.commit("g", "", 1, oc("t", 0, 1)), ErrUnknownMember)
	h.remove("g", 1, "a")
	if errs := partErrs(t, h.commit("g", "", -1, oc("t", 0, 1))); errs[0] != nil {
		t.Fatalf("standalone commit to an empty group: %v", errs[0])
	}
	if names := h.f.GroupNames(); fmt.Sprint(names) != "[g solo]" {
		t.Fatalf("GroupNames %v", names)
	}
}

func TestLegacyCommitOffsetNeverGoesBackward(t *testing.T) {
	h := groupHarness(t)
	wantErr(t, "commit", h.apply(CmdCommitOffset, &CommitOffsetCmd{Group: "g", Topic: "t", Partition: 0, Offset: 5}), nil)
	wantErr(t, "backward", h.apply(CmdCommitOffset, &CommitOffsetCmd{Group: "g", Topic: "t", Partition: 0, Offset: 4}), ErrOffsetRegression)
	wantErr(t, "equal", h.apply(CmdCommitOffset, &CommitOffsetCmd{Group: "g", Topic: "t", Partition: 0, Offset: 5}), nil)
	if got := committed(t, h.f, "g", "t", 0); got != 5 {
		t.Fatalf("stored %d", got)
	}
}

func TestResetOffsets(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 2, Config: TopicConfig{SegmentBytes: 1024, RetentionBytes: 2048}})
	for i := 0; i < 120; i++ {
		h.append("t", int32(i%2), fmt.Sprint(i), 5)
	}
	start0, end0, _ := h.f.Offsets("t", 0)
	start1, end1, _ := h.f.Offsets("t", 1)
	if start0 == 0 || start1 == 0 {
		t.Fatal("retention did not move the log start; the test needs it")
	}
	h.sync("g", 1, member("a", tps("t", 0, 1)))
	h.commit("g", "a", 1, oc("t", 0, end0), oc("t", 1, end1))
	wantErr(t, "reset with members", h.reset(ResetOffsetsCmd{Group: "g", Topic: "t", Mode: ResetEarliest}), ErrGroupNotEmpty)
	h.remove("g", 1, "a")

	got := h.reset(ResetOffsetsCmd{Group: "g", Topic: "t", Mode: ResetEarliest, Timestamp: 9000})
	want := []PartitionOffset{{"t", 0, start0}, {"t", 1, start1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reset to earliest: %v, want %v (backward is allowed)", got, want)
	}
	if c, _ := h.f.CommittedOffset("g", "t", 1); c.Offset != start1 || c.Timestamp != 9000 || c.Generation != -1 {
		t.Fatalf("stored %+v", c)
	}
	got = h.reset(ResetOffsetsCmd{Group: "g", Topic: "t", Partitions: []int32{1, 1}, Mode: ResetLatest})
	if !reflect.DeepEqual(got, []PartitionOffset{{"t", 1, end1}}) {
		t.Fatalf("reset to latest: %v", got)
	}
	if committed(t, h.f, "g", "t", 0) != start0 {
		t.Fatal("a reset of partition 1 changed partition 0")
	}
	got = h.reset(ResetOffsetsCmd{Group: "g", Topic: "t", Partitions: []int32{0}, Mode: ResetToOffset, Offset: start0 + 1})
	if !reflect.DeepEqual(got, []PartitionOffset{{"t", 0, start0 + 1}}) {
		t.Fatalf("reset to offset: %v", got)
	}
	for _, off := range []int64{start0 - 1, end0 + 1} {
		r := h.reset(ResetOffsetsCmd{Group: "g", Topic: "t", Mode: ResetToOffset, Offset: off})
		var re *mlog.OffsetRangeError
		if err, _ := r.(error); !errors.Is(err, ErrOffsetOutOfRange) || !errors.As(err, &re) || re.Start != start0 {
			t.Fatalf("reset to %d: %v", off, r)
		}
	}
	if committed(t, h.f, "g", "t", 0) != start0+1 || committed(t, h.f, "g", "t", 1) != end1 {
		t.Fatal("a rejected reset changed offsets")
	}
	wantErr(t, "unknown topic", h.reset(ResetOffsetsCmd{Group: "g", Topic: "x", Mode: ResetLatest}), ErrUnknownTopic)
	wantErr(t, "unknown partition", h.reset(ResetOffsetsCmd{Group: "g", Topic: "t", Partitions: []int32{0, 2}, Mode: ResetLatest}), ErrUnknownPartition)
	wantErr(t, "bad mode", h.reset(ResetOffsetsCmd{Group: "g", Topic: "t", Mode: 5}), ErrBadCommand)
	wantErr(t, "bad name", h.reset(ResetOffsetsCmd{Group: "", Topic: "t", Mode: ResetLatest}), ErrInvalidGroup)
	// A group never seen gets offsets.
	h.reset(ResetOffsetsCmd{Group: "fresh", Topic: "t", Mode: ResetLatest})
	if offs := h.f.GroupOffsets("fresh"); len(offs) != 2 || offs[0].Offset != end0 || offs[1].Partition != 1 || offs[1].Offset != end1 {
		t.Fatalf("fresh group offsets %+v", offs)
	}
	if _, ok := h.f.Group("fresh"); ok {
		t.Fatal("a reset created membership state")
	}
}

func TestDeleteGroup(t *testing.T) {
	h := groupHarness(t)
	h.sync("g", 1, member("a", tps("t", 0)))
	h.commit("g", "a", 1, oc("t", 0, 3))
	h.commit("other", "", -1, oc("t", 0, 4))
	wantErr(t, "delete with members", h.apply(CmdDeleteGroup, &DeleteGroupCmd{Group: "g"}), ErrGroupNotEmpty)
	wantErr(t, "delete unknown", h.apply(CmdDeleteGroup, &DeleteGroupCmd{Group: "nope"}), ErrUnknownGroup)
	h.remove("g", 1, "a")
	wantErr(t, "delete", h.apply(CmdDeleteGroup, &DeleteGroupCmd{Group: "g"}), nil)
	if _, ok := h.f.Group("g"); ok || len(h.f.GroupOffsets("g")) != 0 {
		t.Fatal("group or its offsets remain")
	}
	if committed(t, h.f, "other", "t", 0) != 4 {
		t.Fatal("another group's offsets went too")
	}
	wantErr(t, "delete an offsets-only group", h.apply(CmdDeleteGroup, &DeleteGroupCmd{Group: "other"}), nil)
	if names := h.f.GroupNames(); len(names) != 0 {
		t.Fatalf("GroupNames %v", names)
	}
	// A new group of the same name starts at generation 1.
	wantErr(t, "recreate", h.sync("g", 1), nil)
}

func TestDeleteTopicDropsCommittedOffsets(t *testing.T) {
	h := groupHarness(t)
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "u", Partitions: 1})
	h.append("u", 0, "u", 3)
	h.sync("g", 1, member("a", tps("t", 0), tps("u", 0)))
	h.commit("g", "a", 1, oc("t", 0, 2), oc("u", 0, 3))
	h.commit("h", "", -1, oc("t", 1, 2), oc("u", 0, 1))
	wantErr(t, "delete topic", h.apply(CmdDeleteTopic, &DeleteTopicCmd{Name: "u"}), nil)
	for _, g := range []string{"g", "h"} {
		for _, o := range h.f.GroupOffsets(g) {
			if o.Topic == "u" {
				t.Fatalf("group %s keeps an offset of the deleted topic: %+v", g, o)
			}
		}
		if len(h.f.GroupOffsets(g)) != 1 {
			t.Fatalf("group %s lost offsets of another topic: %+v", g, h.f.GroupOffsets(g))
		}
	}
	if g, _ := h.f.Group("g"); len(g.Members[0].Assignment) != 2 {
		t.Fatalf("the assignment is the coordinator's to change: %+v", g.Members[0].Assignment)
	}
	// A topic re-created under the name starts without offsets, and a
	// commit stamped with the old incarnation's bounds is refused.
	stale := CommitOffsetsCmd{Group: "h", Generation: -1, Offsets: []OffsetCommit{oc("t", 0, 1)}}
	b, _ := h.f.partitionBounds("t", 0)
	stale.Bounds = []PartitionBounds{b}
	h.apply(CmdDeleteTopic, &DeleteTopicCmd{Name: "t"})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 2})
	h.append("t", 0, "new", 5)
	if errs := partErrs(t, h.apply(CmdCommitOffsets, &stale)); !errors.Is(errs[0], ErrUnknownTopic) {
		t.Fatalf("commit stamped before the topic was re-created: %v", errs[0])
	}
}

func TestGroupReadsReturnCopies(t *testing.T) {
	h := groupHarness(t)
	h.sync("g", 1, member("a", tps("t", 0, 1)))
	g, _ := h.f.Group("g")
	g.Members[0].Assignment[0].Partitions[0] = 99
	g.Members[0].Topics[0] = "changed"
	gs := h.f.Groups()
	gs[0].Members[0].ID = "changed"
	if g2, _ := h.f.Group("g"); g2.Members[0].ID != "a" || g2.Members[0].Assignment[0].Partitions[0] != 0 || g2.Members[0].Topics[0] != "t" {
		t.Fatalf("a read's copy shares memory with the state: %+v", g2)
	}
}

// TestGroupCommandTypesPinned: command numbers are in Raft logs forever.
func TestGroupCommandTypesPinned(t *testing.T) {
	got := fmt.Sprint(uint8(CmdSyncGroup), uint8(CmdRemoveMembers), uint8(CmdCommitOffsets), uint8(CmdResetOffsets), uint8(CmdDeleteGroup),
		CmdSyncGroup, CmdRemoveMembers, CmdCommitOffsets, CmdResetOffsets, CmdDeleteGroup)
	if want := "8 9 10 11 12 SyncGroup RemoveMembers CommitOffsets ResetOffsets DeleteGroup"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
