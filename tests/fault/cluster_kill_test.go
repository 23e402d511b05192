package fault

import (
	"maps"
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
	"github.com/minibroker/minibroker/replication"
)

// TestWholeClusterKilled: every node is SIGKILLed at once while an
// acks=all producer writes and a consumer group has committed offsets;
// all nodes restart. Every acked message is there, every committed offset
// read back equals the one acknowledged before the crash, and a new
// member of the group resumes exactly there.
func TestWholeClusterKilled(t *testing.T) { coreStores(t, testWholeClusterKilled) }

func testWholeClusterKilled(t *testing.T, store replication.RaftLogStore) {
	const topic, parts, group = "whole", 3, "g"
	c := newCluster(t, store, 3)
	c.createTopic(topic, parts)
	ck := check.New()
	lp := startLocalProducer(t, newClient(t, c.addrs()...), ck, topic, "p", producerConfig(client.AcksAll, client.IdempotenceAuto), 2000)
	lc := startLocalConsumer(t, ck, c.addrs(), group, topic)
	waitFor(t, "commits on every partition", 60*time.Second, func() bool { return len(lc.ackedCommits()) == parts })
	lp.waitAcked(t, lp.ackedCount()+500, 60*time.Second)

	// The consumer stops between batches: its last commits are answered,
	// and nothing commits during the crash.
	lc.freeze()
	acked := lc.ackedCommits()
	if got := committedOffsets(t, c.cl, group, topic); !maps.Equal(got, acked) {
		t.Fatalf("committed offsets %v before the crash, but the commits acknowledged were %v", got, acked)
	}
	for p, o := range acked {
		ck.Committed(group, topic, p, o)
	}

	before := lp.ackedCount()
	for _, n := range c.nodes { // all at once: signal every node, then wait for each
		n.signal(syscall.SIGKILL)
	}
	for _, n := range c.nodes {
		n.wait()
	}
	t.Logf("all nodes SIGKILLed with %d messages acked and commits %v", before, acked)
	for _, n := range c.nodes {
		n.Restart()
	}
	c.leader()
	after := committedOffsets(t, c.cl, group, topic)
	if !maps.Equal(after, acked) {
		t.Fatalf("committed offsets after the restart %v, acknowledged before the crash %v", after, acked)
	}
	for p, o := range after {
		ck.Committed(group, topic, p, o)
	}
	lp.waitAcked(t, lp.ackedCount()+300, 60*time.Second) // writes go on after the restart
	lp.close()
	lc.close()

	// A new member resumes at the committed offsets and gets the rest.
	lc2 := startLocalConsumer(t, ck, c.addrs(), group, topic)
	waitAllDelivered(t, ck, group, 60*time.Second)
	lc2.freeze()
	for p, o := range lc2.firstDelivered() {
		if o != acked[p] {
			t.Errorf("partition %d: the new member started at %d, the committed offset is %d", p, o, acked[p])
		}
	}
	r := ck.Report()
	t.Logf("whole-cluster SIGKILL with %d acked before it:\n%s", before, r)
	if !r.OK() || r.Lost() != 0 {
		t.Fatalf("acked messages or commits lost in a whole-cluster crash:\n%s", r)
	}
}
