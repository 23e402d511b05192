package client

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// TestProduceLeavesAStuckLeader: a leader that stops answering (a paused
// process: connections accepted, requests never answered) while another
// node takes over. After a request timeout the producer must ask the
// cluster who leads rather than wait on the stuck node again and again.
func TestProduceLeavesAStuckLeader(t *testing.T) {
	stuck := newFakeBroker(t, "n1")
	next := newFakeBroker(t, "n2")
	nodes := []wire.Node{{ID: "n1", Addr: stuck.addr}, {ID: "n2", Addr: next.addr}}
	stuck.setMeta("n1", nodes)
	next.setMeta("n1", nodes)
	stuck.addTopic("t", 1)
	next.addTopic("t", 1)
	var paused atomic.Bool
	stuck.setHook(func(r *fakeReq) bool { return paused.Load() }) // held: never answered
	cl := newTestClient(t, Config{Brokers: []string{stuck.addr, next.addr}, RequestTimeout: 300 * time.Millisecond})
	p := cl.Producer(ProducerConfig{Idempotence: IdempotenceOff, Retries: 10, RetryBackoffMax: 50 * time.Millisecond})
	defer p.Close()
	ctx := testCtx(t)
	if _, err := p.Produce(ctx, Message{Topic: "t", Value: []byte("before")}); err != nil {
		t.Fatal(err)
	}
	paused.Store(true)
	next.setMeta("n2", nodes) // the others elected n2
	if _, err := p.Produce(ctx, Message{Topic: "t", Value: []byte("after")}); err != nil {
		t.Fatalf("produce with the leader stuck: %v (produce requests: stuck %d, new leader %d)",
			err, stuck.count(wire.Produce), next.count(wire.Produce))
	}
	if len(next.records("t", 0)) != 1 {
		t.Fatal("the record did not reach the new leader")
	}
}
