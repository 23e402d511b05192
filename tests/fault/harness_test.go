package fault

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/replication"
	"github.com/minibroker/minibroker/tests/internal/testutil"
)

// cluster is a set of broker child processes: node 0 bootstraps, the
// others join it. cl is a client of all of them.
type cluster struct {
	t     *testing.T
	nodes []*node
	cl    *client.Client
}

// newCluster starts an n-node cluster on free loopback ports, every node
// with the Raft log store store, and waits until the leader reports n
// voters, all with registered client addresses. mod, if given, adjusts
// each node's config first.
func newCluster(t *testing.T, store replication.RaftLogStore, n int, mod ...func(cfg *nodeConfig)) *cluster {
	t.Helper()
	dir := t.TempDir()
	ports := testutil.FreeAddrs(t, 2*n)
	c := &cluster{t: t}
	for i := range n {
		cfg := nodeConfig{
			ID: fmt.Sprintf("n%d", i+1), DataDir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			Addr: ports[2*i], RaftAddr: ports[2*i+1], Bootstrap: i == 0,
			HeartbeatTimeout: testHeartbeat, ElectionTimeout: testElection, LeaderLeaseTimeout: testLease,
			RaftLog: string(store),
		}
		if i > 0 {
			cfg.Join = []string{ports[0]}
		}
		for _, m := range mod {
			m(&cfg)
		}
		c.nodes = append(c.nodes, startNode(t, cfg))
	}
	c.cl = newClient(t, c.addrs()...)
	waitFor(t, fmt.Sprintf("%d voters with client addresses and a leader", n), 60*time.Second, func() bool {
		st, err := within(5*time.Second, c.cl.ClusterStatus)
		if err != nil || st.LeaderID == "" || len(st.Nodes) != n {
			return false
		}
		for _, s := range st.Nodes {
			if !s.Voter || s.Addr == "" {
				return false
			}
		}
		return true
	})
	// Registered after the nodes' own cleanups, so it runs before they
	// are killed.
	t.Cleanup(c.verifyReplicas)
	return c
}

// verifyReplicas ends every fault test (a cleanup of newCluster): the nodes
// still running must hold the same replicated state at one Raft index
// (brokertest.VerifyAddrs, through the client API). Frozen nodes are
// thawed first; nodes that are down are left out. It does nothing after a
// failure, or without a quorum of running nodes.
func (c *cluster) verifyReplicas() {
	c.t.Helper()
	if c.t.Failed() || c.t.Skipped() {
		return
	}
	var up, down []string
	for _, n := range c.nodes {
		if n.running() {
			n.Cont()
			up = append(up, n.Addr())
		} else {
			down = append(down, n.cfg.ID)
		}
	}
	if 2*len(up) <= len(c.nodes) {
		c.t.Logf("replicas not verified: only %d of %d nodes run", len(up), len(c.nodes))
		return
	}
	brokertest.VerifyAddrs(c.t, up, down...)
}

// addrs returns the client addresses of all nodes, up or down.
func (c *cluster) addrs() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.Addr())
	}
	return out
}

// byID returns the index of the node with id, or -1.
func (c *cluster) byID(id string) int {
	for i, n := range c.nodes {
		if n.cfg.ID == id {
			return i
		}
	}
	return -1
}

// leader waits until a running node is the leader, as the cluster's
// status says, and returns its index.
func (c *cluster) leader() int {
	c.t.Helper()
	return c.leaderNot("")
}

// leaderNot waits until a running node other than the one with id old is
// the leader and returns its index.
func (c *cluster) leaderNot(old string) int {
	c.t.Helper()
	idx := -1
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := within(3*time.Second, c.cl.ClusterStatus)
		if err == nil && st.LeaderID != "" && st.LeaderID != old && st.AnsweredBy == st.LeaderID {
			if idx = c.byID(st.LeaderID); idx >= 0 && c.nodes[idx].running() {
				return idx
			}
		}
		if err == nil && st.AnsweredBy != st.LeaderID {
			// The client asked the node it believes leads, a follower now
			// (any node answers DescribeCluster): refresh its metadata.
			within(3*time.Second, c.cl.Metadata)
		}
		last = fmt.Sprintf("status %+v, error %v", st, err)
		if time.Now().After(deadline) {
			c.t.Fatalf("no leader other than %q within 30s; last: %s", old, last)
		}
		time.Sleep(20 * time.Millisecond) // polling the cluster's status
	}
}

// status asks node i itself for its Raft state (any node answers
// DescribeCluster; the client is pinned to node i).
func (c *cluster) status(i int) (client.ClusterStatus, error) {
	cl, err := pinnedClient(c.nodes[i].Addr())
	if err != nil {
		return client.ClusterStatus{}, err
	}
	defer cl.Close()
	return within(3*time.Second, cl.ClusterStatus)
}

// waitCaughtUp waits until node i has applied everything the leader had
// committed when the wait began.
func (c *cluster) waitCaughtUp(i int) {
	c.t.Helper()
	var target uint64
	waitFor(c.t, "the leader's commit index", 30*time.Second, func() bool {
		l := c.leader()
		st, err := c.status(l)
		target = st.CommitIndex
		return err == nil && st.AnsweredBy == st.LeaderID
	})
	waitFor(c.t, fmt.Sprintf("%s to apply index %d", c.nodes[i].cfg.ID, target), 60*time.Second, func() bool {
		st, err := c.status(i)
		return err == nil && st.AppliedIndex >= target
	})
}

// createTopic creates a topic through the cluster's client.
func (c *cluster) createTopic(name string, parts int32) {
	c.t.Helper()
	if err := c.cl.CreateTopic(ctxT(c.t, 30*time.Second), name, client.TopicConfig{Partitions: parts}); err != nil {
		c.t.Fatalf("create topic %s: %v", name, err)
	}
}

// newClient returns a client of addrs, closed when the test ends.
func newClient(t *testing.T, addrs ...string) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{Brokers: addrs, DialTimeout: time.Second, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// pinnedClient returns a client whose every connection goes to addr,
// whatever node the cluster's metadata names: the client reads from the
// leader once it knows one, and this is how a test reads one node's data.
func pinnedClient(addr string) (*client.Client, error) {
	var d net.Dialer
	return client.New(client.Config{
		Brokers: []string{addr}, DialTimeout: time.Second, RequestTimeout: 3 * time.Second,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	})
}

// metric scrapes one unlabelled gauge or counter from a node's /metrics.
func metric(metricsAddr, name string) (float64, error) {
	hc := http.Client{Timeout: 3 * time.Second}
	resp, err := hc.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			return strconv.ParseFloat(f[1], 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("metric %s not found at %s", name, metricsAddr)
}

// waitFor polls cond every 20ms until it holds; past timeout it fails the
// test. Call it from the test's goroutine.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// within calls f with a context that ends after d.
func within[T any](d time.Duration, f func(ctx context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return f(ctx)
}

// ctxT returns a context that ends after d or when the test ends.
func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// killLeaders SIGKILLs the leader kills times in a row, each time the new
// one. Before each kill waitAcked(acked()+300) lets a producer make
// progress under the current leader; each killed node is restarted and
// caught up before the next kill, so a quorum always remains.
func (c *cluster) killLeaders(kills int, acked func() int, waitAcked func(n int)) {
	c.t.Helper()
	for k := 1; k <= kills; k++ {
		waitAcked(acked() + 300)
		l := c.leader()
		victim := c.nodes[l]
		at := acked()
		start := time.Now()
		victim.Kill()
		nl := c.leaderNot(victim.cfg.ID)
		elected := time.Since(start)
		victim.Restart()
		c.waitCaughtUp(l)
		c.t.Logf("kill %d/%d: leader %s SIGKILLed at %d acked; %s leads after %v; %s back and caught up after %v",
			k, kills, victim.cfg.ID, at, c.nodes[nl].cfg.ID, elected.Round(time.Millisecond), victim.cfg.ID, time.Since(start).Round(time.Millisecond))
	}
}
