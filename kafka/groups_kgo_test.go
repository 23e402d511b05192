package kafka_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ownership tracks which consumer owns each partition, from kgo's
// assignment callbacks, and fails the test if a partition is given to a
// second consumer before the first gave it up.
type ownership struct {
	t     *testing.T
	mu    sync.Mutex // guards owner and errs
	owner map[int32]string
	errs  []string
}

func (o *ownership) hooks(name string) []kgo.Opt {
	assigned := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, ps := range m {
			for _, p := range ps {
				if cur, ok := o.owner[p]; ok && cur != name {
					o.errs = append(o.errs, fmt.Sprintf("partition %d assigned to %s while %s owns it", p, name, cur))
				}
				o.owner[p] = name
			}
		}
	}
	gone := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, ps := range m {
			for _, p := range ps {
				if o.owner[p] == name {
					delete(o.owner, p)
				}
			}
		}
	}
	return []kgo.Opt{kgo.OnPartitionsAssigned(assigned), kgo.OnPartitionsRevoked(gone), kgo.OnPartitionsLost(gone)}
}

func (o *ownership) check() {
	o.t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.errs) > 0 {
		o.t.Fatalf("ownership violated: %v", o.errs)
	}
}

// spread reports whether all n partitions are owned, by exactly
// consumers distinct consumers.
func (o *ownership) spread(n, consumers int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	distinct := map[string]bool{}
	for _, c := range o.owner {
		distinct[c] = true
	}
	return len(o.owner) == n && len(distinct) == consumers
}

// groupConsumer is one kgo group member polling in a goroutine.
type groupConsumer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

// seen counts the records consumed per value, across consumers.
type seen struct {
	mu sync.Mutex // guards n
	n  map[string]int
}

func (s *seen) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.n)
}

func startConsumer(t *testing.T, addrs []string, group, topic, name string, own *ownership, got *seen, opts ...kgo.Opt) *groupConsumer {
	t.Helper()
	all := append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ClientID(name), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second), kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond })}, own.hooks(name)...)
	cl, err := kgo.NewClient(append(all, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gc := &groupConsumer{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(gc.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				got.mu.Lock()
				got.n[string(r.Value)]++
				got.mu.Unlock()
			})
			if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
				t.Logf("%s: commit: %v", name, err)
			}
		}
	}()
	t.Cleanup(gc.stop)
	return gc
}

// stop leaves the group (LeaveGroup) and closes the client.
func (gc *groupConsumer) stop() {
	select {
	case <-gc.done:
		return
	default:
	}
	gc.cancel()
	<-gc.done
	gc.cl.Close()
}

func produceValues(t *testing.T, addrs []string, topic string, from, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := from; i < from+n; i++ {
		cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprint("v", i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// Members 1 -> 3 -> 2 with kgo's range and cooperative-sticky balancers:
// every record is consumed, every partition is owned by at most one
// consumer at any time, and all are owned once the group settles.
func TestGroupRebalanceKgo(t *testing.T) {
	for _, bal := range []struct {
		name string
		b    kgo.GroupBalancer
	}{{"range", kgo.RangeBalancer()}, {"cooperative-sticky", kgo.CooperativeStickyBalancer()}} {
		t.Run(bal.name, func(t *testing.T) {
			b := newBroker(t)
			addrs := []string{b.KafkaAddr()}
			createTopic(t, dial(t, addrs[0]), "reb", 6)
			own := &ownership{t: t, owner: map[int32]string{}}
			got := &seen{n: map[string]int{}}
			produceValues(t, addrs, "reb", 0, 60)
			c0 := startConsumer(t, addrs, "g-"+bal.name, "reb", "c0", own, got, kgo.Balancers(bal.b))
			waitFor(t, "c0 to consume 60", func() bool { return got.count() == 60 })
			c1 := startConsumer(t, addrs, "g-"+bal.name, "reb", "c1", own, got, kgo.Balancers(bal.b))
			c2 := startConsumer(t, addrs, "g-"+bal.name, "reb", "c2", own, got, kgo.Balancers(bal.b))
			produceValues(t, addrs, "reb", 60, 60)
			waitFor(t, "120 consumed, 6 partitions spread over three", func() bool { return got.count() == 120 && own.spread(6, 3) })
			own.check()
			c1.stop()
			produceValues(t, addrs, "reb", 120, 60)
			waitFor(t, "180 consumed, 6 partitions spread over two", func() bool { return got.count() == 180 && own.spread(6, 2) })
			own.check()
			c0.stop()
			c2.stop()
			own.check()
		})
	}
}
