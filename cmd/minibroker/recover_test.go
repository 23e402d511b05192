package main

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
)

// TestRecoverRestoresACopy: a copy of a stopped follower's data directory
// (the backup of docs/operations.md), after `recover`, serves as a
// one-node cluster with every record and the group's committed offsets;
// the other members are gone from its membership.
func TestRecoverRestoresACopy(t *testing.T) {
	dirs := make([]string, 3)
	cl := brokertest.NewCluster(t, 3, func(i int, cfg *broker.Config) { dirs[i] = cfg.DataDir })
	c := newCLI(t)
	c.env["MINIBROKER_BROKERS"] = strings.Join(cl.Addrs(), ",")
	wantExit(t, c.run("topic", "create", "t", "--partitions", "2"), exitOK)
	c.stdin = lines("m", 20)
	wantExit(t, c.run("produce", "t"), exitOK, "acked 20")
	r := c.run("consume", "t", "--group", "g", "--from-beginning", "--max", "20")
	wantExit(t, r, exitOK)
	lead := cl.WaitLeader()
	f := (lead + 1) % 3
	committed := gauge(t, cl.Broker(lead), "minibroker_raft_commit_index")
	waitFor(t, "the follower to apply everything, the group's commits included", func() bool {
		return gauge(t, cl.Broker(f), "minibroker_raft_applied_index") >= committed
	})
	for i := range 3 {
		cl.Kill(i)
	}
	backup := t.TempDir()
	if err := os.CopyFS(backup, os.DirFS(dirs[f])); err != nil {
		t.Fatal(err)
	}

	raftAddr := freeAddr(t)
	r = c.run("recover", "--data", backup, "--raft-addr", raftAddr)
	wantExit(t, r, exitOK)
	if !strings.Contains(r.stdout, "one-node cluster") {
		t.Fatalf("recover said: %q", r.stdout)
	}
	// Started on another Raft port than recover was told: the node corrects
	// the address its configuration records.
	b, err := broker.Start(broker.Config{DataDir: backup, Addr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0",
		HeartbeatTimeout: brokertest.HeartbeatTimeout, ElectionTimeout: brokertest.ElectionTimeout,
		LeaderLeaseTimeout: brokertest.LeaderLeaseTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c.env["MINIBROKER_BROKERS"] = b.Addr()

	r = c.run("consume", "t", "--from-beginning", "--max", "20", "--idle", "5s")
	if got := strings.Count(r.stdout, "\n"); r.code != exitOK || got != 20 {
		t.Fatalf("the restored node has %d records, want 20: %+v", got, r)
	}
	c.stdin = "after\n"
	wantExit(t, c.run("produce", "t"), exitOK, "acked 1")
	// The group resumes at its commits: only the new record.
	r = c.run("consume", "t", "--group", "g", "--idle", "1s")
	if r.code != exitOK || r.stdout != "after\n" {
		t.Fatalf("group after the restore: %+v", r)
	}
	waitFor(t, "cluster status to show one node at its real Raft address", func() bool {
		r = c.run("cluster", "status", "--format", "json")
		return r.code == exitOK && strings.Count(r.stdout, `"id"`) == 1 &&
			strings.Contains(r.stdout, `"raft_addr": "`+b.RaftAddr()+`"`)
	})

	// A running node's directory cannot be rewritten.
	wantExit(t, c.run("recover", "--data", backup, "--raft-addr", raftAddr), exitRuntime)
}

// gauge reads an unlabelled gauge of b's metrics.
func gauge(t *testing.T, b *broker.Broker, name string) float64 {
	t.Helper()
	mfs, err := b.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
