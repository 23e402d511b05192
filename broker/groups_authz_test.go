package broker

import (
	"errors"
	"slices"
	"testing"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/internal/wire"
)

// join joins group as a new member subscribed to topics (the member-id
// round trip included) and returns the answer to the second JoinGroup.
func (c *pipeConn) join(group string, topics ...string) (wire.JoinGroupResponse, error) {
	c.t.Helper()
	req := &wire.JoinGroupRequest{Group: group, Topics: topics, SessionTimeoutMs: 30000, RebalanceTimeoutMs: 1000}
	var resp wire.JoinGroupResponse
	err := c.call(wire.JoinGroup, req, &resp)
	if resp.ErrorCode != wire.CodeMemberIDRequired {
		return resp, err
	}
	req.MemberID = resp.MemberID
	resp = wire.JoinGroupResponse{}
	err = c.call(wire.JoinGroup, req, &resp)
	return resp, err
}

// groupTopicsFixture creates topics "visible" and "hidden" (2 partitions
// each) and lets alice Read group "g" and topic "visible" only.
func groupTopicsFixture(t *testing.T) (b *Broker, root, alice *pipeConn) {
	t.Helper()
	b = startEnforcing(t)
	ctx := testCtx(t)
	admin := clientAs(t, b, auth.Principal{User: "root", Superuser: true})
	for _, n := range []string{"visible", "hidden"} {
		if err := admin.CreateTopic(ctx, n, client.TopicConfig{Partitions: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.CreateACLs(ctx, userACL("alice", client.ACLGroup, "g", client.ACLRead),
		userACL("alice", client.ACLTopic, "visible", client.ACLRead)); err != nil {
		t.Fatal(err)
	}
	return b, rawAs(t, b, auth.Principal{User: "root", Superuser: true}), rawAs(t, b, auth.Principal{User: "alice"})
}

// A principal with Describe on a group sees in DescribeGroup only the
// topics it may Describe: not the offsets, high watermarks and lag of
// the others, nor members' subscriptions and assignments of them.
func TestDescribeGroupHidesUndescribableTopics(t *testing.T) {
	_, root, alice := groupTopicsFixture(t)
	if err := root.produce("hidden"); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"visible", "hidden"} {
		if err := root.commit("g", topic); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := root.join("g", "visible", "hidden"); err != nil {
		t.Fatalf("root joins g: %v", err)
	}
	var dg wire.DescribeGroupResponse
	if err := alice.call(wire.DescribeGroup, &wire.DescribeGroupRequest{Group: "g"}, &dg); err != nil {
		t.Fatal(err)
	}
	sawVisible := false
	for _, o := range dg.Offsets {
		if o.Topic == "hidden" {
			t.Errorf("alice sees hidden's offsets: %+v", o)
		}
		sawVisible = sawVisible || o.Topic == "visible"
	}
	if !sawVisible {
		t.Errorf("alice does not see visible's offsets: %+v", dg.Offsets)
	}
	if len(dg.Members) != 1 {
		t.Fatalf("members %+v; want root's", dg.Members)
	}
	m := dg.Members[0]
	if !slices.Equal(m.Topics, []string{"visible"}) {
		t.Errorf("alice sees the member's subscription %v; want [visible]", m.Topics)
	}
	for _, a := range m.Assignment {
		if a.Topic != "visible" {
			t.Errorf("alice sees the member's assignment of %s: %+v", a.Topic, a)
		}
	}

	// The superuser still sees everything.
	dg = wire.DescribeGroupResponse{}
	if err := root.call(wire.DescribeGroup, &wire.DescribeGroupRequest{Group: "g"}, &dg); err != nil {
		t.Fatal(err)
	}
	if len(dg.Offsets) != 4 || !slices.Equal(dg.Members[0].Topics, []string{"hidden", "visible"}) {
		t.Errorf("root's view: offsets %+v, members %+v", dg.Offsets, dg.Members)
	}
}

// A JoinGroup whose subscription names a topic the principal may not
// Describe is refused with TopicAuthorization (whether the topic exists
// or not), instead of assigning its partitions.
func TestJoinGroupRefusesUndescribableTopics(t *testing.T) {
	_, _, alice := groupTopicsFixture(t)
	for _, topics := range [][]string{{"hidden"}, {"visible", "hidden"}, {"nosuch"}} {
		resp, err := alice.join("g", topics...)
		if !errors.Is(err, client.ErrTopicAuthorization) || len(resp.Assignment) > 0 {
			t.Errorf("join subscribed to %v: %v, assignment %+v; want TopicAuthorization", topics, err, resp.Assignment)
		}
	}
	resp, err := alice.join("g", "visible")
	if err != nil || len(resp.Assignment) != 1 || resp.Assignment[0].Topic != "visible" {
		t.Fatalf("join subscribed to visible: %v, assignment %+v", err, resp.Assignment)
	}
}
