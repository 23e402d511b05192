package tests

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
)

// TestZombieConsumerIsFenced: a member whose process is stopped (its
// traffic held by a gate) past its session timeout is removed; when it
// comes back, its commit is rejected and no committed offset goes
// backwards.
func TestZombieConsumerIsFenced(t *testing.T) {
	b := brokertest.NewBroker(t)
	cl := newClient(t, b.Addr())
	createTopicT(t, cl, "orders", 2)
	ck := check.New()
	produceChecked(t, cl, ck, "orders", "p", 400)
	ctx := ctxT(t)

	g := newGate(t, b.Addr())
	// Every connection of the zombie's client goes through the gate.
	var d net.Dialer
	zcl, err := client.New(client.Config{Brokers: []string{b.Addr()}, RequestTimeout: time.Second,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, g.Addr())
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zcl.Close() })
	zcfg := groupCfg("g", "orders")
	zcfg.ManualCommit = true
	zcfg.MaxPollRecords = 50
	zombie, err := zcl.Consumer(zcfg)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := zombie.Poll(ctx)
	if err != nil || len(batch) == 0 {
		t.Fatalf("zombie poll: %d records, %v", len(batch), err)
	}
	for _, r := range batch {
		ck.Delivered(check.Delivery{Group: "g", Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: r.Value})
	}
	g.Pause() // SIGSTOP, as the network sees it

	stop := make(chan struct{})
	worker := startConsumer(t, ck, groupCfg("g", "orders"), stop, b.Addr())
	waitDistinct(t, ck, "g", 400)
	close(stop)
	if err := <-worker.done; err != nil {
		t.Fatal(err)
	}
	before := committedOffsets(t, cl, ck, "g")

	g.Resume() // SIGCONT: the zombie commits what it processed long ago
	err = zombie.Commit(ctx, batch...)
	if err == nil {
		t.Fatal("the zombie's commit was accepted")
	}
	t.Logf("zombie commit: %v", err)
	after := committedOffsets(t, cl, ck, "g")
	for tp, off := range before {
		if after[tp] < off {
			t.Fatalf("%v: committed offset went from %d to %d", tp, off, after[tp])
		}
	}
	zombie.Close()
	if r := ck.Report(); !r.OK() {
		t.Fatalf("%s", r)
	}
}

// committedOffsets reads group's committed offsets and records them in ck
// (which reports any regression).
func committedOffsets(t *testing.T, cl *client.Client, ck *check.Checker, group string) map[client.TopicPartition]int64 {
	t.Helper()
	d, err := cl.DescribeGroup(ctxT(t), group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[client.TopicPartition]int64{}
	for _, o := range d.Offsets {
		out[client.TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Committed
		ck.Committed(group, o.Topic, o.Partition, o.Committed)
	}
	return out
}

// owners tracks, through the rebalance callbacks, which member holds each
// partition, and records any moment when two members held one.
type owners struct {
	mu         sync.Mutex // guards the fields
	owner      map[client.TopicPartition]string
	violations []string
}

func (o *owners) hooks(name string, cfg *client.ConsumerConfig) {
	cfg.OnAssigned = func(_ context.Context, tps []client.TopicPartition) {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, tp := range tps {
			if prev, ok := o.owner[tp]; ok && prev != name {
				o.violations = append(o.violations, fmt.Sprintf("%v assigned to %s while %s holds it", tp, name, prev))
			}
			o.owner[tp] = name
		}
	}
	release := func(_ context.Context, tps []client.TopicPartition) {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, tp := range tps {
			if o.owner[tp] == name {
				delete(o.owner, tp)
			}
		}
	}
	cfg.OnRevoked, cfg.OnLost = release, release
}

// releaseAll drops name's partitions (it is stopping: it processes no
// more).
func (o *owners) releaseAll(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for tp, n := range o.owner {
		if n == name {
			delete(o.owner, tp)
		}
	}
}

// waitStable waits until the group is stable with members members and
// checks that each of the topic's partitions has exactly one owner.
func waitStable(t *testing.T, cl *client.Client, group string, members, partitions int) int32 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := cl.DescribeGroup(ctxT(t), group)
		if err == nil && d.State == client.GroupStateStable && len(d.Members) == members {
			seen := map[client.TopicPartition]string{}
			for _, m := range d.Members {
				for _, tp := range m.Assignment {
					if prev, dup := seen[tp]; dup {
						t.Fatalf("generation %d: %v owned by %s and %s", d.Generation, tp, prev, m.MemberID)
					}
					seen[tp] = m.MemberID
				}
			}
			if len(seen) != partitions {
				t.Fatalf("generation %d: %d of %d partitions assigned: %+v", d.Generation, len(seen), partitions, d.Members)
			}
			return d.Generation
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s not stable with %d members: %+v %v", group, members, d, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the coordinator
	}
}

// TestMembersOneThreeTwo: members 1 → 3 → 2; in every generation each
// partition has exactly one owner, no two members ever hold a partition at
// once, and every message is consumed.
func TestMembersOneThreeTwo(t *testing.T) {
	b := brokertest.NewBroker(t)
	cl := newClient(t, b.Addr())
	createTopicT(t, cl, "orders", 6)
	ck := check.New()
	own := &owners{owner: map[client.TopicPartition]string{}}
	stops := map[string]chan struct{}{}
	consumers := map[string]*groupConsumer{}
	start := func(name string) {
		cfg := groupCfg("g", "orders")
		cfg.Strategy = client.StrategySticky
		own.hooks(name, &cfg)
		stops[name] = make(chan struct{})
		consumers[name] = startConsumer(t, ck, cfg, stops[name], b.Addr())
	}
	start("c1")
	gen1 := waitStable(t, cl, "g", 1, 6)
	produceChecked(t, cl, ck, "orders", "a", 300)
	start("c2")
	start("c3")
	gen3 := waitStable(t, cl, "g", 3, 6)
	produceChecked(t, cl, ck, "orders", "b", 300)
	waitDistinct(t, ck, "g", 600)
	own.releaseAll("c2")
	close(stops["c2"])
	if err := <-consumers["c2"].done; err != nil {
		t.Fatalf("c2: %v", err)
	}
	gen2 := waitStable(t, cl, "g", 2, 6)
	produceChecked(t, cl, ck, "orders", "c", 300)
	waitDistinct(t, ck, "g", 900)
	if !(gen1 < gen3 && gen3 < gen2) {
		t.Fatalf("generations %d, %d, %d do not increase", gen1, gen3, gen2)
	}
	for _, name := range []string{"c1", "c3"} {
		close(stops[name])
		if err := <-consumers[name].done; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	own.mu.Lock()
	defer own.mu.Unlock()
	if len(own.violations) > 0 {
		t.Fatalf("double ownership: %v", own.violations)
	}
	if r := ck.Report(); !r.OK() {
		t.Fatalf("%s", r)
	}
}
