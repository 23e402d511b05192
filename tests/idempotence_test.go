package tests

import (
	"fmt"
	"testing"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
)

// countDelivery reads every partition of topic and returns how many of
// the acked values are missing and how many extra copies were stored.
func countDelivery(t *testing.T, cl *client.Client, topic string, parts int32, acked map[string]bool) (lost, dups int) {
	t.Helper()
	seen := map[string]int{}
	for p := int32(0); p < parts; p++ {
		for _, r := range readAll(t, cl, topic, p) {
			seen[string(r.Value)]++
		}
	}
	for v := range acked {
		if seen[v] == 0 {
			lost++
		}
	}
	for _, n := range seen {
		dups += n - 1
	}
	return lost, dups
}

// TestLostAcksDuplicateOnlyWithoutIdempotence loses one acknowledgement in
// seven (a proxy cuts the connection after the broker stored the batch).
// The producer retries each time. Without idempotence every retry of a
// stored batch is a duplicate; with it, the broker recognises the retry:
// no duplicate, nothing lost.
func TestLostAcksDuplicateOnlyWithoutIdempotence(t *testing.T) {
	for _, mode := range []client.Idempotence{client.IdempotenceOff, client.IdempotenceOn} {
		t.Run(fmt.Sprintf("idempotence=%v", mode == client.IdempotenceOn), func(t *testing.T) {
			proxy := newAckDropper(t, 7)
			c := brokertest.NewCluster(t, 1, func(_ int, cfg *broker.Config) { cfg.AdvertiseAddr = proxy.Addr() })
			proxy.start(c.Broker(0).ListenAddr())
			cl := newClient(t, proxy.Addr())
			ctx := ctxT(t)
			if err := cl.CreateTopic(ctx, "t", client.TopicConfig{Partitions: 1}); err != nil {
				t.Fatal(err)
			}
			p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll, Idempotence: mode, Retries: 50})
			acked := map[string]bool{}
			for i := 0; i < 100; i++ {
				v := fmt.Sprintf("m%03d", i)
				if _, err := p.Produce(ctx, client.Message{Topic: "t", Value: []byte(v)}); err != nil {
					t.Fatalf("produce %s: %v", v, err)
				}
				acked[v] = true
			}
			lost, dups := countDelivery(t, cl, "t", 1, acked)
			t.Logf("acks lost by the proxy: %d; stored duplicates: %d; lost: %d", proxy.dropped.Load(), dups, lost)
			if proxy.dropped.Load() == 0 {
				t.Fatal("the proxy lost no acks: the test tested nothing")
			}
			switch {
			case lost != 0:
				t.Fatalf("%d acked messages lost", lost)
			case mode == client.IdempotenceOn && dups != 0:
				t.Fatalf("%d duplicates with idempotence", dups)
			case mode == client.IdempotenceOff && dups == 0:
				t.Fatal("no duplicates without idempotence: the lost acks were not retried")
			}
		})
	}
}

// TestLeaderKilledDuringIdempotentProduce: many batches in flight when the
// leader dies; the idempotent producer retries on the new leader, whose
// state machine holds the dedup state: nothing lost, nothing twice.
func TestLeaderKilledDuringIdempotentProduce(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	cl := newClient(t, c.Addrs()...)
	ctx := ctxT(t)
	if err := cl.CreateTopic(ctx, "t", client.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll, Retries: 100, MaxInFlight: 16})
	type result struct {
		v   string
		err error
	}
	results := make(chan result, 3000)
	for i := 0; i < 3000; i++ {
		if i == 1000 {
			c.Kill(c.WaitLeader())
		}
		v := fmt.Sprintf("m%04d", i)
		p.ProduceAsync(client.Message{Topic: "t", Key: []byte(v), Value: []byte(v)}, func(_ client.Result, err error) {
			results <- result{v, err}
		})
	}
	acked := map[string]bool{}
	for i := 0; i < 3000; i++ {
		r := <-results
		if r.err == nil {
			acked[r.v] = true
		}
	}
	lost, dups := countDelivery(t, cl, "t", 2, acked)
	t.Logf("acked %d of 3000; duplicates %d; lost %d", len(acked), dups, lost)
	if lost != 0 || dups != 0 {
		t.Fatalf("idempotent producer through a failover: %d lost, %d duplicates", lost, dups)
	}
	if len(acked) < 2900 {
		t.Fatalf("only %d acked: the producer did not ride out the failover", len(acked))
	}
	c.VerifyReplicas()
}
