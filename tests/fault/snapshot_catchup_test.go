package fault

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
	"github.com/minibroker/minibroker/replication"
)

// TestFollowerCatchesUpThroughSnapshot: a follower is SIGKILLed; the
// others go on taking acks=all writes until the leader has snapshotted
// and compacted its Raft log past everything the follower had (small
// SnapshotThreshold and TrailingLogs). The restarted follower can only
// catch up through an InstallSnapshot; afterwards every node holds the
// same records at the same offsets, and each node alone has every acked
// message.
func TestFollowerCatchesUpThroughSnapshot(t *testing.T) {
	coreStores(t, testFollowerCatchesUpThroughSnapshot)
}

func testFollowerCatchesUpThroughSnapshot(t *testing.T, store replication.RaftLogStore) {
	const topic, parts = "snap", 3
	b := startFollowerBehind(t, store, topic, parts, 300)
	c, ck, lp, f, follower := b.c, b.ck, b.lp, b.f, b.follower
	snap := b.waitSnapshotPastBound(t)
	t.Logf("%s killed with its log at most at index %d; the leader snapshotted at %v", follower.cfg.ID, b.bound, snap)
	lp.waitAcked(t, lp.ackedCount()+200, 60*time.Second)

	follower.Restart()
	c.waitCaughtUp(f)
	lp.close()
	restarted := follower.stderr.String()
	restarted = restarted[strings.LastIndex(restarted, "----- "):]
	if !strings.Contains(restarted, "Installed remote snapshot") {
		t.Fatalf("%s caught up without installing a snapshot:\n%s", follower.cfg.ID, tail(restarted, 30))
	}

	// Every node ends with the same high-water marks, then the same records.
	want := make([]int64, parts)
	for p := range int32(parts) {
		hwm, err := c.cl.ListOffsets(ctxT(t, 30*time.Second), topic, p, client.Latest)
		if err != nil {
			t.Fatal(err)
		}
		want[p] = hwm
	}
	var data [][][]client.Record
	for i, n := range c.nodes {
		cl, err := pinnedClient(n.Addr())
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, n.cfg.ID+"'s high-water marks "+fmt.Sprint(want), 30*time.Second, func() bool {
			md, err := within(3*time.Second, cl.Metadata)
			if err != nil {
				return false
			}
			for _, ti := range md.Topics {
				if ti.Name == topic && len(ti.Partitions) == parts {
					for _, pi := range ti.Partitions {
						if pi.HighWatermark != want[pi.Partition] {
							return false
						}
					}
					return true
				}
			}
			return false
		})
		data = append(data, readAll(t, cl, topic, parts, ck, "node-"+n.cfg.ID))
		cl.Close()
		if i == 0 {
			continue
		}
		for p := range parts {
			if d := diffRecords(data[0][p], data[i][p]); d != "" {
				t.Errorf("partition %d differs between %s and %s: %s", p, c.nodes[0].cfg.ID, n.cfg.ID, d)
			}
		}
	}
	r := ck.Report()
	t.Logf("high-water marks %v on every node\n%s", want, r)
	if !r.OK() || r.Lost() != 0 || len(r.Groups) != len(c.nodes) {
		t.Fatalf("a node misses acked data after the snapshot catch-up:\n%s", r)
	}
}

// diffRecords describes the first difference between two partitions'
// records, or returns "".
func diffRecords(a, b []client.Record) string {
	for i := range min(len(a), len(b)) {
		if a[i].Offset != b[i].Offset || !bytes.Equal(a[i].Value, b[i].Value) || !bytes.Equal(a[i].Key, b[i].Key) {
			return fmt.Sprintf("record %d: %d %q vs %d %q", i, a[i].Offset, a[i].Value, b[i].Offset, b[i].Value)
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d records vs %d", len(a), len(b))
	}
	return ""
}

// followerBehind is a 3-node cluster that snapshots often, a producer
// writing to topic, and one follower killed: its log ends at or before
// bound (the leader's last index when it died).
type followerBehind struct {
	c        *cluster
	ck       *check.Checker
	lp       *localProducer
	l, f     int // the leader and the killed follower
	follower *node
	bound    uint64
}

// startFollowerBehind starts the cluster and the producer, waits for acked
// acknowledgements, and kills a follower.
func startFollowerBehind(t *testing.T, store replication.RaftLogStore, topic string, parts int32, acked int) *followerBehind {
	t.Helper()
	b := &followerBehind{ck: check.New()}
	b.c = newCluster(t, store, 3, func(cfg *nodeConfig) {
		cfg.SnapshotThreshold = 64
		cfg.TrailingLogs = 16
		cfg.SnapshotInterval = 100 * time.Millisecond
	})
	b.c.createTopic(topic, parts)
	b.lp = startLocalProducer(t, newClient(t, b.c.addrs()...), b.ck, topic, "p", producerConfig(client.AcksAll, client.IdempotenceAuto), 2000)
	b.lp.waitAcked(t, acked, 60*time.Second)
	b.l = b.c.leader()
	b.f = (b.l + 1) % len(b.c.nodes)
	b.follower = b.c.nodes[b.f]
	b.follower.Kill()
	// The follower's log is a prefix of the leader's: the leader's last
	// index bounds it.
	st, err := b.c.status(b.l)
	if err != nil || st.AnsweredBy != st.LeaderID {
		t.Fatalf("leader status: %+v %v", st, err)
	}
	b.bound = st.LastLogIndex
	return b
}

// waitSnapshotPastBound waits until the leader's log starts after the
// follower's end: raft keeps TrailingLogs entries before a snapshot's index
// (the broker's tuning never keeps fewer than 64), so a snapshot past
// bound+64 does. It returns that snapshot index.
func (b *followerBehind) waitSnapshotPastBound(t *testing.T) float64 {
	t.Helper()
	var snap float64
	waitFor(t, fmt.Sprintf("the leader's snapshot index past %d", b.bound+64), 60*time.Second, func() bool {
		var err error
		snap, err = metric(b.c.nodes[b.c.leader()].MetricsAddr(), "minibroker_raft_last_snapshot_index")
		return err == nil && snap > float64(b.bound+64)
	})
	return snap
}
