package tests

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newClient(t *testing.T, addrs ...string) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{Brokers: addrs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// readAll reads a partition from offset 0 up to its latest offset.
func readAll(t *testing.T, cl *client.Client, topic string, p int32) []client.Record {
	t.Helper()
	ctx := ctxT(t)
	end, err := cl.ListOffsets(ctx, topic, p, client.Latest)
	if err != nil {
		t.Fatal(err)
	}
	r := cl.Reader(client.ReaderConfig{Topic: topic, Partition: p, Offset: 0, MaxWait: 100 * time.Millisecond})
	var out []client.Record
	for r.Offset() < end {
		recs, err := r.Fetch(ctx)
		if err != nil {
			t.Fatalf("fetch %s/%d at %d: %v", topic, p, r.Offset(), err)
		}
		out = append(out, recs...)
	}
	return out
}

func TestOrderPerPartition(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	cl := newClient(t, c.Addrs()...)
	ctx := ctxT(t)
	if err := cl.CreateTopic(ctx, "orders", client.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll})
	const keys, perKey = 12, 150
	errs := make(chan error, keys*perKey)
	for i := 0; i < perKey; i++ {
		for k := 0; k < keys; k++ {
			p.ProduceAsync(client.Message{Topic: "orders", Key: []byte(fmt.Sprintf("k%d", k)),
				Value: []byte(fmt.Sprintf("k%d:%d", k, i))}, func(_ client.Result, err error) { errs <- err })
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < keys*perKey; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	next := map[string]int{}
	total := 0
	for part := int32(0); part < 3; part++ {
		for _, r := range readAll(t, cl, "orders", part) {
			key, seq, _ := strings.Cut(string(r.Value), ":")
			n, _ := strconv.Atoi(seq)
			if client.HashKey([]byte(key), 3) != part {
				t.Fatalf("key %s in partition %d", key, part)
			}
			if n != next[key] {
				t.Fatalf("partition %d: %s:%d after %s:%d — out of order", part, key, n, key, next[key]-1)
			}
			next[key]++
			total++
		}
	}
	if total != keys*perKey {
		t.Fatalf("read %d messages, want %d", total, keys*perKey)
	}
	c.VerifyReplicas()
}

// TestLeaderKilledDuringAcksAllProduce kills the leader in the middle of a
// stream of acks=all produces. The client retries through the leader
// change; afterwards every acknowledged message is readable. Retries after
// an unknown outcome may duplicate: those are counted, not failed.
func TestLeaderKilledDuringAcksAllProduce(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	cl := newClient(t, c.Addrs()...)
	ctx := ctxT(t)
	if err := cl.CreateTopic(ctx, "t", client.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll, Retries: 50})
	acked := map[string]bool{}
	failed := 0
	for i := 0; i < 400; i++ {
		if i == 150 {
			c.Kill(c.WaitLeader())
		}
		v := fmt.Sprintf("m%04d", i)
		if _, err := p.Produce(ctx, client.Message{Topic: "t", Key: []byte(v), Value: []byte(v)}); err != nil {
			failed++ // not acked: it may or may not be there
			continue
		}
		acked[v] = true
	}
	seen := map[string]int{}
	for part := int32(0); part < 2; part++ {
		for _, r := range readAll(t, cl, "t", part) {
			seen[string(r.Value)]++
		}
	}
	lost, dups := 0, 0
	for v := range acked {
		if seen[v] == 0 {
			lost++
		}
	}
	for _, n := range seen {
		dups += n - 1
	}
	t.Logf("acked %d, not acked %d, duplicates %d", len(acked), failed, dups)
	if lost > 0 {
		t.Fatalf("%d acknowledged messages lost", lost)
	}
	if len(acked) < 300 {
		t.Fatalf("only %d of 400 acked: the client did not ride out the leader change", len(acked))
	}
	c.VerifyReplicas()
}

func TestClientFollowsRedirectFromFollower(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	follower := (c.WaitLeader() + 1) % 3
	cl := newClient(t, c.Broker(follower).Addr()) // knows only a follower
	ctx := ctxT(t)
	if err := cl.CreateTopic(ctx, "t", client.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll})
	res, err := p.Produce(ctx, client.Message{Topic: "t", Value: []byte("via redirect")})
	if err != nil || res.Offset != 0 {
		t.Fatalf("produce: %+v %v", res, err)
	}
	if got := readAll(t, cl, "t", 0); len(got) != 1 || string(got[0].Value) != "via redirect" {
		t.Fatalf("read %v", got)
	}
	c.VerifyReplicas()
}

func TestClientSeesTypedErrors(t *testing.T) {
	b := brokertest.NewBroker(t)
	cl := newClient(t, b.Addr())
	ctx := ctxT(t)
	if err := cl.CreateTopic(ctx, "t", client.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if err := cl.CreateTopic(ctx, "t", client.TopicConfig{Partitions: 1}); !errors.Is(err, client.ErrTopicExists) {
		t.Fatalf("create twice: %v", err)
	}
	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll, Retries: 1})
	big := make([]byte, 2<<20)
	if _, err := p.Produce(ctx, client.Message{Topic: "t", Value: big}); !errors.Is(err, client.ErrMessageTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if _, err := p.Produce(ctx, client.Message{Topic: "nope", Value: []byte("x")}); !errors.Is(err, client.ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
	if _, err := p.Produce(ctx, client.Message{Topic: "t", Value: []byte("ok")}); err != nil {
		t.Fatalf("produce after errors: %v", err)
	}
}
