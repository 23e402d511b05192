package broker_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/internal/wire"
)

// describe asks the broker at addr for DescribeCluster.
func describe(t *testing.T, addr string) wire.DescribeClusterResponse {
	t.Helper()
	var resp wire.DescribeClusterResponse
	dialRaw(t, addr).call(wire.DescribeCluster, &wire.DescribeClusterRequest{}, &resp)
	if resp.ErrorCode != wire.CodeNone {
		t.Fatalf("DescribeCluster at %s: %+v", addr, resp)
	}
	return resp
}

// removeNode sends RemoveNode for id to the broker at addr.
func removeNode(t *testing.T, addr, id string) wire.RemoveNodeResponse {
	t.Helper()
	var resp wire.RemoveNodeResponse
	dialRaw(t, addr).call(wire.RemoveNode, &wire.RemoveNodeRequest{ID: id}, &resp)
	return resp
}

func nodeIDs(resp wire.DescribeClusterResponse) []string {
	var ids []string
	for _, n := range resp.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

func TestDescribeCluster(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	lead := c.Leader()
	var resp wire.DescribeClusterResponse
	waitFor(t, "every node's client address registered", func() bool {
		resp = describe(t, lead.Addr())
		for _, n := range resp.Nodes {
			if n.Addr == "" {
				return false
			}
		}
		return len(resp.Nodes) == 3
	})
	if resp.NodeID != lead.ID() || resp.LeaderID != lead.ID() || resp.Term == 0 ||
		resp.CommitIndex == 0 || resp.AppliedIndex > resp.CommitIndex || resp.LastLogIndex < resp.CommitIndex {
		t.Fatalf("leader's view: %+v", resp)
	}
	if got := nodeIDs(resp); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("nodes %v", got)
	}
	// Every node has a distinct numeric id, given through Raft.
	nums := map[int32]bool{}
	for _, n := range resp.Nodes {
		if n.Num <= 0 || nums[n.Num] {
			t.Fatalf("numeric ids not distinct and positive: %+v", resp.Nodes)
		}
		nums[n.Num] = true
	}
	for i := range c.Len() {
		b := c.Broker(i)
		n := resp.Nodes[i]
		if n.Addr != b.Addr() || n.RaftAddr != b.RaftAddr() || !n.Voter || n.Leader != (b.ID() == lead.ID()) {
			t.Errorf("node %d: %+v; broker at %s, raft %s", i, n, b.Addr(), b.RaftAddr())
		}
	}
	follower := c.Broker((c.WaitLeader() + 1) % 3)
	fresp := describe(t, follower.Addr())
	if fresp.NodeID != follower.ID() || fresp.LeaderID != lead.ID() || len(fresp.Nodes) != 3 {
		t.Fatalf("follower's view: %+v", fresp)
	}
	c.VerifyReplicas()
}

func TestRemoveDeadNode(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	leadIdx := c.WaitLeader()
	lead := c.Broker(leadIdx)
	victim := (leadIdx + 1) % 3
	victimID := c.Broker(victim).ID()
	other := c.Broker((leadIdx + 2) % 3)
	waitFor(t, "the victim's address registered", func() bool {
		for _, n := range describe(t, lead.Addr()).Nodes {
			if n.ID == victimID && n.Addr != "" {
				return true
			}
		}
		return false
	})
	c.Kill(victim)
	waitFor(t, "the follower to know the leader's address", func() bool {
		_, addr := other.Leader()
		return addr == lead.Addr()
	})
	if r := removeNode(t, other.Addr(), victimID); r.ErrorCode != wire.CodeNotLeader || r.LeaderAddr != lead.Addr() {
		t.Fatalf("RemoveNode at a follower: %+v", r)
	}
	if r := removeNode(t, lead.Addr(), victimID); r.ErrorCode != wire.CodeNone {
		t.Fatalf("RemoveNode(%s): %+v", victimID, r)
	}
	resp := describe(t, lead.Addr())
	if got := nodeIDs(resp); slices.Contains(got, victimID) || len(got) != 2 {
		t.Fatalf("nodes after removal: %v", got)
	}
	var md wire.MetadataResponse
	dialRaw(t, lead.Addr()).call(wire.Metadata, &wire.MetadataRequest{}, &md)
	for _, n := range md.Nodes {
		if n.ID == victimID {
			t.Fatalf("metadata still lists the removed node: %+v", md.Nodes)
		}
	}
	if r := removeNode(t, lead.Addr(), victimID); r.ErrorCode != wire.CodeUnknownNode {
		t.Fatalf("second RemoveNode(%s): %+v", victimID, r)
	}
	if r := removeNode(t, lead.Addr(), "nobody"); r.ErrorCode != wire.CodeUnknownNode {
		t.Fatalf("RemoveNode(nobody): %+v", r)
	}
	if r := removeNode(t, lead.Addr(), ""); r.ErrorCode != wire.CodeMalformed {
		t.Fatalf("RemoveNode(\"\"): %+v", r)
	}
	// The two left still make a quorum: writes go on.
	raw := dialRaw(t, lead.Addr())
	var ct wire.CreateTopicResponse
	raw.call(wire.CreateTopic, &wire.CreateTopicRequest{Name: "after", Partitions: 1}, &ct)
	if ct.ErrorCode != wire.CodeNone {
		t.Fatalf("create after removal: %+v", ct)
	}
	c.VerifyReplicas()
}

func TestRemoveLiveFollowerStaysOut(t *testing.T) {
	c := brokertest.NewCluster(t, 3, withMetrics)
	lead := c.Leader()
	victim := c.Broker((c.WaitLeader() + 1) % 3)
	if r := removeNode(t, lead.Addr(), victim.ID()); r.ErrorCode != wire.CodeNone {
		t.Fatalf("RemoveNode(%s): %+v", victim.ID(), r)
	}
	// The removed node learns it (the leader's last replication to it) and
	// reports itself not ready; it does not ask to join again.
	waitFor(t, "the removed node to report itself out of the cluster", func() bool {
		status, body := httpGet(t, victim.MetricsAddr(), "/readyz")
		return status == http.StatusServiceUnavailable && strings.Contains(body, "not a member")
	})
	if got := nodeIDs(describe(t, lead.Addr())); slices.Contains(got, victim.ID()) {
		t.Fatalf("nodes after removal: %v", got)
	}
	c.VerifyReplicas()
}

func TestRemoveLeaderItself(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	oldIdx := c.WaitLeader()
	old := c.Broker(oldIdx)
	if r := removeNode(t, old.Addr(), old.ID()); r.ErrorCode != wire.CodeNone {
		t.Fatalf("RemoveNode(leader itself): %+v", r)
	}
	c.Kill(oldIdx)
	lead := c.Leader()
	// A leader just elected may not have applied every committed entry
	// yet (its view is not a linearizable read): wait for it.
	var got []string
	waitFor(t, "the new leader to list 2 nodes", func() bool {
		got = nodeIDs(describe(t, lead.Addr()))
		return len(got) == 2
	})
	if slices.Contains(got, old.ID()) {
		t.Fatalf("nodes after the leader removed itself: %v", got)
	}
	// Metadata lists the registered client addresses, from applied state
	// too: the unregistering entry (committed before the removal) may
	// still be on its way to the new leader's state machine.
	rc := dialRaw(t, lead.Addr())
	waitFor(t, "metadata without the removed leader", func() bool {
		var md wire.MetadataResponse
		rc.call(wire.Metadata, &wire.MetadataRequest{}, &md)
		for _, n := range md.Nodes {
			if n.ID == old.ID() {
				return false
			}
		}
		return len(md.Nodes) == 2
	})
	c.VerifyReplicas()
}

func TestRemoveLastVoterRefused(t *testing.T) {
	b := brokertest.NewBroker(t)
	if r := removeNode(t, b.Addr(), b.ID()); r.ErrorCode != wire.CodeMalformed {
		t.Fatalf("RemoveNode(the only voter): %+v", r)
	}
	if !b.IsLeader() {
		t.Fatal("the single node lost leadership")
	}
}

// TestListOffsetsLeaderOnly: a ListOffsets with Leader set is answered by
// the leader only (a follower may lag); without it, by any node.
func TestListOffsetsLeaderOnly(t *testing.T) {
	cl := brokertest.NewCluster(t, 3)
	li := cl.WaitLeader()
	lead := dialRaw(t, cl.Broker(li).Addr())
	createTopic(t, lead, "t", 1)
	produceN(t, lead, "t", 0, 5)

	var lo wire.ListOffsetsResponse
	lead.call(wire.ListOffsets, &wire.ListOffsetsRequest{Topic: "t", Which: wire.Latest, Leader: true}, &lo)
	if lo.Err() != nil || lo.Offset != 5 {
		t.Fatalf("leader: %+v", lo)
	}
	f := dialRaw(t, cl.Broker((li+1)%3).Addr())
	f.call(wire.ListOffsets, &wire.ListOffsetsRequest{Topic: "t", Which: wire.Latest, Leader: true}, &lo)
	if !errors.Is(lo.Err(), wire.ErrNotLeader) {
		t.Fatalf("follower asked for the leader's answer: %+v, want NotLeader", lo)
	}
	waitFor(t, "the follower to apply 5 records", func() bool {
		f.call(wire.ListOffsets, &wire.ListOffsetsRequest{Topic: "t", Which: wire.Latest}, &lo)
		return lo.Err() == nil && lo.Offset == 5
	})
	cl.VerifyReplicas()
}

// TestStaleRegistrationIsCorrected: a registration of a node's addresses
// applied after the node's own (a JoinCluster it sent in an earlier run,
// still on its way through the leader when it restarted) is put right by
// the node's registrar without a leader change. Before, the registrar
// looked again only when the leader changed, and the cluster kept
// telling clients an address where nothing listened.
func TestStaleRegistrationIsCorrected(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	lead := c.Broker(c.WaitLeader())
	var f *broker.Broker
	for i := range c.Len() {
		if b := c.Broker(i); b.ID() != lead.ID() {
			f = b
			break
		}
	}
	var resp wire.JoinClusterResponse
	dialRaw(t, lead.Addr()).call(wire.JoinCluster, &wire.JoinClusterRequest{
		ID: f.ID(), RaftAddr: f.RaftAddr(), ClientAddr: "127.0.0.1:1", KafkaAddr: "127.0.0.1:2"}, &resp)
	if resp.ErrorCode != wire.CodeNone {
		t.Fatalf("stale JoinCluster: %+v", resp)
	}
	addrOf := func() (string, string) {
		for _, n := range describe(t, lead.Addr()).Nodes {
			if n.ID == f.ID() {
				return n.Addr, n.KafkaAddr
			}
		}
		return "", ""
	}
	if a, _ := addrOf(); a != "127.0.0.1:1" {
		t.Fatalf("after the stale JoinCluster the leader has %q for %s", a, f.ID())
	}
	waitFor(t, f.ID()+"'s own addresses registered again", func() bool {
		a, k := addrOf()
		return a == f.Addr() && k == f.KafkaAddr()
	})
}
