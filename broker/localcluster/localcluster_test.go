package localcluster_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/broker/localcluster"
	"github.com/minibroker/minibroker/client"
)

func TestStartThreeNodesAndClose(t *testing.T) {
	configured := 0
	c, err := localcluster.Start(3, localcluster.Options{Configure: func(i int, cfg *broker.Config) { configured++ }})
	if err != nil {
		t.Fatal(err)
	}
	dir := c.Dir()
	if c.Len() != 3 || len(c.Addrs()) != 3 || configured != 3 {
		t.Fatalf("%d nodes, %d addresses, configured %d", c.Len(), len(c.Addrs()), configured)
	}
	cl, err := client.New(client.Config{Brokers: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := cl.ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 3 {
		t.Fatalf("%d members, want 3: %+v", len(st.Nodes), st)
	}
	if err := cl.CreateTopic(ctx, "t", client.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	p := cl.Producer(client.ProducerConfig{})
	if _, err := p.Produce(ctx, client.Message{Topic: "t", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	cl.Close()
	brokertest.VerifyAddrs(t, c.Addrs())
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("temporary dir %s left behind: %v", dir, err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestStartKeepsAGivenDir(t *testing.T) {
	dir := t.TempDir()
	c, err := localcluster.Start(1, localcluster.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/n1/raft.db"); err != nil {
		t.Fatalf("node data not kept: %v", err)
	}
	if _, err := localcluster.Start(0, localcluster.Options{}); err == nil {
		t.Fatal("Start(0) succeeded")
	}
}

func TestKillAndRestart(t *testing.T) {
	c, err := localcluster.Start(3, localcluster.Options{Configure: func(_ int, cfg *broker.Config) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 150*time.Millisecond, 150*time.Millisecond, 100*time.Millisecond
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addrs := c.Addrs()
	old := c.Leader()
	if old < 0 {
		t.Fatal("no leader after Start")
	}
	if err := c.Kill(old); err != nil {
		t.Fatal(err)
	}
	if c.Broker(old) != nil {
		t.Fatal("Broker of a killed node is not nil")
	}
	deadline := time.Now().Add(20 * time.Second)
	for c.Leader() < 0 {
		if time.Now().After(deadline) {
			t.Fatal("no new leader after the leader was killed")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
	if err := c.Restart(old); err != nil {
		t.Fatal(err)
	}
	if b := c.Broker(old); b == nil || b.Addr() != addrs[old] {
		t.Fatalf("restarted node %v, want it back at %s", b, addrs[old])
	}
	if got := c.Addrs(); !slices.Equal(got, addrs) {
		t.Fatalf("addresses %v after the restart, want %v", got, addrs)
	}
	brokertest.VerifyAddrs(t, c.Addrs())
}
