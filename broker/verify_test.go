package broker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
)

// fill creates topic t with 2 partitions and writes n messages whose values
// start with "payload-" through cl (acks=all), odd ones to partition 1.
// Not idempotent: a node that replays idempotent batches after a restart
// records their offsets as -1 in its producer state, a divergence of the
// metadata these tests are not about.
func fill(t *testing.T, cl *client.Client, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.CreateTopic(ctx, "t", client.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll, Idempotence: client.IdempotenceOff})
	defer p.Close()
	for i := range n {
		v := fmt.Sprintf("payload-%04d", i)
		if _, err := p.Produce(ctx, client.Message{Topic: "t", Partition: int32(i % 2), Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifyClusterHealthy(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	cl, err := client.New(client.Config{Brokers: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	fill(t, cl, 40)
	r := c.VerifyReplicas()
	if len(r.Nodes) != 3 || r.Index == 0 || !r.OK() {
		t.Fatalf("report: %+v", r)
	}
	for _, n := range r.Nodes {
		if n.Meta == "" || len(n.Partitions) != 2 || n.Partitions[0].NextOffset+n.Partitions[1].NextOffset != 40 {
			t.Fatalf("node %s: %+v", n.ID, n)
		}
	}
	// A node that is down is reported as unreachable: not OK.
	down := (c.WaitLeader() + 1) % 3
	c.Kill(down)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err = cl.VerifyCluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(r.Nodes, func(n client.NodeDigest) bool { return n.ID == fmt.Sprintf("n%d", down+1) })
	if r.OK() || i < 0 || r.Nodes[i].Err == nil || !errors.Is(r.Nodes[i].Err, client.ErrBrokerUnavailable) {
		t.Fatalf("report with n%d down: %+v", down+1, r)
	}
	c.Restart(down)
	c.VerifyReplicas()
}

// TestVerifyClusterNamesDamagedReplica changes a record's value in one
// follower's segment files while it is down, with valid CRCs so that its
// log opens without noticing: the report names that node and partition.
func TestVerifyClusterNamesDamagedReplica(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	cl, err := client.New(client.Config{Brokers: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	fill(t, cl, 10)
	c.VerifyReplicas()
	victim := (c.WaitLeader() + 1) % 3
	c.Kill(victim)
	// payload-0003 went to partition 1.
	if n := c.ReplaceInData(victim, []byte("payload-0003"), []byte("PAYLOAD-0003")); n == 0 {
		t.Fatal("the value is in no segment file")
	}
	c.Restart(victim)
	id := fmt.Sprintf("n%d", victim+1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var r client.VerifyReport
	for { // until every node answers (the restarted one may lag a round)
		if r, err = cl.VerifyCluster(ctx); err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(r.Nodes, func(n client.NodeDigest) bool { return n.Err != nil }) {
			break
		}
	}
	if r.OK() || !errors.Is(r.Err(), client.ErrReplicasDiffer) {
		t.Fatalf("report over a damaged replica: %v\n%s", r.Err(), brokertest.FormatReport(r))
	}
	for _, n := range r.Nodes {
		want := []string(nil)
		if n.ID == id {
			want = []string{"t/1"}
		}
		if !slices.Equal(n.Differs, want) {
			t.Fatalf("%s differs in %v, want %v\n%s", n.ID, n.Differs, want, brokertest.FormatReport(r))
		}
	}
}
