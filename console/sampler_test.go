package console

import (
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
)

// TestSamplerIdlesUnwatched: a sampler nobody has looked at for idleAfter
// is idle (run asks the cluster nothing); the first look wakes it for a
// sample at once and makes it busy again.
func TestSamplerIdlesUnwatched(t *testing.T) {
	s := &sampler{changed: make(chan struct{}), wake: make(chan struct{}, 1), snap: &snapshot{}, lastLook: time.Now()}
	if s.idle() {
		t.Fatal("idle right after a look")
	}
	s.lastLook = time.Now().Add(-2 * idleAfter)
	if !s.idle() {
		t.Fatal("not idle after 2×idleAfter without a look")
	}
	select {
	case <-s.wake:
		t.Fatal("woken before anyone looked")
	default:
	}
	s.current()
	if s.idle() {
		t.Fatal("still idle after a look")
	}
	select {
	case <-s.wake:
	default:
		t.Fatal("the first look after an idle spell did not ask for a sample")
	}
	s.current()
	select {
	case <-s.wake:
		t.Fatal("a look while busy asked for an extra sample")
	default:
	}
}

// TestSamplerStartsWithThisNode: before its first sample the sampler's
// snapshot lists this node as it sees itself, so a page served at once
// shows it (TestServeConsole once got a cluster page without any node).
func TestSamplerStartsWithThisNode(t *testing.T) {
	b := brokertest.NewCluster(t, 1).Broker(0)
	snap, _ := newSampler(b, nil, time.Second).current()
	if len(snap.Nodes) != 1 || snap.Nodes[0].ID != b.ID() {
		t.Fatalf("first snapshot's nodes: %+v, want %s", snap.Nodes, b.ID())
	}
}
