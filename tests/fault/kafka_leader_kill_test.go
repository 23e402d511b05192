package fault

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minibroker/minibroker/client/check"
	"github.com/minibroker/minibroker/replication"
	"github.com/minibroker/minibroker/tests/internal/testutil"
)

// TestKafkaLeaderKilled: a franz-go producer, idempotent with acks=all
// (its defaults), writes through the nodes' Kafka listeners while the
// leader is SIGKILLed three times, each killed node restarted and caught
// up before the next kill. Every record franz-go saw acknowledged is read
// back (through the native protocol: cross-protocol too), and none is
// stored twice: the Kafka producer id, epoch and sequence numbers dedup
// its retries across failovers.
func TestKafkaLeaderKilled(t *testing.T) { coreStores(t, testKafkaLeaderKilled) }

func testKafkaLeaderKilled(t *testing.T, store replication.RaftLogStore) {
	kafka := testutil.FreeAddrs(t, 3)
	c := newCluster(t, store, 3, func(cfg *nodeConfig) {
		var i int
		fmt.Sscanf(cfg.ID, "n%d", &i)
		cfg.KafkaAddr = kafka[i-1]
	})
	c.createTopic("orders", 3)
	ck := check.New()
	kp := startKafkaProducer(t, kafka, ck, "orders", "k", 2000)
	const kills = 3
	c.killLeaders(kills, kp.ackedCount, func(n int) { kp.waitAcked(t, n, 60*time.Second) })
	kp.waitAcked(t, kp.ackedCount()+300, 60*time.Second)
	kp.close()
	readAll(t, c.cl, "orders", 3, ck, "readback")
	r := ck.Report()
	t.Logf("%d leader kills, franz-go idempotent acks=all:\n%s", kills, r)
	if !r.OK() || r.Lost() != 0 || r.Acked == 0 {
		t.Fatalf("acks=all through the Kafka listener broke its promise through leader kills:\n%s", r)
	}
	if g := r.Groups[0]; g.DuplicateCount != 0 {
		t.Fatalf("an idempotent Kafka producer's records were stored twice: %d records, %d extra copies\n%s",
			g.DuplicateCount, g.DuplicateDeliveries, r)
	}
}

// kafkaProducer is a franz-go producer at a fixed rate whose outcomes go
// to a checker.
type kafkaProducer struct {
	cl   *kgo.Client
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex     // guards acked and errs
	acked int            // records acknowledged
	errs  map[string]int // error texts seen, for the log
}

func startKafkaProducer(t *testing.T, brokers []string, ck *check.Checker, topic, stream string, rate int) *kafkaProducer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1<<30), kgo.RecordDeliveryTimeout(2*time.Minute),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	kp := &kafkaProducer{cl: cl, stop: make(chan struct{}), done: make(chan struct{}), errs: map[string]int{}}
	go func() {
		defer close(kp.done)
		paceProduce(kp.stop, rate, 256, func(i int64, done func()) {
			v := check.Value(stream, int(i))
			cl.Produce(context.Background(), &kgo.Record{Key: v, Value: v}, func(r *kgo.Record, err error) {
				out := check.Acked
				if err != nil {
					out = check.Unknown // franz-go gave up: it may or may not be stored
					kp.mu.Lock()
					if kp.errs[err.Error()]++; kp.errs[err.Error()] == 1 && len(kp.errs) <= 5 {
						t.Logf("kafka producer %s: record %d: %v", stream, i, err)
					}
					kp.mu.Unlock()
				}
				ck.Produced(check.Attempt{Stream: stream, Seq: i, Topic: topic, Partition: r.Partition, Offset: r.Offset, Value: v, Outcome: out})
				if out == check.Acked {
					kp.mu.Lock()
					kp.acked++
					kp.mu.Unlock()
				}
				done()
			})
		})
		if err := cl.Flush(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("kafka producer flush: %v", err)
		}
		cl.Close()
	}()
	t.Cleanup(kp.close)
	return kp
}

func (kp *kafkaProducer) ackedCount() int {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	return kp.acked
}

// waitAcked waits until n records are acknowledged.
func (kp *kafkaProducer) waitAcked(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d Kafka records acked", n), timeout, func() bool { return kp.ackedCount() >= n })
}

// close stops producing and waits until every outcome is recorded.
// Idempotent.
func (kp *kafkaProducer) close() {
	select {
	case <-kp.stop:
	default:
		close(kp.stop)
	}
	<-kp.done
}
