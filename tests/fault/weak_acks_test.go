package fault

import (
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
	"github.com/minibroker/minibroker/replication"
)

// TestWeakAcksLeaderKilled: with acks=1 (the leader's disk only) and
// acks=0 (fire and forget) the leader is SIGKILLed from the producer's
// callback right after the 1000th acknowledgement (acks=0: the 1000th
// send), while writing goes on. Loss is possible, and is reported, not
// failed: the test asserts that the checker ran and counted every
// attempt and every stored record.
func TestWeakAcksLeaderKilled(t *testing.T) { allStores(t, testWeakAcksLeaderKilled) }

func testWeakAcksLeaderKilled(t *testing.T, store replication.RaftLogStore) {
	for _, acks := range []client.Acks{client.AcksLeader, client.AcksNone} {
		t.Run("acks="+acks.String(), func(t *testing.T) {
			const topic, parts, trigger = "weak", 3, 1000
			c := newCluster(t, store, 3)
			c.createTopic(topic, parts)
			l := c.leader()
			victim := c.nodes[l]
			ck := check.New()
			lp := startLocalProducer(t, newClient(t, c.addrs()...), ck, topic, "p", producerConfig(acks, client.IdempotenceAuto), 20000)
			killedAt := make(chan int, 1)
			lp.setOnAck(func(n int) {
				if n == trigger {
					victim.signal(syscall.SIGKILL) // at once, from the callback: no round trip in between
					killedAt <- n
				}
			})
			select {
			case <-killedAt:
			case <-time.After(60 * time.Second):
				t.Fatalf("%d acks did not come within 60s", trigger)
			}
			victim.wait()
			nl := c.leaderNot(victim.cfg.ID)
			lp.waitAcked(t, lp.ackedCount()+500, 60*time.Second)
			lp.close()
			victim.Restart()
			c.waitCaughtUp(l)
			recs := readAll(t, c.cl, topic, parts, ck, "readback")
			stored := 0
			for _, rs := range recs {
				stored += len(rs)
			}
			r := ck.Report()
			t.Logf("acks=%v: leader %s SIGKILLed right after ack %d; %s took over\n%s", acks, victim.cfg.ID, trigger, c.nodes[nl].cfg.ID, r)
			if len(r.Groups) != 1 || r.Sent != r.Acked+r.Failed+r.Unknown+r.Unacked || r.Sent < trigger+500 || r.Groups[0].Delivered != stored {
				t.Fatalf("the checker did not count every attempt and record (stored %d):\n%s", stored, r)
			}
			g := r.Groups[0]
			lost := g.LostCount
			if acks == client.AcksNone {
				lost = g.UnackedMissing
			}
			t.Logf("figures acks=%v: sent %d, acked %d, unknown %d, lost %d, stored duplicates %d (%d extra copies)",
				acks, r.Sent, r.Acked, r.Unknown, lost, g.DuplicateCount, g.DuplicateDeliveries)
		})
	}
}
