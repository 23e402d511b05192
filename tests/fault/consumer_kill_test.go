package fault

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
	"github.com/minibroker/minibroker/replication"
)

// stableGroup waits until group is Stable with n members, the assignment
// covers all parts partitions, and each consumer in whos has reported its
// assignment of the group's current generation.
func stableGroup(t *testing.T, cl *client.Client, gl *groupLog, n, parts int, whos ...string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("a stable group of %d members", n), 60*time.Second, func() bool {
		d, err := within(3*time.Second, func(ctx context.Context) (client.GroupDescription, error) {
			return cl.DescribeGroup(ctx, gl.group)
		})
		if err != nil || d.State != "Stable" || len(d.Members) != n {
			return false
		}
		covered := 0
		for _, m := range d.Members {
			covered += len(m.Assignment)
		}
		reported := 0
		for _, who := range whos {
			evs := gl.events(who)
			for i := len(evs) - 1; i >= 0; i-- {
				if evs[i].Ev == "assigned" {
					if evs[i].Gen != d.Generation {
						return false
					}
					reported += len(evs[i].Parts)
					break
				}
			}
		}
		return covered == parts && reported == parts
	})
}

// takeover returns, for each partition in parts, the first offset who
// delivered after the first "assigned" event at or after index from of
// its events that includes the partition (-1 if none yet).
func (g *groupLog) takeover(who string, from int, parts []int32) map[int32]int64 {
	evs := g.events(who)
	out := map[int32]int64{}
	owned := map[int32]bool{}
	for _, p := range parts {
		out[p] = -1
	}
	for _, e := range evs[min(from, len(evs)):] {
		switch e.Ev {
		case "assigned":
			for _, p := range e.Parts {
				if _, want := out[p]; want {
					owned[p] = true
				}
			}
		case "deliver":
			if owned[e.P] && out[e.P] < 0 {
				out[e.P] = e.O
			}
		}
	}
	return out
}

// TestConsumerKilledBeforeCommit: two consumer processes share a group; one
// is SIGKILLed holding a delivered batch it has not committed. After its
// session times out, the other owns its partitions and starts each at the
// last committed offset: nothing is lost, and the only records delivered
// twice are uncommitted ones (that batch, and any a rebalance refused to
// commit), never committed ones.
func TestConsumerKilledBeforeCommit(t *testing.T) { allStores(t, testConsumerKilledBeforeCommit) }

func testConsumerKilledBeforeCommit(t *testing.T, store replication.RaftLogStore) {
	const topic, parts, group = "orders", 4, "g"
	c := newCluster(t, store, 1)
	c.createTopic(topic, parts)
	ck := check.New()
	gl := newGroupLog(t, ck, group, topic)
	a := gl.start("a", c.addrs())
	gl.start("b", c.addrs())
	stableGroup(t, c.cl, gl, 2, parts, "a", "b")
	lp := startLocalProducer(t, newClient(t, c.addrs()...), ck, topic, "p", producerConfig(client.AcksAll, client.IdempotenceAuto), 1000)
	waitFor(t, "commits by both consumers on each of their partitions", 60*time.Second, func() bool {
		return len(gl.commits("a")) == len(gl.lastAssigned("a")) && len(gl.commits("b")) == len(gl.lastAssigned("b"))
	})

	a.send("hold")
	waitFor(t, "a to hold a batch", 30*time.Second, func() bool { return gl.count("a", "hold") == 1 })
	held := gl.heldBatch("a")
	aParts := gl.lastAssigned("a")
	bMark := len(gl.events("b"))
	a.Kill()
	aCommits := gl.commits("a")
	committed := committedOffsets(t, c.cl, group, topic)
	for _, p := range aParts {
		if committed[p] != aCommits[p] {
			t.Fatalf("partition %d: committed offset %d, but a's last acknowledged commit was %d", p, committed[p], aCommits[p])
		}
	}
	t.Logf("a SIGKILLed holding %d uncommitted records of partitions %v; committed offsets %v", len(held), aParts, committed)

	waitFor(t, "b to own a's partitions", 30*time.Second, func() bool {
		for _, o := range gl.takeover("b", bMark, aParts) {
			if o < 0 {
				return false
			}
		}
		return true
	})
	lp.waitAcked(t, lp.ackedCount()+300, 60*time.Second)
	lp.close()
	waitAllDelivered(t, ck, group, 60*time.Second)

	for p, o := range gl.takeover("b", bMark, aParts) {
		if o != committed[p] {
			t.Errorf("partition %d: b resumed at %d, a's last commit was %d", p, o, committed[p])
		}
	}
	re, bad := gl.redeliveries()
	for _, s := range bad {
		t.Errorf("committed record delivered again: %s", s)
	}
	for _, e := range held {
		if re[partOffset{e.P, e.O}] < 2 {
			t.Errorf("%s/%d@%d of a's uncommitted batch was not delivered again", topic, e.P, e.O)
		}
	}
	r := ck.Report()
	t.Logf("held batch %d records; %d records delivered twice:\n%s", len(held), len(re), r)
	if !r.OK() || r.Lost() != 0 {
		t.Fatalf("loss after a consumer crash:\n%s", r)
	}
}
