package fault

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
	"github.com/minibroker/minibroker/replication"
)

// envRestorePause is replication's test hook (restore.go): Restore creates
// the named file once it has copied the snapshot's data, before it switches
// the new state in, and then blocks until the process is killed.
const envRestorePause = "MINIBROKER_TEST_RESTORE_PAUSE"

// TestFollowerKilledDuringSnapshotRestore: a follower that must catch up
// through an InstallSnapshot is SIGKILLed while it restores the snapshot,
// after raft has already stored it. Restarted, raft takes the snapshot's
// index as applied and never calls Restore again; the node must restore
// the snapshot itself before raft starts, or it silently lacks every entry
// between its old state and the snapshot (records, a topic, committed
// offsets). Every node ends with the same topics, records at the same
// offsets, and committed offsets.
func TestFollowerKilledDuringSnapshotRestore(t *testing.T) {
	allStores(t, testFollowerKilledDuringSnapshotRestore)
}

func testFollowerKilledDuringSnapshotRestore(t *testing.T, store replication.RaftLogStore) {
	const topic, parts = "snap", 2
	b := startFollowerBehind(t, store, topic, parts, 200)
	c, ck, lp, l, f, follower := b.c, b.ck, b.lp, b.l, b.f, b.follower
	// While the follower is down: a new topic and committed offsets, which
	// only the snapshot brings it.
	c.createTopic("late", 1)
	if _, err := c.cl.ResetGroupOffsets(ctxT(t, 30*time.Second), "g", topic, client.Latest, 0); err != nil {
		t.Fatalf("reset offsets: %v", err)
	}
	b.waitSnapshotPastBound(t)
	lp.waitAcked(t, lp.ackedCount()+100, 60*time.Second)
	lp.close() // the snapshot it gets is the leader's latest

	// Restart it with the hook: it receives the snapshot, stores it, copies
	// it into a new state and pauses there; kill it then.
	marker := filepath.Join(t.TempDir(), "restoring")
	base := follower.env
	follower.env = append(slices.Clone(base), envRestorePause+"="+marker)
	follower.Restart()
	waitFor(t, "the follower to pause inside Restore", 60*time.Second, func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
	follower.Kill()
	follower.env = base

	// Restart it with the other nodes frozen, so that nothing but its own
	// start can bring it the snapshot's state (the leader would otherwise
	// retry the InstallSnapshot, which hides the bug in this test, but not
	// after a change of leader, which sends the entries after the snapshot).
	others := []*node{c.nodes[l], c.nodes[(f+1)%len(c.nodes)]}
	for _, n := range others {
		n.Stop()
	}
	follower.Restart()
	restarted := follower.stderr.String()
	restarted = restarted[strings.LastIndex(restarted, "----- "):]
	if !strings.Contains(restarted, "the state machine is behind the newest snapshot") {
		t.Errorf("%s did not restore the interrupted snapshot at start:\n%s", follower.cfg.ID, tail(restarted, 30))
	}
	offs, err := metricLines(follower.MetricsAddr(), "minibroker_group_committed_offset{")
	if err != nil || !strings.Contains(offs, `group="g"`) {
		t.Errorf("%s after its restart has not the committed offsets of group g that only the snapshot has: %q %v", follower.cfg.ID, offs, err)
	}
	hw, err := metricLines(follower.MetricsAddr(), "minibroker_partition_high_watermark{")
	if err != nil || !strings.Contains(hw, `topic="late"`) {
		t.Errorf("%s after its restart has not the topic that only the snapshot has: %q %v", follower.cfg.ID, hw, err)
	}
	for _, n := range others {
		n.Cont()
	}
	c.waitCaughtUp(f)
	lp = startLocalProducer(t, newClient(t, c.addrs()...), ck, topic, "p2", producerConfig(client.AcksAll, client.IdempotenceAuto), 2000)
	lp.waitAcked(t, 100, 60*time.Second)
	lp.close()
	c.waitCaughtUp(f)
	compareReplicas(t, c, ck, []string{topic, "late"})
}

// compareReplicas waits until every node reports the leader's high-water
// marks, then checks that all nodes hold the same topics, the same records
// at the same offsets and the same committed offsets, and that each node
// alone has every acked message.
func compareReplicas(t *testing.T, c *cluster, ck *check.Checker, topics []string) {
	t.Helper()
	want := map[string][]int64{}
	for _, tp := range topics {
		md, err := within(10*time.Second, c.cl.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range md.Topics {
			if ti.Name != tp {
				continue
			}
			for p := range int32(len(ti.Partitions)) {
				hwm, err := c.cl.ListOffsets(ctxT(t, 30*time.Second), tp, p, client.Latest)
				if err != nil {
					t.Fatal(err)
				}
				want[tp] = append(want[tp], hwm)
			}
		}
		if len(want[tp]) == 0 {
			t.Fatalf("topic %s not in the cluster's metadata", tp)
		}
	}
	var ref [][]client.Record
	var refTopics, refOffsets string
	for i, n := range c.nodes {
		cl, err := pinnedClient(n.Addr())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		waitFor(t, n.cfg.ID+"'s high-water marks "+fmt.Sprint(want), 30*time.Second, func() bool {
			md, err := within(3*time.Second, cl.Metadata)
			if err != nil {
				return false
			}
			names = names[:0]
			got := map[string][]int64{}
			for _, ti := range md.Topics {
				names = append(names, fmt.Sprintf("%s/%d", ti.Name, len(ti.Partitions)))
				hw := make([]int64, len(ti.Partitions))
				for _, pi := range ti.Partitions {
					hw[pi.Partition] = pi.HighWatermark
				}
				got[ti.Name] = hw
			}
			for tp, w := range want {
				if fmt.Sprint(got[tp]) != fmt.Sprint(w) {
					return false
				}
			}
			return true
		})
		slices.Sort(names)
		var recs [][]client.Record
		for _, tp := range topics {
			recs = append(recs, readAll(t, cl, tp, int32(len(want[tp])), ck, "node-"+n.cfg.ID)...)
		}
		cl.Close()
		offs, err := metricLines(n.MetricsAddr(), "minibroker_group_committed_offset{")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			ref, refTopics, refOffsets = recs, fmt.Sprint(names), offs
			if refOffsets == "" {
				t.Fatalf("%s reports no committed offsets", n.cfg.ID)
			}
			continue
		}
		if got := fmt.Sprint(names); got != refTopics {
			t.Errorf("topics differ: %s has %s, %s has %s", c.nodes[0].cfg.ID, refTopics, n.cfg.ID, got)
		}
		if offs != refOffsets {
			t.Errorf("committed offsets differ: %s has\n%s%s has\n%s", c.nodes[0].cfg.ID, refOffsets, n.cfg.ID, offs)
		}
		for p := range ref {
			if d := diffRecords(ref[p], recs[p]); d != "" {
				t.Errorf("partition %d (in topic order) differs between %s and %s: %s", p, c.nodes[0].cfg.ID, n.cfg.ID, d)
			}
		}
	}
	r := ck.Report()
	t.Logf("high-water marks %v on every node\n%s", want, r)
	if !r.OK() || r.Lost() != 0 || len(r.Groups) != len(c.nodes) {
		t.Fatalf("a node misses acked data:\n%s", r)
	}
}

// metricLines returns the sorted lines of a node's /metrics that start
// with prefix (a metric's name and "{"): what the node's own state machine
// reports, whether or not it has a leader.
func metricLines(metricsAddr, prefix string) (string, error) {
	hc := http.Client{Timeout: 3 * time.Second}
	resp, err := hc.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			lines = append(lines, sc.Text())
		}
	}
	slices.Sort(lines)
	if len(lines) == 0 {
		return "", sc.Err()
	}
	return strings.Join(lines, "\n") + "\n", sc.Err()
}
