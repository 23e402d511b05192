package brokertest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/broker/brokertest"
)

// A real Kafka cluster inside a Go test: three replicated nodes in the
// test's process, reached by an unmodified franz-go client through their
// Kafka listeners. The leader is killed while records stream through;
// every record is processed at least once. (README: "A real Kafka cluster
// inside a Go test".)
//
// The consumer reads the partitions directly (kgo.ConsumeTopics without a
// group). kafka_group_example_test.go is the same test with a consumer
// group that commits after processing.
func TestKafkaClusterInATest(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	createKafkaTopic(t, ctx, c.KafkaAddrs(), "orders", 3)

	const batches, perBatch = 100, 20
	stream := startOrderStream(t, ctx, c.KafkaAddrs(), "orders", batches, perBatch)

	consumer, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaAddrs()...), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond), fastFailover)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	processed := processOrders(ctx, consumer, batches*perBatch, nil, false, nil)

	// Mid-stream: kill the leader. The producer and the consumer find the
	// new one through Metadata, as they do on Kafka.
	stream.waitBatches(t, batches/3)
	leader := c.WaitLeader()
	c.Kill(leader)
	t.Logf("killed the leader n%d after %d batches", leader+1, stream.sent())

	if err := stream.wait(); err != nil {
		t.Fatalf("producer: %v", err) // an idempotent producer retries through the failover
	}
	seen := <-processed
	// Read straight from the partitions, each stored record is seen once:
	// the idempotent producer's retries through the failover stored
	// nothing twice.
	if again := checkEveryOrder(t, seen, batches*perBatch); again > 0 {
		t.Fatalf("%d orders stored more than once", again)
	}

	c.Restart(leader) // back as a follower; it catches up
	c.VerifyReplicas()
}

// fastFailover lets franz-go refresh its metadata soon after a failure
// (its default, 5s, would add seconds to every failover the test causes).
var fastFailover = kgo.MetadataMinAge(200 * time.Millisecond)

// createKafkaTopic creates topic with partitions partitions through a
// Kafka CreateTopics request, as any Kafka admin client sends it.
func createKafkaTopic(t *testing.T, ctx context.Context, seeds []string, topic string, partitions int32) {
	t.Helper()
	admin, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 3
	req.Topics, req.TimeoutMillis = append(req.Topics, rt), 10_000
	resp, err := req.RequestWith(ctx, admin)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// orderStream produces "order-<n>" records in batches, one batch after the
// other (each acknowledged before the next is sent), with franz-go's
// defaults: idempotent, acks=all, retries without limit.
type orderStream struct {
	done chan struct{}
	err  error // set before done closes

	mu      sync.Mutex // guards batches
	batches int        // batches acknowledged
}

func startOrderStream(t *testing.T, ctx context.Context, seeds []string, topic string, batches, perBatch int) *orderStream {
	t.Helper()
	producer, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), fastFailover)
	if err != nil {
		t.Fatal(err)
	}
	s := &orderStream{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer producer.Close()
		for b := range batches {
			recs := make([]*kgo.Record, perBatch)
			for j := range recs {
				n := b*perBatch + j
				recs[j] = &kgo.Record{Key: fmt.Appendf(nil, "customer-%d", n%7), Value: fmt.Appendf(nil, "order-%d", n)}
			}
			if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				s.err = fmt.Errorf("batch %d: %w", b, err)
				return
			}
			s.mu.Lock()
			s.batches++
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { <-s.done })
	return s
}

func (s *orderStream) sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batches
}

// waitBatches polls until n batches are acknowledged.
func (s *orderStream) waitBatches(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d batches acknowledged", n), time.Minute, func() bool { return s.sent() >= n })
}

// wait blocks until the stream is over and returns its error.
func (s *orderStream) wait() error {
	<-s.done
	return s.err
}

// processOrders polls consumer until until distinct orders have been
// processed at least once (or ctx ends), then sends how many times each
// was on the returned channel. seen (nil: none) counts what was processed
// before (by another consumer); the goroutine owns it until it sends it.
// afterPoll, if set, is called after each poll's records are processed (a
// group consumer commits there), except, with crash, after the last poll:
// the consumer stops as if it crashed before committing it.
func processOrders(ctx context.Context, consumer *kgo.Client, until int, seen map[string]int, crash bool, afterPoll func(context.Context) error) <-chan map[string]int {
	out := make(chan map[string]int, 1)
	if seen == nil {
		seen = map[string]int{}
	}
	go func() {
		defer func() { out <- seen }()
		for len(seen) < until && ctx.Err() == nil {
			fetches := consumer.PollFetches(ctx)
			fetches.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ }) // "process" it
			if crash && len(seen) >= until {
				return
			}
			if afterPoll != nil {
				if err := afterPoll(ctx); err != nil && ctx.Err() == nil {
					return
				}
			}
		}
	}()
	return out
}

// checkEveryOrder fails the test unless each of the n orders was
// processed at least once; it returns (and logs) how many were processed
// more than once.
func checkEveryOrder(t *testing.T, seen map[string]int, n int) int {
	t.Helper()
	missing, again := 0, 0
	for i := range n {
		switch k := seen[fmt.Sprintf("order-%d", i)]; {
		case k == 0:
			missing++
		case k > 1:
			again++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d orders never processed", missing, n)
	}
	t.Logf("all %d orders processed at least once; %d of them more than once", n, again)
	return again
}
