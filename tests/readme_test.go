package tests

import (
	"context"
	"testing"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/client"
)

// TestReadmeExample runs the embedding example of README.md as written.
func TestReadmeExample(t *testing.T) {
	ctx := context.Background()
	k, v := []byte("k"), []byte("v")

	b, err := broker.Start(broker.Config{DataDir: t.TempDir()}) // one node on 127.0.0.1, free ports
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	cl, err := client.New(client.Config{Brokers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	err = cl.CreateTopic(ctx, "orders", client.TopicConfig{Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll})
	res, err := p.Produce(ctx, client.Message{Topic: "orders", Key: k, Value: v})
	if err != nil {
		t.Fatal(err)
	}

	r := cl.Reader(client.ReaderConfig{Topic: "orders", Partition: res.Partition, Offset: res.Offset})
	recs, err := r.Fetch(ctx)
	if err != nil || len(recs) != 1 || string(recs[0].Value) != "v" || recs[0].Offset != res.Offset {
		t.Fatalf("fetched %+v, %v", recs, err)
	}

	// A consumer group: partitions shared among members, offsets committed
	// through Raft, a crashed member's partitions resumed elsewhere.
	c, err := cl.Consumer(client.ConsumerConfig{Group: "billing", Topics: []string{"orders"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()          // commits what Poll returned, leaves the group
	msgs, err := c.Poll(ctx) // process msgs; a later Poll commits them (at-least-once)
	if err != nil || len(msgs) != 1 || string(msgs[0].Value) != "v" {
		t.Fatalf("polled %+v, %v", msgs, err)
	}
}
