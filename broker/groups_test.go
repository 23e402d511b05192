package broker_test

import (
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/internal/wire"
)

// The group coordinator, spoken to over the raw protocol: rebalances,
// fencing, expiry, admin and failover.

func joinReq(group, member string, topics ...string) *wire.JoinGroupRequest {
	return &wire.JoinGroupRequest{Group: group, MemberID: member, ClientID: "c", Topics: topics,
		SessionTimeoutMs: 10000, RebalanceTimeoutMs: 10000}
}

// join joins (first getting a member id if req has none) and waits for
// the answer.
func (c *rawConn) join(req *wire.JoinGroupRequest) wire.JoinGroupResponse {
	c.t.Helper()
	if req.MemberID == "" {
		r := *req
		r.MemberID = c.newMemberID(req)
		req = &r
	}
	var resp wire.JoinGroupResponse
	c.call(wire.JoinGroup, req, &resp)
	if err := resp.Err(); err != nil {
		c.t.Fatalf("join %s: %v", req.Group, err)
	}
	return resp
}

// newMemberID sends req with an empty member id, which the coordinator
// answers with MemberIDRequired and a new id, storing nothing.
func (c *rawConn) newMemberID(req *wire.JoinGroupRequest) string {
	c.t.Helper()
	r := *req
	r.MemberID = ""
	var resp wire.JoinGroupResponse
	c.call(wire.JoinGroup, &r, &resp)
	if resp.ErrorCode != wire.CodeMemberIDRequired || resp.MemberID == "" {
		c.t.Fatalf("first join: %+v", resp)
	}
	return resp.MemberID
}

func (c *rawConn) heartbeat(group, member string, gen int32) wire.Code {
	c.t.Helper()
	var resp wire.HeartbeatResponse
	c.call(wire.Heartbeat, &wire.HeartbeatRequest{Group: group, MemberID: member, Generation: gen}, &resp)
	return resp.ErrorCode
}

func (c *rawConn) commit(group, member string, gen int32, offsets ...wire.OffsetCommit) wire.CommitOffsetsResponse {
	c.t.Helper()
	var resp wire.CommitOffsetsResponse
	c.call(wire.CommitOffsets, &wire.CommitOffsetsRequest{Group: group, MemberID: member, Generation: gen, Offsets: offsets}, &resp)
	return resp
}

// waitHeartbeat heartbeats until the answer is want.
func (c *rawConn) waitHeartbeat(group, member string, gen int32, want wire.Code) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := c.heartbeat(group, member, gen)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("heartbeat of %s: %v, want %v", member, got, want)
		}
		time.Sleep(20 * time.Millisecond) // heartbeat interval, as a real client has
	}
}

func createTopic(t *testing.T, c *rawConn, name string, parts int32) {
	t.Helper()
	var resp wire.CreateTopicResponse
	c.call(wire.CreateTopic, &wire.CreateTopicRequest{Name: name, Partitions: parts}, &resp)
	if resp.ErrorCode != wire.CodeNone {
		t.Fatalf("create %s: %v", name, resp.ErrorMessage)
	}
}

func produceN(t *testing.T, c *rawConn, topic string, partition int32, n int) {
	t.Helper()
	vals := make([]string, n)
	for i := range vals {
		vals[i] = "v"
	}
	var resp wire.ProduceResponse
	c.call(wire.Produce, &wire.ProduceRequest{Topic: topic, Partition: partition, Acks: wire.AcksAll, Records: records(vals...)}, &resp)
	if resp.ErrorCode != wire.CodeNone {
		t.Fatalf("produce: %v", resp.ErrorMessage)
	}
}

func partitionsOf(resp wire.JoinGroupResponse) map[int32]bool {
	out := map[int32]bool{}
	for _, tp := range resp.Assignment {
		for _, p := range tp.Partitions {
			out[p] = true
		}
	}
	return out
}

func TestGroupRebalanceAndFencing(t *testing.T) {
	b := brokertest.NewBroker(t)
	c1, c2 := dialRaw(t, b.Addr()), dialRaw(t, b.Addr())
	createTopic(t, c1, "t", 4)
	produceN(t, c1, "t", 0, 10)
	produceN(t, c1, "t", 3, 10)

	j1 := c1.join(joinReq("g", "", "t"))
	if j1.Generation != 1 || len(partitionsOf(j1)) != 4 || j1.MemberID == "" {
		t.Fatalf("first join: %+v", j1)
	}
	// A second member's join waits for the first to rejoin.
	r2 := joinReq("g", "", "t")
	r2.MemberID = c2.newMemberID(r2)
	c2.send(wire.JoinGroup, 0, r2)
	c1.waitHeartbeat("g", j1.MemberID, 1, wire.CodeRebalanceInProgress)
	// Generation 1 is still valid while the group rebalances: m1 commits
	// what it processed before it rejoins.
	if r := c1.commit("g", j1.MemberID, 1, wire.OffsetCommit{Topic: "t", Partition: 3, Offset: 5}); r.ErrorCode != 0 || r.Results[0].ErrorCode != 0 {
		t.Fatalf("commit during rebalance: %+v", r)
	}
	j1b := c1.join(joinReq("g", j1.MemberID, "t"))
	var j2 wire.JoinGroupResponse
	if _, err := c2.recv(&j2); err != nil || j2.Err() != nil {
		t.Fatalf("second join: %v %v", err, j2.Err())
	}
	if j1b.Generation != 2 || j2.Generation != 2 {
		t.Fatalf("generations %d and %d, want 2", j1b.Generation, j2.Generation)
	}
	p1, p2 := partitionsOf(j1b), partitionsOf(j2)
	if len(p1) != 2 || len(p2) != 2 {
		t.Fatalf("assignments %v and %v", p1, p2)
	}
	for p := range p1 {
		if p2[p] {
			t.Fatalf("partition %d owned twice", p)
		}
	}
	// A stale generation is fenced.
	if r := c1.commit("g", j1.MemberID, 1, wire.OffsetCommit{Topic: "t", Partition: 0, Offset: 1}); r.ErrorCode != wire.CodeIllegalGeneration {
		t.Fatalf("stale commit: %+v", r)
	}
	mine, theirs := int32(0), int32(3)
	if !p1[0] {
		mine, theirs = 3, 0
	}
	r := c1.commit("g", j1.MemberID, 2,
		wire.OffsetCommit{Topic: "t", Partition: mine, Offset: 7},
		wire.OffsetCommit{Topic: "t", Partition: theirs, Offset: 7})
	if r.ErrorCode != 0 || r.Results[0].ErrorCode != 0 || r.Results[1].ErrorCode != wire.CodeNotAssigned {
		t.Fatalf("commit: %+v", r)
	}
	r = c1.commit("g", j1.MemberID, 2, wire.OffsetCommit{Topic: "t", Partition: mine, Offset: 6})
	if r.ErrorCode != 0 || r.Results[0].ErrorCode != wire.CodeOffsetRegression {
		t.Fatalf("backward commit: %+v", r)
	}
	var fo wire.FetchOffsetsResponse
	c1.call(wire.FetchOffsets, &wire.FetchOffsetsRequest{Group: "g", Partitions: []wire.TopicPartitions{{Topic: "t", Partitions: []int32{mine, 1}}}}, &fo)
	if fo.Err() != nil || fo.Offsets[0].Offset != 7 || fo.Offsets[1].Offset != wire.NoOffset {
		t.Fatalf("fetch offsets: %+v", fo)
	}
	// Leaving moves everything to the other member.
	var lr wire.LeaveGroupResponse
	c1.call(wire.LeaveGroup, &wire.LeaveGroupRequest{Group: "g", MemberID: j1.MemberID}, &lr)
	if lr.Err() != nil {
		t.Fatal(lr.Err())
	}
	c2.waitHeartbeat("g", j2.MemberID, 2, wire.CodeRebalanceInProgress)
	if j := c2.join(joinReq("g", j2.MemberID, "t")); j.Generation != 3 || len(partitionsOf(j)) != 4 {
		t.Fatalf("after leave: %+v", j)
	}
}

func TestGroupSessionExpiryFencesTheZombie(t *testing.T) {
	b := brokertest.NewBroker(t)
	c1, c2 := dialRaw(t, b.Addr()), dialRaw(t, b.Addr())
	createTopic(t, c1, "t", 2)
	req := joinReq("g", "", "t")
	req.SessionTimeoutMs = 300
	j1 := c1.join(req)
	req2 := *req
	req2.MemberID = c2.newMemberID(req)
	c2.send(wire.JoinGroup, 0, &req2)
	c1.waitHeartbeat("g", j1.MemberID, 1, wire.CodeRebalanceInProgress)
	req1 := *req
	req1.MemberID = j1.MemberID
	j1 = c1.join(&req1)
	var j2 wire.JoinGroupResponse
	if _, err := c2.recv(&j2); err != nil || j2.Err() != nil {
		t.Fatal(err, j2.Err())
	}
	// m2 goes silent; m1 keeps heartbeating and is told to rebalance once
	// m2's session has expired.
	c1.waitHeartbeat("g", j1.MemberID, j1.Generation, wire.CodeRebalanceInProgress)
	// The zombie's commit is rejected.
	zombie := partitionsOf(j2)
	for p := range zombie {
		if r := c2.commit("g", j2.MemberID, j2.Generation, wire.OffsetCommit{Topic: "t", Partition: p, Offset: 0}); r.ErrorCode != wire.CodeUnknownMember {
			t.Fatalf("zombie commit: %+v", r)
		}
	}
	if code := c2.heartbeat("g", j2.MemberID, j2.Generation); code != wire.CodeUnknownMember {
		t.Fatalf("zombie heartbeat: %v", code)
	}
	j1 = c1.join(&req1)
	if len(partitionsOf(j1)) != 2 {
		t.Fatalf("survivor owns %v", j1.Assignment)
	}
}

func TestGroupAdmin(t *testing.T) {
	b := brokertest.NewBroker(t)
	c := dialRaw(t, b.Addr())
	createTopic(t, c, "t", 2)
	produceN(t, c, "t", 0, 10)
	var d wire.DescribeGroupResponse
	c.call(wire.DescribeGroup, &wire.DescribeGroupRequest{Group: "nope"}, &d)
	if d.ErrorCode != wire.CodeUnknownGroup {
		t.Fatalf("describe unknown: %+v", d)
	}
	j := c.join(joinReq("g", "", "t"))
	if r := c.commit("g", j.MemberID, j.Generation, wire.OffsetCommit{Topic: "t", Partition: 0, Offset: 4}); r.Results[0].ErrorCode != 0 {
		t.Fatalf("commit: %+v", r)
	}
	c.call(wire.DescribeGroup, &wire.DescribeGroupRequest{Group: "g"}, &d)
	if d.Err() != nil || d.State != wire.GroupStable || len(d.Members) != 1 || len(d.Offsets) != 2 {
		t.Fatalf("describe: %+v", d)
	}
	if o := d.Offsets[0]; o.Committed != 4 || o.HighWatermark != 10 || o.Lag != 6 {
		t.Fatalf("partition 0: %+v", o)
	}
	if o := d.Offsets[1]; o.Committed != wire.NoOffset || o.Lag != 0 {
		t.Fatalf("partition 1: %+v", o)
	}
	var rr wire.ResetOffsetsResponse
	c.call(wire.ResetOffsets, &wire.ResetOffsetsRequest{Group: "g", Topic: "t", To: wire.ResetEarliest}, &rr)
	if rr.ErrorCode != wire.CodeGroupNotEmpty {
		t.Fatalf("reset with members: %+v", rr)
	}
	var lr wire.LeaveGroupResponse
	c.call(wire.LeaveGroup, &wire.LeaveGroupRequest{Group: "g", MemberID: j.MemberID}, &lr)
	c.call(wire.ResetOffsets, &wire.ResetOffsetsRequest{Group: "g", Topic: "t", Partitions: []int32{0}, To: wire.ResetTo, Offset: 2}, &rr)
	if rr.Err() != nil || len(rr.Offsets) != 1 || rr.Offsets[0].Offset != 2 {
		t.Fatalf("reset backwards: %+v", rr)
	}
	var lg wire.ListGroupsResponse
	c.call(wire.ListGroups, &wire.ListGroupsRequest{}, &lg)
	if lg.Err() != nil || len(lg.Groups) != 1 || lg.Groups[0].Group != "g" || lg.Groups[0].State != wire.GroupEmpty {
		t.Fatalf("list: %+v", lg)
	}
	var dg wire.DeleteGroupResponse
	c.call(wire.DeleteGroup, &wire.DeleteGroupRequest{Group: "g"}, &dg)
	if dg.Err() != nil {
		t.Fatal(dg.Err())
	}
	c.call(wire.ListGroups, &wire.ListGroupsRequest{}, &lg)
	if len(lg.Groups) != 0 {
		t.Fatalf("after delete: %+v", lg)
	}
}

func TestGroupBadJoins(t *testing.T) {
	b := brokertest.NewBroker(t)
	c := dialRaw(t, b.Addr())
	for _, req := range []*wire.JoinGroupRequest{
		joinReq("bad name", "", "t"),
		joinReq("g", ""),
		{Group: "g", Topics: []string{"t"}, Strategy: "magic", SessionTimeoutMs: 1000, RebalanceTimeoutMs: 1000},
		{Group: "g", Topics: []string{"t"}, SessionTimeoutMs: 1, RebalanceTimeoutMs: 1000},
	} {
		var resp wire.JoinGroupResponse
		c.call(wire.JoinGroup, req, &resp)
		if resp.ErrorCode != wire.CodeInvalidGroup {
			t.Errorf("%+v: %v, want InvalidGroup", req, resp.ErrorCode)
		}
	}
	var resp wire.JoinGroupResponse
	c.call(wire.JoinGroup, joinReq("g", "ghost", "t"), &resp)
	if resp.ErrorCode != wire.CodeUnknownMember {
		t.Fatalf("unknown member id: %v", resp.ErrorCode)
	}
}

// TestGroupSurvivesLeaderFailover: generation, assignment and commits are
// replicated; the new leader's coordinator knows the member.
func TestGroupSurvivesLeaderFailover(t *testing.T) {
	cl := brokertest.NewCluster(t, 3)
	li := cl.WaitLeader()
	c := dialRaw(t, cl.Broker(li).Addr())
	createTopic(t, c, "t", 2)
	produceN(t, c, "t", 1, 5)
	j := c.join(joinReq("g", "", "t"))
	if r := c.commit("g", j.MemberID, j.Generation, wire.OffsetCommit{Topic: "t", Partition: 1, Offset: 3}); r.Results[0].ErrorCode != 0 {
		t.Fatalf("commit: %+v", r)
	}
	cl.Kill(li)
	c2 := dialRaw(t, cl.Leader().Addr())
	c2.waitHeartbeat("g", j.MemberID, j.Generation, wire.CodeNone)
	var fo wire.FetchOffsetsResponse
	c2.call(wire.FetchOffsets, &wire.FetchOffsetsRequest{Group: "g"}, &fo)
	if fo.Err() != nil || len(fo.Offsets) != 1 || fo.Offsets[0].Offset != 3 {
		t.Fatalf("offsets after failover: %+v", fo)
	}
	if j2 := c2.join(joinReq("g", j.MemberID, "t")); j2.Generation != j.Generation || len(partitionsOf(j2)) != 2 {
		t.Fatalf("rejoin after failover: %+v", j2)
	}
	if r := c2.commit("g", j.MemberID, j.Generation, wire.OffsetCommit{Topic: "t", Partition: 1, Offset: 5}); r.Results[0].ErrorCode != 0 {
		t.Fatalf("commit after failover: %+v", r)
	}
	cl.VerifyReplicas()
}
