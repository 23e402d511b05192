package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/internal/wire"
	"github.com/minibroker/minibroker/tests/internal/testutil"
)

// cliNode is one `minibroker serve` process of a cluster and the command
// that starts it.
type cliNode struct {
	id, addr string
	args     []string
	p        *proc
}

func (n *cliNode) start(t *testing.T) {
	t.Helper()
	n.p = startProc(t, n.id, nil, n.args...)
	if m := n.p.waitStdout(servingLine); m[1] != n.id || m[2] != n.addr {
		t.Fatalf("%s: serving line %q", n.id, m[0])
	}
}

// TestCLIClusterFailover runs the README's three-node cluster as real
// processes: n1 --bootstrap, n2 and n3 --join n1. `produce --acks all`
// goes on while the leader is killed with SIGKILL, and exits 0; a
// `consume --group G --from-beginning` process running all along reads
// every line, and so does consuming every partition from the beginning
// (duplicates are allowed, and counted). The killed node comes back with
// its same command and catches up. Then `cluster status` shows the three
// nodes, `cluster remove` retires one, and SIGTERM stops the others with
// exit 0, the leader handing leadership over.
func TestCLIClusterFailover(t *testing.T) {
	ports := testutil.FreeAddrs(t, 6)
	dir := t.TempDir()
	nodes := make([]*cliNode, 3)
	var addrs []string
	for i := range nodes {
		n := &cliNode{id: fmt.Sprintf("n%d", i+1), addr: ports[2*i]}
		n.args = []string{"serve", "--kafka-addr", "127.0.0.1:0", "--id", n.id, "--data", filepath.Join(dir, n.id), "--addr", n.addr, "--raft-addr", ports[2*i+1]}
		if i == 0 {
			n.args = append(n.args, "--bootstrap")
		} else {
			n.args = append(n.args, "--join", nodes[0].addr)
		}
		nodes[i] = n
		addrs = append(addrs, n.addr)
	}
	for _, n := range nodes {
		n.start(t)
	}
	brokers := "--brokers=" + strings.Join(addrs, ",")
	cl := newClient(t, addrs...)
	waitUntil(t, "3 registered nodes and a leader", func() bool {
		md, err := cl.Metadata(ctxT(t))
		return err == nil && md.LeaderAddr != "" && len(md.Nodes) == 3
	})
	mustCLI(t, "", "topic", "create", "orders", "--partitions", "3", brokers)
	group := startProc(t, "consume --group", nil, "consume", "orders", "--group", "g", "--from-beginning", brokers)

	// Produce through a pipe, so lines can still be coming when the
	// leader dies and after.
	const first, total = 3000, 5000
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdinW.Close()
	prod := startProc(t, "produce", stdinR, "produce", "orders", "--acks", "all", brokers)
	stdinR.Close()
	if _, err := stdinW.WriteString(numberedLines(0, first)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "300 acked records", func() bool { return storedRecords(t, cl) >= 300 })
	// The group consumer has joined and is reading when the leader dies.
	// (Killed during its first JoinGroup, it would lose the answer naming
	// its member id, and its next join would wait a session timeout for
	// that member to expire.)
	waitUntil(t, "the group consumer to print 100 lines", func() bool { return strings.Count(group.stdout.String(), "\n") >= 100 })

	leader := leaderNode(t, cl, nodes)
	before := storedRecords(t, cl)
	leader.p.kill()
	t.Logf("killed the leader %s; %d records were stored a moment before", leader.id, before)
	if _, err := stdinW.WriteString(numberedLines(first, total)); err != nil {
		t.Fatal(err)
	}
	stdinW.Close()
	if code := prod.wait(90 * time.Second); code != 0 {
		t.Fatalf("produce exited %d: %s", code, prod.stderr.String())
	}
	if got, want := prod.stderr.String(), fmt.Sprintf("sent %d, acked %d, failed 0\n", total, total); got != want {
		t.Fatalf("produce stderr %q, want %q", got, want)
	}
	waitUntil(t, "a new leader", func() bool {
		md, err := cl.Metadata(ctxT(t))
		return err == nil && md.LeaderID != "" && md.LeaderID != leader.id
	})

	// The group consumer, which ran through the failover, got every line.
	groupSeen := map[string]int{}
	waitUntil(t, "the group consumer to print every line", func() bool {
		clear(groupSeen)
		for _, l := range strings.Split(group.stdout.String(), "\n") {
			groupSeen[l]++
		}
		for i := range total {
			if groupSeen["line-"+strconv.Itoa(i)] == 0 {
				return false
			}
		}
		return true
	})
	group.signal(syscall.SIGTERM)
	if code := group.wait(30 * time.Second); code != 0 {
		t.Fatalf("consume --group exited %d after SIGTERM: %s", code, group.stderr.String())
	}
	groupPrinted := strings.Count(group.stdout.String(), "\n")
	t.Logf("failover: the group consumer printed %d lines for %d produced: %d duplicates", groupPrinted, total, groupPrinted-total)
	if groupPrinted > total {
		t.Logf("the group consumer's warnings:\n%s", tail(group.stderr.String(), 10))
	}
	for _, o := range describeGroupCLI(t, "g", brokers).Offsets {
		if o.Lag != 0 {
			t.Fatalf("after the group consumer stopped: partition %d has lag %d", o.Partition, o.Lag)
		}
	}

	// Every line is there; count the duplicates.
	stored := storedRecords(t, cl)
	out, _ := mustCLI(t, "", "consume", "orders", "--from-beginning", "--max", strconv.FormatInt(stored, 10), brokers)
	seen := make(map[string]int, total)
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		seen[l]++
	}
	dups := 0
	for i := range total {
		switch c := seen["line-"+strconv.Itoa(i)]; {
		case c == 0:
			t.Fatalf("line-%d is missing after failover (%d records stored)", i, stored)
		case c > 1:
			dups += c - 1
		}
	}
	if int64(total+dups) != stored || len(seen) != total {
		t.Fatalf("%d records stored, %d distinct lines consumed, %d duplicates", stored, len(seen), dups)
	}
	t.Logf("failover: %d lines, %d records stored, %d duplicates", total, stored, dups)

	// The killed node comes back with its same command and catches up.
	leader.start(t)
	want := highWatermarks(t, cl)
	waitUntil(t, leader.id+" caught up", func() bool {
		md, err := nodeMetadata(leader.addr)
		if err != nil || len(md.Nodes) != 3 || md.LeaderID == "" {
			return false
		}
		for _, tm := range md.Topics {
			if tm.Name == "orders" && len(tm.Partitions) == len(want) {
				for _, p := range tm.Partitions {
					if p.HighWatermark != want[p.Partition] {
						return false
					}
				}
				return true
			}
		}
		return false
	})
	if solo, err := client.New(client.Config{Brokers: []string{leader.addr}}); err != nil {
		t.Fatalf("the restarted node does not serve clients: %v", err)
	} else {
		solo.Close()
	}
	brokertest.VerifyAddrs(t, addrs)
	clusterStatusAndRemove(t, cl, nodes, brokers)
}

// cliCluster is `cluster status --format json`.
type cliCluster struct {
	Leader       string `json:"leader"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	Nodes        []struct {
		ID       string `json:"id"`
		Addr     string `json:"addr"`
		RaftAddr string `json:"raft_addr"`
		Voter    bool   `json:"voter"`
		Leader   bool   `json:"leader"`
	} `json:"nodes"`
}

func clusterStatusCLI(t *testing.T, brokers string) cliCluster {
	t.Helper()
	out, _ := mustCLI(t, "", "cluster", "status", "--format", "json", brokers)
	var st cliCluster
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("cluster status: %v\n%s", err, out)
	}
	return st
}

// clusterStatusAndRemove: `cluster status` shows the three nodes and the
// leader; `cluster remove` retires a follower, which SIGTERM then stops;
// SIGTERM stops the leader too, which hands leadership over (exit 0).
func clusterStatusAndRemove(t *testing.T, cl *client.Client, nodes []*cliNode, brokers string) {
	st := clusterStatusCLI(t, brokers)
	if len(st.Nodes) != 3 || st.Leader == "" || st.Term == 0 || st.CommitIndex == 0 || st.AppliedIndex == 0 {
		t.Fatalf("cluster status: %+v", st)
	}
	for i, n := range st.Nodes {
		if n.ID != nodes[i].id || n.Addr != nodes[i].addr || !n.Voter || n.Leader != (n.ID == st.Leader) {
			t.Fatalf("cluster status node %d: %+v, want %s at %s", i, n, nodes[i].id, nodes[i].addr)
		}
	}
	table, _ := mustCLI(t, "", "cluster", "status", brokers)
	if !strings.HasPrefix(table, "NODE") || !strings.Contains(table, "\nleader "+st.Leader+", term ") {
		t.Fatalf("cluster status table:\n%s", table)
	}
	leader := leaderNode(t, cl, nodes)
	var follower *cliNode
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	out, _ := mustCLI(t, "", "cluster", "remove", follower.id, brokers)
	if !strings.HasPrefix(out, "removed node \""+follower.id+"\"") {
		t.Fatalf("cluster remove: %q", out)
	}
	if code, _, stderr := runCLI(t, "", "cluster", "remove", follower.id, brokers); code != 1 ||
		!strings.Contains(stderr, "is not in the cluster — see the nodes with `minibroker cluster status`") {
		t.Fatalf("removing it again: exit %d, %q", code, stderr)
	}
	if st := clusterStatusCLI(t, brokers); len(st.Nodes) != 2 {
		t.Fatalf("after remove: %+v", st)
	}
	for _, n := range []*cliNode{follower, leader} {
		n.p.signal(syscall.SIGTERM)
		if code := n.p.wait(30 * time.Second); code != 0 {
			t.Fatalf("%s exited %d after SIGTERM", n.id, code)
		}
	}
	if !strings.Contains(leader.p.stderr.String(), "leadership transferred") {
		t.Fatalf("the leader did not hand leadership over:\n%s", tail(leader.p.stderr.String(), 20))
	}
}

// waitUntil polls cond every 20ms until it holds, or fails the test after
// 60s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// highWatermarks returns the high-water mark of each partition of
// "orders", as the leader reports them.
func highWatermarks(t *testing.T, cl *client.Client) map[int32]int64 {
	t.Helper()
	out := map[int32]int64{}
	for p := range int32(3) {
		hwm, err := cl.ListOffsets(ctxT(t), "orders", p, client.Latest)
		if err != nil {
			t.Fatalf("list offsets: %v", err)
		}
		out[p] = hwm
	}
	return out
}

// storedRecords returns the number of records in "orders".
func storedRecords(t *testing.T, cl *client.Client) int64 {
	t.Helper()
	var n int64
	for _, hwm := range highWatermarks(t, cl) {
		n += hwm
	}
	return n
}

// leaderNode returns the node the cluster's metadata names as leader.
func leaderNode(t *testing.T, cl *client.Client, nodes []*cliNode) *cliNode {
	t.Helper()
	md, err := cl.Metadata(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.id == md.LeaderID {
			return n
		}
	}
	t.Fatalf("leader %q is none of the nodes", md.LeaderID)
	return nil
}

// nodeMetadata asks the node at addr itself for its view of the cluster.
// The client always turns to the leader once it knows one, so to see
// whether a follower has caught up this speaks the protocol directly.
func nodeMetadata(addr string) (*wire.MetadataResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	frame, err := wire.EncodeRequest(nil, wire.RequestHeader{APIKey: wire.Metadata, CorrelationID: 1}, &wire.MetadataRequest{})
	if err != nil {
		return nil, err
	}
	if _, err := nc.Write(frame); err != nil {
		return nil, err
	}
	payload, err := wire.ReadFrame(nc, 0, nil)
	if err != nil {
		return nil, err
	}
	_, body, err := wire.DecodeResponseHeader(payload)
	if err != nil {
		return nil, err
	}
	resp := new(wire.MetadataResponse)
	if err := wire.DecodeBody(body, resp); err != nil {
		return nil, err
	}
	return resp, resp.Err()
}
