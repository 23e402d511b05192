package fault

import (
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
	"github.com/minibroker/minibroker/replication"
)

// TestLeaderKilledFiveTimes: an acks=all producer writes while the leader
// is SIGKILLed five times in a row, each time the new one; each killed
// node is restarted and caught up before the next kill, so a quorum
// always remains. Nothing acked is lost, and order within a partition is
// kept; duplicates are counted. Idempotent (the default) and not (with
// MaxInFlight 1, which keeps the order under retries).
func TestLeaderKilledFiveTimes(t *testing.T) { coreStores(t, testLeaderKilledFiveTimes) }

func testLeaderKilledFiveTimes(t *testing.T, store replication.RaftLogStore) {
	for _, tc := range []struct {
		name string
		idem client.Idempotence
	}{{"idempotent", client.IdempotenceAuto}, {"not_idempotent", client.IdempotenceOff}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, store, 3)
			c.createTopic("orders", 3)
			ck := check.New()
			lp := startLocalProducer(t, newClient(t, c.addrs()...), ck, "orders", "p", producerConfig(client.AcksAll, tc.idem), 2000)
			const kills = 5
			c.killLeaders(kills, lp.ackedCount, func(n int) { lp.waitAcked(t, n, 60*time.Second) })
			lp.waitAcked(t, lp.ackedCount()+300, 60*time.Second)
			lp.close()
			readAll(t, c.cl, "orders", 3, ck, "readback")
			r := ck.Report()
			t.Logf("%d leader kills, idempotence %v:\n%s", kills, tc.idem, r)
			if !r.OK() || r.Lost() != 0 || r.Acked == 0 {
				t.Fatalf("acks=all broke its promise through leader kills:\n%s", r)
			}
			g := r.Groups[0]
			t.Logf("figures: acked %d, unknown %d, stored duplicates %d (%d extra copies)", r.Acked, r.Unknown, g.DuplicateCount, g.DuplicateDeliveries)
		})
	}
}
