package localcluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/broker/localcluster"
	"github.com/minibroker/minibroker/client"
)

// newLeader polls until a node other than old is the ready leader.
func newLeader(t *testing.T, c *localcluster.Cluster, old int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if l := c.Leader(); l >= 0 && l != old {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader other than n%d", old+1)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
}

// TestFaults partitions the leader, then pauses the next one: each time
// the others elect a leader and keep taking acks=all writes; after Heal
// and Resume every node holds the same replicas.
func TestFaults(t *testing.T) {
	c, err := localcluster.Start(3, localcluster.Options{Faults: true, Configure: func(_ int, cfg *broker.Config) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 150*time.Millisecond, 150*time.Millisecond, 100*time.Millisecond
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := client.New(client.Config{Brokers: c.Addrs(), RequestTimeout: 2 * time.Second, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.CreateTopic(ctx, "t", client.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll, Retries: 50, RetryBackoffMax: 200 * time.Millisecond})
	defer p.Close()
	produce := func(v string) {
		t.Helper()
		if _, err := p.Produce(ctx, client.Message{Topic: "t", Value: []byte(v)}); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	produce("before")

	first := c.Leader()
	if err := c.Partition(first); err != nil {
		t.Fatal(err)
	}
	if !c.IsCut(first) {
		t.Fatal("IsCut is false after Partition")
	}
	second := newLeader(t, c, first)
	produce("partitioned")
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}

	if err := c.Pause(second); err != nil {
		t.Fatal(err)
	}
	newLeader(t, c, second)
	produce("paused")
	if err := c.Resume(second); err != nil {
		t.Fatal(err)
	}
	produce("after")
	rep := brokertest.VerifyAddrs(t, c.Addrs())
	t.Logf("n%d partitioned, n%d paused; replicas agree at index %d", first+1, second+1, rep.Index)
}

func TestFaultsOff(t *testing.T) {
	c, err := localcluster.Start(1, localcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, f := range map[string]func() error{
		"Partition": func() error { return c.Partition(0) }, "CutRaft": func() error { return c.CutRaft(0) },
		"Heal": c.Heal, "Pause": func() error { return c.Pause(0) }, "Resume": func() error { return c.Resume(0) },
	} {
		if err := f(); !errors.Is(err, localcluster.ErrNoFaults) {
			t.Errorf("%s: %v, want ErrNoFaults", name, err)
		}
	}
}
