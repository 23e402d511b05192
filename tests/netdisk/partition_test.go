package netdisk

import (
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
	"github.com/minibroker/minibroker/replication"
)

// partitionable starts a 3-node cluster on store whose Raft links all run through a
// mesh of proxies, with a topic of 3 partitions.
func partitionable(t *testing.T, store replication.RaftLogStore, topic string) (*brokertest.Cluster, *mesh) {
	t.Helper()
	m := newMesh(t)
	c := brokertest.NewCluster(t, 3, steady, brokertest.RaftLog(store), m.mod)
	createTopic(t, c, topic, 3)
	m.install(c)
	return c, m
}

// heal reconnects node lead and waits until it follows another leader.
func heal(t *testing.T, c *brokertest.Cluster, m *mesh, majority *clientNet, lead int) {
	t.Helper()
	old := c.Broker(lead)
	m.isolate(old.ID(), pass)
	if majority != nil {
		majority.unblock(old.Addr())
	}
	waitUntil(t, old.ID()+" to rejoin as a follower", func() bool {
		id, _ := old.Leader()
		return id != "" && id != old.ID() && !old.IsLeader()
	})
}

// TestLeaderPartitioned: every Raft link to and from the leader is
// blackholed while producers write with acks=all, one on each side of the
// partition (the one on the old leader's side reaches only the old
// leader from the cut on). The old leader, without a quorum, steps down
// and acks nothing more; the majority elects a leader and its producer
// carries on. After the heal the old leader follows; no acked message is
// lost and every node stores the same data.
func TestLeaderPartitioned(t *testing.T) { forStores(t, testLeaderPartitioned) }

func testLeaderPartitioned(t *testing.T, store replication.RaftLogStore) {
	c, m := partitionable(t, store, "events")
	ck := check.New()
	majority, minorityNet := newClientNet(""), newClientNet("")
	follow := startRunner(t, newClient(t, majority, 3*time.Second, c.Addrs()...), ck,
		client.ProducerConfig{}, "follow", "events", 32)
	minority := startRunner(t, newClient(t, minorityNet, 2*time.Second, c.Addrs()...), ck,
		client.ProducerConfig{Retries: 2}, "minority", "events", 8)
	follow.waitAcked(t, 200)
	minority.waitAcked(t, 100)

	// The cut: clients, then Raft links. A message handed to the
	// minority's producer after that can only go to the old leader, and
	// only after its links swallow everything.
	lead := c.WaitLeader()
	old := c.Broker(lead)
	acksAtCut := acksOK(t, old, "all")
	minorityNet.restrict(old.Addr())
	majority.block(old.Addr())
	m.isolate(old.ID(), blackhole)
	cut := time.Now()
	minorityAtCut := minority.handed.Load()
	waitUntil(t, old.ID()+" to step down", func() bool { return !old.IsLeader() })
	stepDown := time.Since(cut)
	newLead := otherLeader(t, c, lead)
	elected := time.Since(cut)
	// By now any answer the old leader was writing as it stepped down is
	// written; from here on its count of acks must not move.
	acksSettled := acksOK(t, old, "all")
	follow.waitAcked(t, follow.acked.Load()+300)
	// The minority's producer has kept trying all along.
	minority.halt()
	if n := acksOK(t, old, "all"); n != acksSettled {
		t.Errorf("the old leader acked %v produce requests after it stepped down", n-acksSettled)
	}
	if late := minority.ackedFrom(minorityAtCut); len(late) > 0 {
		t.Errorf("%d messages handed to the old leader after the cut were acked (first seq %d)", len(late), late[0])
	}
	t.Logf("cut %s: stepped down after %v, %s elected after %v; old leader acked %v requests around the cut (committed before it)",
		old.ID(), stepDown.Round(time.Millisecond), c.Broker(newLead).ID(), elected.Round(time.Millisecond), acksSettled-acksAtCut)
	t.Logf("minority producer: %d handed after the cut, none acked; final errors: %q", minority.handed.Load()-minorityAtCut, firstN(minority.finalErrors(), 2))

	heal(t, c, m, majority, lead)
	follow.waitAcked(t, follow.acked.Load()+100)
	follow.halt()
	waitIdentical(t, c, ck, "events")
	r := ck.Report()
	logReport(t, r)
	if !r.OK() || r.Lost() != 0 || len(r.Groups) != 3 {
		t.Fatalf("delivery check failed")
	}
	c.VerifyReplicas()
}

// TestAcksLeaderAndNoneUnderPartition reports what acks=1 and acks=0 lose
// when the leader is cut off: writes the isolated leader acknowledged
// before it noticed (acks=1: stored in its Raft log only) are overwritten
// when it rejoins, and acks=0 writes sent to it vanish. Loss is allowed at
// these levels; the test reports the figures and asserts only that writes
// were acknowledged.
func TestAcksLeaderAndNoneUnderPartition(t *testing.T) {
	forStores(t, testAcksLeaderAndNoneUnderPartition)
}

func testAcksLeaderAndNoneUnderPartition(t *testing.T, store replication.RaftLogStore) {
	c, m := partitionable(t, store, "events")
	ck := check.New()
	net1, net0 := newClientNet(""), newClientNet("")
	one := startRunner(t, newClient(t, net1, 2*time.Second, c.Addrs()...), ck,
		client.ProducerConfig{Acks: client.AcksLeader, Retries: 1}, "acks1", "events", 32)
	zero := startPacedRunner(t, newClient(t, net0, 2*time.Second, c.Addrs()...), ck,
		client.ProducerConfig{Acks: client.AcksNone, Retries: 1}, "acks0", "events", 32, time.Millisecond)
	one.waitAcked(t, 200)
	waitUntil(t, "acks=0 messages sent", func() bool { return zero.handed.Load() > 200 })

	// Both producers are on the old leader's side of the partition.
	lead := c.WaitLeader()
	old := c.Broker(lead)
	net1.restrict(old.Addr())
	net0.restrict(old.Addr())
	acks1AtCut := acksOK(t, old, "1")
	m.isolate(old.ID(), blackhole)
	waitUntil(t, old.ID()+" to step down", func() bool { return !old.IsLeader() })
	acks1AfterCut := acksOK(t, old, "1") - acks1AtCut
	one.halt()
	zero.halt()
	otherLeader(t, c, lead)
	heal(t, c, m, nil, lead)
	data := waitIdentical(t, c, ck, "events")
	r := ck.Report()
	logReport(t, r)
	all1, lost1 := one.missing(data)
	all0, lost0 := zero.missing(data)
	t.Logf("acks=1: %d sent, %d acked, %d acked and lost, %d missing in all; the isolated leader acked %v requests after the cut",
		one.handed.Load(), one.acked.Load(), lost1, all1, acks1AfterCut)
	t.Logf("acks=0: %d sent, %d sent without error and lost, %d missing in all", zero.handed.Load(), lost0, all0)
	if r.Acked == 0 || r.Unacked == 0 {
		t.Fatalf("nothing was acknowledged")
	}
	c.VerifyReplicas()
}

func firstN(s []string, n int) []string { return s[:min(n, len(s))] }
