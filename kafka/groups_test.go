package kafka_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group protocol tests with raw kmsg requests over TCP.

func findCoordinator(t *testing.T, k *kconn, version int16, group string) *kmsg.FindCoordinatorResponse {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.SetVersion(version)
	req.CoordinatorKey, req.CoordinatorKeys = group, []string{group}
	return k.do(req).(*kmsg.FindCoordinatorResponse)
}

// joinReq is a JoinGroup of the consumer protocol with one protocol,
// "range", whose metadata is md.
func joinReq(version int16, group, member, instance string, md string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.SetVersion(version)
	req.Group, req.MemberID, req.ProtocolType = group, member, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 6000, 3000
	if instance != "" {
		req.InstanceID = &instance
	}
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte(md)
	req.Protocols = []kmsg.JoinGroupRequestProtocol{p}
	return req
}

func join(t *testing.T, k *kconn, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	t.Helper()
	return k.do(req).(*kmsg.JoinGroupResponse)
}

func syncGroup(t *testing.T, k *kconn, version int16, group, member string, gen int32, assign map[string]string) *kmsg.SyncGroupResponse {
	t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.SetVersion(version)
	req.Group, req.MemberID, req.Generation = group, member, gen
	for m, a := range assign {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = m, []byte(a)
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	return k.do(req).(*kmsg.SyncGroupResponse)
}

func heartbeat(t *testing.T, k *kconn, group, member, instance string, gen int32) int16 {
	t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.SetVersion(4)
	req.Group, req.MemberID, req.Generation = group, member, gen
	if instance != "" {
		req.InstanceID = &instance
	}
	return k.do(req).(*kmsg.HeartbeatResponse).ErrorCode
}

func commit(t *testing.T, k *kconn, version int16, group, member, instance string, gen int32, topic string, partition int32, offset int64) int16 {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.SetVersion(version)
	req.Group, req.MemberID, req.Generation = group, member, gen
	if instance != "" {
		req.InstanceID = &instance
	}
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := k.do(req).(*kmsg.OffsetCommitResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func fetchOffset(t *testing.T, k *kconn, group, topic string, partition int32) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.SetVersion(7)
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	req.Topics = append(req.Topics, rt)
	resp := k.do(req).(*kmsg.OffsetFetchResponse)
	if resp.ErrorCode != 0 {
		return -1, resp.ErrorCode
	}
	return resp.Topics[0].Partitions[0].Offset, resp.Topics[0].Partitions[0].ErrorCode
}

func describe(t *testing.T, k *kconn, group string) kmsg.DescribeGroupsResponseGroup {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.SetVersion(5)
	req.Groups = []string{group}
	return k.do(req).(*kmsg.DescribeGroupsResponse).Groups[0]
}

func wantCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: error code %d, want %d", what, got, want)
	}
}

// A full life: MEMBER_ID_REQUIRED, join, sync, heartbeat, commit; a second
// member's join is held while the first heartbeats REBALANCE_IN_PROGRESS
// and rejoins; commits are fenced by generation and by the pending
// assignment; leaving, describing, listing and deleting.
func TestGroupLifecycle(t *testing.T) {
	b := newBroker(t)
	k1, k2 := dial(t, b.KafkaAddr()), dial(t, b.KafkaAddr())
	createTopic(t, k1, "gt", 2)
	produce(t, k1, 9, "gt", 0, kafkaBatch(1, -1, -1, -1, "a", "b", "c"))

	fc := findCoordinator(t, k1, 4, "g")
	if len(fc.Coordinators) != 1 || fc.Coordinators[0].ErrorCode != 0 || fc.Coordinators[0].Host+":"+itoa(fc.Coordinators[0].Port) != b.KafkaAddr() {
		t.Fatalf("FindCoordinator v4: %+v", fc)
	}
	if fc := findCoordinator(t, k1, 0, "g"); fc.ErrorCode != 0 || fc.Host+":"+itoa(fc.Port) != b.KafkaAddr() {
		t.Fatalf("FindCoordinator v0: %+v", fc)
	}

	r := join(t, k1, joinReq(7, "g", "", "", "md1"))
	wantCode(t, "first JoinGroup v7", r.ErrorCode, 79) // MEMBER_ID_REQUIRED
	m1 := r.MemberID
	if m1 == "" {
		t.Fatal("MEMBER_ID_REQUIRED without a member id")
	}
	r = join(t, k1, joinReq(7, "g", m1, "", "md1"))
	if r.ErrorCode != 0 || r.Generation != 1 || r.LeaderID != m1 || len(r.Members) != 1 || string(r.Members[0].ProtocolMetadata) != "md1" ||
		deref(r.Protocol) != "range" || deref(r.ProtocolType) != "consumer" {
		t.Fatalf("join: %+v", r)
	}
	s := syncGroup(t, k1, 5, "g", m1, 1, map[string]string{m1: "as1"})
	if s.ErrorCode != 0 || string(s.MemberAssignment) != "as1" {
		t.Fatalf("sync: %+v", s)
	}
	wantCode(t, "heartbeat", heartbeat(t, k1, "g", m1, "", 1), 0)
	wantCode(t, "commit", commit(t, k1, 8, "g", m1, "", 1, "gt", 0, 2), 0)
	if off, code := fetchOffset(t, k1, "g", "gt", 0); off != 2 || code != 0 {
		t.Fatalf("offset fetch: %d, code %d", off, code)
	}
	wantCode(t, "standalone commit to a group with members", commit(t, k1, 8, "g", "", "", -1, "gt", 0, 3), 25)
	wantCode(t, "commit of an unknown member", commit(t, k1, 8, "g", "nobody", "", 1, "gt", 0, 3), 25)

	// A second member: its join is held until the first rejoins.
	j2 := joinReq(7, "g", "", "", "md2")
	r = join(t, k2, j2)
	wantCode(t, "second member's first join", r.ErrorCode, 79)
	m2 := r.MemberID
	corr := k2.send(joinReq(7, "g", m2, "", "md2"))
	// A request behind the held join on its connection is answered after
	// it (request order); other connections go on.
	av := kmsg.NewPtrApiVersionsRequest()
	avCorr := k2.send(av)
	waitFor(t, "the first member's heartbeat to say REBALANCE_IN_PROGRESS", func() bool {
		return heartbeat(t, k1, "g", m1, "", 1) == 27
	})
	// During the join phase the current generation may still commit.
	wantCode(t, "commit while rebalancing, before rejoining", commit(t, k1, 8, "g", m1, "", 1, "gt", 0, 3), 0)
	r = join(t, k1, joinReq(7, "g", m1, "", "md1"))
	r2 := k2.recv(j2, corr).(*kmsg.JoinGroupResponse)
	k2.recv(av, avCorr)
	if r.ErrorCode != 0 || r2.ErrorCode != 0 || r.Generation != 2 || r2.Generation != 2 || r.LeaderID != m1 || r2.LeaderID != m1 ||
		len(r.Members) != 2 || len(r2.Members) != 0 {
		t.Fatalf("joins of generation 2: %+v / %+v", r, r2)
	}
	wantCode(t, "commit of the old generation", commit(t, k1, 8, "g", m1, "", 1, "gt", 0, 3), 22)
	wantCode(t, "commit before the assignment is recorded", commit(t, k1, 8, "g", m1, "", 2, "gt", 0, 3), 27)
	// The follower's SyncGroup is held until the leader's arrives.
	sreq := kmsg.NewPtrSyncGroupRequest()
	sreq.Group, sreq.MemberID, sreq.Generation = "g", m2, 2
	corr = k2.send(sreq)
	s = syncGroup(t, k1, 5, "g", m1, 2, map[string]string{m1: "as1-2", m2: "as2-2"})
	s2 := k2.recv(sreq, corr).(*kmsg.SyncGroupResponse)
	if s.ErrorCode != 0 || s2.ErrorCode != 0 || string(s.MemberAssignment) != "as1-2" || string(s2.MemberAssignment) != "as2-2" {
		t.Fatalf("syncs: %+v / %+v", s, s2)
	}
	wantCode(t, "commit in generation 2", commit(t, k2, 2, "g", m2, "", 2, "gt", 1, 0), 0)
	d := describe(t, k1, "g")
	if d.ErrorCode != 0 || d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol != "range" || len(d.Members) != 2 {
		t.Fatalf("describe: %+v", d)
	}

	// Leave (v3 batch of one, then v0) and the group empties.
	lreq := kmsg.NewPtrLeaveGroupRequest()
	lreq.SetVersion(4)
	lreq.Group = "g"
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = m2
	lreq.Members = []kmsg.LeaveGroupRequestMember{lm}
	lr := k2.do(lreq).(*kmsg.LeaveGroupResponse)
	if lr.ErrorCode != 0 || len(lr.Members) != 1 || lr.Members[0].ErrorCode != 0 {
		t.Fatalf("leave v4: %+v", lr)
	}
	wantCode(t, "heartbeat after the other left", heartbeat(t, k1, "g", m1, "", 2), 27)
	lreq0 := kmsg.NewPtrLeaveGroupRequest()
	lreq0.Group, lreq0.MemberID = "g", m1
	wantCode(t, "leave v0", k1.do(lreq0).(*kmsg.LeaveGroupResponse).ErrorCode, 0)
	waitFor(t, "the group to be empty", func() bool { return describe(t, k1, "g").State == "Empty" })
	waitFor(t, "a standalone commit once the emptied group is recorded", func() bool {
		return commit(t, k1, 8, "g", "", "", -1, "gt", 0, 3) == 0
	})

	lg := kmsg.NewPtrListGroupsRequest()
	lg.SetVersion(4)
	groups := k1.do(lg).(*kmsg.ListGroupsResponse)
	if groups.ErrorCode != 0 || len(groups.Groups) != 1 || groups.Groups[0].Group != "g" || groups.Groups[0].GroupState != "Empty" {
		t.Fatalf("list: %+v", groups)
	}
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = "gt"
	odt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}
	od.Topics = append(od.Topics, odt)
	if odr := k1.do(od).(*kmsg.OffsetDeleteResponse); odr.ErrorCode != 0 || odr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete: %+v", odr)
	}
	if off, _ := fetchOffset(t, k1, "g", "gt", 1); off != -1 {
		t.Fatalf("offset after OffsetDelete: %d", off)
	}
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.SetVersion(2)
	dg.Groups = []string{"g", "nope"}
	dr := k1.do(dg).(*kmsg.DeleteGroupsResponse)
	if dr.Groups[0].ErrorCode != 0 || dr.Groups[1].ErrorCode != 69 {
		t.Fatalf("delete groups: %+v", dr)
	}
	if d := describe(t, k1, "g"); d.State != "Dead" {
		t.Fatalf("describe after delete: %+v", d)
	}
}

// MEMBER_ID_REQUIRED only from JoinGroup v4: older versions get an id and
// join at once (kafka-go sends v2 and loops forever on the code).
func TestJoinGroupMemberIDRequiredV4Only(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	for v := int16(0); v <= 7; v++ {
		group := "v" + itoa(int32(v))
		r := join(t, k, joinReq(v, group, "", "", "md"))
		if v >= 4 {
			wantCode(t, "JoinGroup v"+itoa(int32(v)), r.ErrorCode, 79)
			r = join(t, k, joinReq(v, group, r.MemberID, "", "md"))
		}
		if r.ErrorCode != 0 || r.MemberID == "" || r.Generation != 1 || r.LeaderID != r.MemberID {
			t.Fatalf("JoinGroup v%d: %+v", v, r)
		}
		if s := syncGroup(t, k, min(v, 5), group, r.MemberID, 1, map[string]string{r.MemberID: "x"}); s.ErrorCode != 0 || string(s.MemberAssignment) != "x" {
			t.Fatalf("SyncGroup after JoinGroup v%d: %+v", v, s)
		}
	}
}

// Static membership: a rejoin with a known instance id and an empty member
// id replaces the member id without a rebalance; the old id is fenced.
func TestStaticMembership(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "st", 1)
	r := join(t, k, joinReq(5, "sg", "", "inst-1", "md"))
	if r.ErrorCode != 0 || r.Generation != 1 {
		t.Fatalf("static join: %+v", r)
	}
	old := r.MemberID
	wantCode(t, "sync", syncGroup(t, k, 5, "sg", old, 1, map[string]string{old: "as"}).ErrorCode, 0)

	k2 := dial(t, b.KafkaAddr()) // the restarted instance
	r = join(t, k2, joinReq(5, "sg", "", "inst-1", "md"))
	if r.ErrorCode != 0 || r.Generation != 1 || r.MemberID == old || r.LeaderID != r.MemberID {
		t.Fatalf("static rejoin: %+v", r)
	}
	nw := r.MemberID
	if s := syncGroup(t, k2, 5, "sg", nw, 1, nil); s.ErrorCode != 0 || string(s.MemberAssignment) != "as" {
		t.Fatalf("sync of the new instance: %+v", s)
	}
	wantCode(t, "heartbeat of the new instance", heartbeat(t, k2, "sg", nw, "inst-1", 1), 0)
	wantCode(t, "heartbeat of the old instance", heartbeat(t, k, "sg", old, "inst-1", 1), 82)
	wantCode(t, "commit of the old instance", commit(t, k, 7, "sg", old, "inst-1", 1, "st", 0, 0), 82)
	wantCode(t, "join of the old instance", join(t, k, joinReq(5, "sg", old, "inst-1", "md")).ErrorCode, 82)
	wantCode(t, "commit of the new instance", commit(t, k2, 7, "sg", nw, "inst-1", 1, "st", 0, 0), 0)

	// Leave by instance id.
	lreq := kmsg.NewPtrLeaveGroupRequest()
	lreq.SetVersion(3)
	lreq.Group = "sg"
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.InstanceID = strp("inst-1")
	lreq.Members = []kmsg.LeaveGroupRequestMember{lm}
	if lr := k2.do(lreq).(*kmsg.LeaveGroupResponse); lr.ErrorCode != 0 || lr.Members[0].ErrorCode != 0 {
		t.Fatalf("leave by instance id: %+v", lr)
	}
	wantCode(t, "heartbeat after leaving", heartbeat(t, k2, "sg", nw, "inst-1", 1), 25)
}

// A member that stops heartbeating is removed after its session timeout;
// its commits are refused from then on.
func TestSessionExpiry(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "se", 1)
	req := joinReq(3, "eg", "", "", "md")
	req.SessionTimeoutMillis = 1000
	r := join(t, k, req)
	wantCode(t, "join", r.ErrorCode, 0)
	wantCode(t, "sync", syncGroup(t, k, 3, "eg", r.MemberID, 1, map[string]string{r.MemberID: "a"}).ErrorCode, 0)
	start := time.Now()
	waitFor(t, "the member to expire", func() bool { return describe(t, k, "eg").State == "Empty" })
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Fatalf("expired after %v, session is 1s", el)
	}
	wantCode(t, "commit of the expired member", commit(t, k, 3, "eg", r.MemberID, "", 1, "se", 0, 0), 25)
	wantCode(t, "session timeout below the minimum", join(t, k, func() *kmsg.JoinGroupRequest {
		q := joinReq(3, "eg", "", "", "md")
		q.SessionTimeoutMillis = 10
		return q
	}()).ErrorCode, 26)
}

// Two Kafka clients with different protocol types, or with no protocol in
// common, cannot share a group.
func TestInconsistentGroupProtocol(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	r := join(t, k, joinReq(3, "ig", "", "", "md"))
	wantCode(t, "join", r.ErrorCode, 0)
	other := joinReq(3, "ig", "", "", "md")
	other.ProtocolType = "connect"
	wantCode(t, "another protocol type", join(t, dial(t, b.KafkaAddr()), other).ErrorCode, 23)
	other = joinReq(3, "ig", "", "", "md")
	other.Protocols[0].Name = "roundrobin"
	wantCode(t, "no common protocol", join(t, dial(t, b.KafkaAddr()), other).ErrorCode, 23)
}

// A member that does not rejoin within the rebalance timeout is dropped;
// the others get the next generation without it.
func TestRebalanceTimeoutDropsStragglers(t *testing.T) {
	b := newBroker(t)
	k1, k2 := dial(t, b.KafkaAddr()), dial(t, b.KafkaAddr())
	jr := func(member, md string) *kmsg.JoinGroupRequest {
		q := joinReq(3, "rt", member, "", md)
		q.RebalanceTimeoutMillis = 500
		return q
	}
	r1 := join(t, k1, jr("", "a"))
	m1 := r1.MemberID
	wantCode(t, "sync 1", syncGroup(t, k1, 3, "rt", m1, 1, map[string]string{m1: "x"}).ErrorCode, 0)
	j2 := jr("", "b")
	c2 := k2.send(j2)
	waitFor(t, "the rebalance", func() bool { return heartbeat(t, k1, "rt", m1, "", 1) == 27 })
	r1 = join(t, k1, jr(m1, "a"))
	r2 := k2.recv(j2, c2).(*kmsg.JoinGroupResponse)
	m2 := r2.MemberID
	if r1.Generation != 2 || r2.Generation != 2 {
		t.Fatalf("generation 2: %+v / %+v", r1, r2)
	}
	sreq := kmsg.NewPtrSyncGroupRequest()
	sreq.Group, sreq.MemberID, sreq.Generation = "rt", m2, 2
	c2 = k2.send(sreq)
	wantCode(t, "sync 2", syncGroup(t, k1, 3, "rt", m1, 2, map[string]string{m1: "x", m2: "y"}).ErrorCode, 0)
	wantCode(t, "sync 2 of the second", k2.recv(sreq, c2).(*kmsg.SyncGroupResponse).ErrorCode, 0)

	// The first member changes its subscription; the second never rejoins.
	start := time.Now()
	r1 = join(t, k1, jr(m1, "a2"))
	if r1.ErrorCode != 0 || r1.Generation != 3 || len(r1.Members) != 1 {
		t.Fatalf("join without the straggler: %+v", r1)
	}
	if el := time.Since(start); el < 450*time.Millisecond {
		t.Fatalf("the join phase ended after %v, before the 500ms rebalance timeout", el)
	}
	wantCode(t, "the straggler's heartbeat", heartbeat(t, k2, "rt", m2, "", 2), 25)
}
