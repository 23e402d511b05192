package kafka

import (
	"fmt"
	"testing"
	"time"
)

// testGroupFranzMembers: kgo members with the balancer, 1 -> 3 -> 2, on a
// topic of 6 partitions, records produced before each change: every
// record processed, each partition owned by one member at a time and in
// every generation, the group settled over 3 then 2 members, the end
// committed.
func testGroupFranzMembers(t *testing.T, c *cluster, balancer string) {
	adm := newAdmin(t, c)
	topic, group := "grp-franz-members-"+balancer, "g-franz-members-"+balancer
	const parts, per = 6, 10
	end := groupTopic(t, c, adm, topic, parts, per)
	own := newOwners()
	l := newLedger()
	start := func(name string) *franzMember {
		opts := append(franzGroupOpts(c.kafka, group, topic, balancer, 6*time.Second), own.franzHooks(name)...)
		return startFranzMember(t, name, l, opts...)
	}
	settle := func(members int) {
		t.Helper()
		waitProcessed(t, fmt.Sprintf("%d members", members), l, end)
		eventually(t, fmt.Sprintf("%d partitions spread over %d members", parts, members), func() error {
			if !own.settled(parts, members) {
				return fmt.Errorf("not yet")
			}
			return nil
		})
	}

	m0 := start("m0")
	settle(1)
	m1, m2 := start("m1"), start("m2")
	end = produceMore(t, c, topic, parts, per, per)
	settle(3)
	m1.stop()
	end = produceMore(t, c, topic, parts, 2*per, per)
	settle(2)
	waitCommitted(t, adm, group, topic, end)
	m0.stop()
	m2.stop()
	own.check(t)
	t.Logf("franz-go %s 1->3->2: %d records processed, %d duplicates", balancer, l.total(), l.dups())
}

// testGroupFranzFailover: a kgo member consumes (commit after each poll);
// the Raft leader (the group coordinator) is killed mid-stream and more
// records are produced: the member finds the new coordinator, every
// record is processed, the end committed, and every record processed
// twice lies at or after the last commit that succeeded before the kill.
// (kgo ends its group session when a heartbeat cannot reach the
// coordinator, rejoins under the same member id, generation + 1, and
// fetches the committed offsets again: that is where duplicates come
// from.) The node is restarted after.
func testGroupFranzFailover(t *testing.T, c *cluster) {
	if c.bt == nil {
		t.Skipf("%s: no nodes to kill", c.kind)
	}
	adm := newAdmin(t, c)
	topic, group := "grp-franz-failover", "g-franz-failover"
	end := groupTopic(t, c, adm, topic, groupParts, groupPerPart)
	l := newLedger()
	m := startFranzMember(t, "failover", l, franzGroupOpts(c.kafka, group, topic, "range", 6*time.Second)...)
	eventually(t, "some records processed", func() error {
		if n := l.total(); n < groupPerPart {
			return fmt.Errorf("%d processed", n)
		}
		return nil
	})
	killed := c.bt.WaitLeader()
	member, gen := m.cl.GroupMetadata()
	c.bt.Kill(killed)
	atKill := m.commits()
	t.Logf("killed the leader n%d after %d records processed (member %s, generation %d)", killed+1, l.total(), member, gen)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			c.bt.Restart(killed)
		}
	})
	t0 := time.Now()
	end = produceMore(t, c, topic, groupParts, groupPerPart, groupPerPart)
	waitProcessed(t, "after the leader was killed", l, end)
	waitCommitted(t, adm, group, topic, end)
	member, gen = m.cl.GroupMetadata()
	t.Logf("consumed and committed everything %v after the kill (member %s, generation %d); %d processed, %d duplicates",
		time.Since(t0).Round(time.Millisecond), member, gen, l.total(), l.dups())
	// Records processed again lie at or after the last commit the member
	// saw succeed before the kill.
	for p := range int32(groupParts) {
		for off, k := range l.offsets(p) {
			if k > 1 && off < atKill[p] {
				t.Errorf("p%d@%d processed %d times, below the offset %d committed before the kill", p, off, k, atKill[p])
			}
		}
	}
	c.bt.Restart(killed)
	restarted = true
	c.bt.WaitLeader()
}
