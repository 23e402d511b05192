package tests

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
)

// Consumer groups end to end: a crashed consumer, a zombie, failover, two
// groups, and members coming and going. Each test ends with the delivery
// checker's verdict.

// produceChecked produces n distinct messages with acks=all, recording
// each outcome in ck.
func produceChecked(t *testing.T, cl *client.Client, ck *check.Checker, topic, stream string, n int) {
	t.Helper()
	p := cl.Producer(client.ProducerConfig{})
	defer p.Close()
	var wg sync.WaitGroup
	for i := range n {
		v := check.Value(stream, i)
		wg.Add(1)
		p.ProduceAsync(client.Message{Topic: topic, Key: v, Value: v}, func(r client.Result, err error) {
			defer wg.Done()
			ck.Produced(check.Attempt{Stream: stream, Seq: int64(i), Topic: topic, Partition: r.Partition, Offset: r.Offset, Value: v, Outcome: check.OutcomeOf(err)})
		})
	}
	wg.Wait()
}

// groupConsumer runs one consumer of group in a goroutine: Poll, record,
// commit (manual, after processing), until stop is closed.
type groupConsumer struct {
	c    *client.Consumer
	cl   *client.Client
	done chan error
}

func startConsumer(t *testing.T, ck *check.Checker, cfg client.ConsumerConfig, stop <-chan struct{}, addrs ...string) *groupConsumer {
	t.Helper()
	cl, err := client.New(client.Config{Brokers: addrs, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	cfg.ManualCommit = true
	c, err := cl.Consumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := &groupConsumer{c: c, cl: cl, done: make(chan error, 1)}
	go func() { g.done <- g.run(ck, cfg.Group, stop) }()
	return g
}

func (g *groupConsumer) run(ck *check.Checker, group string, stop <-chan struct{}) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-stop; cancel() }()
	for {
		recs, err := g.c.Poll(ctx)
		if ctx.Err() != nil {
			return g.c.Close()
		}
		if err != nil {
			return err
		}
		for _, r := range recs {
			ck.Delivered(check.Delivery{Group: group, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: r.Value})
		}
		if err := g.c.Commit(ctx, recs...); err != nil && ctx.Err() == nil && !errors.Is(err, client.ErrCommitFenced) {
			return err
		}
	}
}

// waitDistinct waits until group has received n distinct messages.
func waitDistinct(t *testing.T, ck *check.Checker, group string, n int) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		r := ck.Report()
		for _, g := range r.Groups {
			if g.Group == group && g.Distinct >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s did not receive %d messages:\n%s", group, n, r)
		}
		time.Sleep(10 * time.Millisecond) // polling the checker
	}
}

func groupCfg(group string, topics ...string) client.ConsumerConfig {
	return client.ConsumerConfig{Group: group, Topics: topics, SessionTimeout: time.Second,
		HeartbeatInterval: 100 * time.Millisecond, MaxPollInterval: 10 * time.Second,
		FetchMaxWait: 100 * time.Millisecond}
}

func createTopicT(t *testing.T, cl *client.Client, name string, parts int32) {
	t.Helper()
	if err := cl.CreateTopic(ctxT(t), name, client.TopicConfig{Partitions: parts}); err != nil {
		t.Fatal(err)
	}
}

// TestCrashedConsumerResumesAtLastCommit: a member dies without leaving and
// with its last batch processed but not committed. After its session times
// out the other member owns its partitions and starts at the last commit:
// every message is processed, and the only duplicates are that batch.
func TestCrashedConsumerResumesAtLastCommit(t *testing.T) {
	b := brokertest.NewBroker(t)
	cl := newClient(t, b.Addr())
	createTopicT(t, cl, "orders", 4)
	ck := check.New()
	const n = 2000
	produceChecked(t, cl, ck, "orders", "p", n)

	// The victim consumes alone first, committing after each batch, and
	// then crashes holding one processed, uncommitted batch.
	victimCl, err := client.New(client.Config{Brokers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := groupCfg("g", "orders")
	cfg.ManualCommit = true
	cfg.FetchMaxBytes = 4 << 10 // small batches: several polls
	cfg.MaxPollRecords = 100
	victim, err := victimCl.Consumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	seen := 0
	for seen < n/4 {
		recs, err := victim.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			ck.Delivered(check.Delivery{Group: "g", Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: r.Value})
		}
		if err := victim.Commit(ctx, recs...); err != nil {
			t.Fatal(err)
		}
		seen += len(recs)
	}
	uncommitted := map[string]bool{}
	for len(uncommitted) == 0 {
		recs, err := victim.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			ck.Delivered(check.Delivery{Group: "g", Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: r.Value})
			uncommitted[string(r.Value)] = true
		}
	}
	victimCl.Close() // the crash: no commit, no LeaveGroup, heartbeats stop
	if d, err := cl.DescribeGroup(ctx, "g"); err == nil {
		t.Logf("after crash: %+v uncommitted %d seen %d", d.Offsets, len(uncommitted), seen)
	}

	stop := make(chan struct{})
	survivor := startConsumer(t, ck, groupCfg("g", "orders"), stop, b.Addr())
	waitDistinct(t, ck, "g", n)
	close(stop)
	if err := <-survivor.done; err != nil {
		t.Fatalf("survivor: %v", err)
	}
	r := ck.Report()
	if !r.OK() || r.Lost() != 0 {
		t.Fatalf("%s", r)
	}
	g := r.Groups[0]
	if g.DuplicateDeliveries > len(uncommitted) {
		t.Fatalf("%d duplicate deliveries, but only %d messages were uncommitted:\n%s", g.DuplicateDeliveries, len(uncommitted), r)
	}
	for _, d := range g.Duplicates {
		var v string
		fmt.Sscanf(d, "%q", &v)
		if !uncommitted[v] {
			t.Fatalf("duplicate %s was committed before the crash:\n%s", d, r)
		}
	}
	t.Logf("uncommitted batch %d messages; %s", len(uncommitted), r)
}

// TestTwoGroupsEachSeeEveryMessage: groups are independent.
func TestTwoGroupsEachSeeEveryMessage(t *testing.T) {
	b := brokertest.NewBroker(t)
	cl := newClient(t, b.Addr())
	createTopicT(t, cl, "events", 3)
	ck := check.New()
	stop := make(chan struct{})
	var cs []*groupConsumer
	for _, g := range []string{"billing", "audit"} {
		cs = append(cs, startConsumer(t, ck, groupCfg(g, "events"), stop, b.Addr()))
	}
	produceChecked(t, cl, ck, "events", "p", 1000)
	waitDistinct(t, ck, "billing", 1000)
	waitDistinct(t, ck, "audit", 1000)
	close(stop)
	for _, c := range cs {
		if err := <-c.done; err != nil {
			t.Fatal(err)
		}
	}
	if r := ck.Report(); !r.OK() || len(r.Groups) != 2 {
		t.Fatalf("%s", r)
	}
}

// TestGroupConsumersSurviveLeaderFailover: the leader is killed while two
// members consume and a producer writes; commits survive, the members
// carry on with the new leader, nothing acked is lost.
func TestGroupConsumersSurviveLeaderFailover(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	cl := newClient(t, c.Addrs()...)
	createTopicT(t, cl, "orders", 4)
	ck := check.New()
	stop := make(chan struct{})
	var cs []*groupConsumer
	for range 2 {
		cs = append(cs, startConsumer(t, ck, groupCfg("g", "orders"), stop, c.Addrs()...))
	}
	produceChecked(t, cl, ck, "orders", "a", 500)
	waitDistinct(t, ck, "g", 500)
	c.Kill(c.WaitLeader())
	produceChecked(t, cl, ck, "orders", "b", 500)
	waitDistinct(t, ck, "g", 1000)
	close(stop)
	for _, gc := range cs {
		if err := <-gc.done; err != nil {
			t.Fatal(err)
		}
	}
	r := ck.Report()
	if !r.OK() || r.Acked != 1000 {
		t.Fatalf("%s", r)
	}
	// The commits are on the new leader: the group's lag is zero.
	desc, err := cl.DescribeGroup(ctxT(t), "g")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range desc.Offsets {
		if o.Lag != 0 {
			t.Fatalf("lag after consuming everything: %+v", desc.Offsets)
		}
	}
	t.Logf("%s", r)
	c.VerifyReplicas()
}
