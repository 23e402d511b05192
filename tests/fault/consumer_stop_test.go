package fault

import (
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
	"github.com/minibroker/minibroker/replication"
)

// TestConsumerStoppedPastSession: a consumer process holding a delivered,
// uncommitted batch is SIGSTOPped past its session timeout; the group
// gives its partitions to the other member, which commits past the held
// batch. After SIGCONT the stopped consumer commits the batch: the commit
// is rejected as fenced (the consumer logs it), the group's committed
// offsets never go backward (watched all along through DescribeGroup),
// and nothing is lost.
func TestConsumerStoppedPastSession(t *testing.T) { allStores(t, testConsumerStoppedPastSession) }

func testConsumerStoppedPastSession(t *testing.T, store replication.RaftLogStore) {
	const topic, parts, group = "orders", 4, "g"
	c := newCluster(t, store, 1)
	c.createTopic(topic, parts)
	ck := check.New()
	gl := newGroupLog(t, ck, group, topic)
	a := gl.start("a", c.addrs())
	gl.start("b", c.addrs())
	stableGroup(t, c.cl, gl, 2, parts, "a", "b")
	watch := watchCommits(t, c.cl, ck, group)
	lp := startLocalProducer(t, newClient(t, c.addrs()...), ck, topic, "p", producerConfig(client.AcksAll, client.IdempotenceAuto), 1000)
	waitFor(t, "commits by both consumers on each of their partitions", 60*time.Second, func() bool {
		return len(gl.commits("a")) == len(gl.lastAssigned("a")) && len(gl.commits("b")) == len(gl.lastAssigned("b"))
	})

	a.send("hold")
	waitFor(t, "a to hold a batch", 30*time.Second, func() bool { return gl.count("a", "hold") == 1 })
	held := gl.heldBatch("a")
	heldMax := map[int32]int64{}
	for _, e := range held {
		heldMax[e.P] = max(heldMax[e.P], e.O)
	}
	aParts := gl.lastAssigned("a")
	bMark := len(gl.events("b"))
	a.Stop()
	stopped := time.Now()
	// b takes a's partitions once a's session has expired, and commits
	// past the held batch.
	waitFor(t, "b to commit past a's held batch", 60*time.Second, func() bool {
		for _, o := range gl.takeover("b", bMark, aParts) {
			if o < 0 {
				return false
			}
		}
		bc := gl.commits("b")
		for p, o := range heldMax {
			if bc[p] <= o {
				return false
			}
		}
		return true
	})
	t.Logf("a stopped %v holding %d records of %v; b owns them and committed %v", time.Since(stopped).Round(time.Millisecond), len(held), aParts, gl.commits("b"))
	before := committedOffsets(t, c.cl, group, topic)

	a.Cont()
	a.send("go")
	waitFor(t, "the outcome of a's commit of the held batch", 30*time.Second, func() bool {
		return len(heldOutcomes(gl.events("a"), heldMax)) == len(heldMax)
	})
	for p, e := range heldOutcomes(gl.events("a"), heldMax) {
		if e.Ev != "fenced" {
			t.Errorf("a's commit of %s/%d at %d after its session expired: %s %s, want fenced", topic, p, e.O, e.Ev, e.Err)
			continue
		}
		t.Logf("a logged: fenced commit of %s/%d at %d: %s", topic, p, e.O, e.Err)
	}
	after := committedOffsets(t, c.cl, group, topic)
	for p, o := range before {
		if after[p] < o {
			t.Errorf("partition %d: committed offset went back from %d to %d", p, o, after[p])
		}
	}
	lp.waitAcked(t, lp.ackedCount()+300, 60*time.Second)
	lp.close()
	waitAllDelivered(t, ck, group, 60*time.Second)
	watch.close()
	re, bad := gl.redeliveries()
	for _, s := range bad {
		t.Errorf("committed record delivered again: %s", s)
	}
	r := ck.Report()
	t.Logf("%d DescribeGroup polls; %d records delivered twice:\n%s", watch.n.Load(), len(re), r)
	if !r.OK() || r.Lost() != 0 || watch.n.Load() == 0 {
		t.Fatalf("a stopped consumer broke the group's guarantees:\n%s", r)
	}
}

// heldOutcomes returns, per partition of the held batch, the result event
// ("commit", "fenced" or "commit_error") of its commit after "hold".
func heldOutcomes(evs []event, heldMax map[int32]int64) map[int32]event {
	out := map[int32]event{}
	hold := -1
	for i, e := range evs {
		if e.Ev == "hold" {
			hold = i
			break
		}
	}
	if hold < 0 {
		return out
	}
	for _, e := range evs[hold+1:] {
		switch e.Ev {
		case "commit", "fenced", "commit_error":
			if m, ok := heldMax[e.P]; ok && e.O == m+1 {
				if _, seen := out[e.P]; !seen {
					out[e.P] = e
				}
			}
		}
	}
	return out
}
