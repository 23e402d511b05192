package replication

import (
	"fmt"
	"io"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// forwarder is a TCP relay on loopback to one target that counts the
// connections it relayed and can be cut: Cut closes its listener and every
// relayed connection, so new dials are refused.
type forwarder struct {
	ln       net.Listener
	target   string
	accepted atomic.Int64

	mu    sync.Mutex // guards conns and cut
	conns []net.Conn
	cut   bool
	wg    sync.WaitGroup
}

func newForwarder(t *testing.T, target string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln, target: target}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(func() { f.Cut(); f.wg.Wait() })
	return f
}

func (f *forwarder) Addr() string { return f.ln.Addr().String() }

func (f *forwarder) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", f.target)
		if err != nil {
			c.Close()
			continue
		}
		f.mu.Lock()
		if f.cut {
			f.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		f.conns = append(f.conns, c, s)
		f.accepted.Add(1)
		f.wg.Add(2)
		f.mu.Unlock()
		relay := func(dst, src net.Conn) {
			defer f.wg.Done()
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go relay(s, c)
		go relay(c, s)
	}
}

// Cut stops relaying: the listener and every connection are closed.
func (f *forwarder) Cut() {
	f.mu.Lock()
	f.cut = true
	f.ln.Close()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
}

// TestRaftPeerAddrRoutesPeerTraffic: with RaftPeerAddr every node dials its
// peers through a relay per directed link, never directly and never asking
// for itself; cutting the leader's relays isolates it, and the others
// elect a new leader.
func TestRaftPeerAddrRoutesPeerTraffic(t *testing.T) {
	var mu sync.Mutex                   // guards route and askedSelf
	route := map[[2]string]*forwarder{} // {from, to} -> relay
	var askedSelf []string
	cfgFor := func(id string, bootstrap bool) NodeConfig {
		cfg := testConfig(t, id, bootstrap)
		cfg.HeartbeatTimeout, cfg.ElectionTimeout = 150*time.Millisecond, 150*time.Millisecond // no spurious elections under -race
		cfg.RaftPeerAddr = func(peer string) string {
			mu.Lock()
			defer mu.Unlock()
			if peer == id {
				askedSelf = append(askedSelf, id)
			}
			if f := route[[2]string{id, peer}]; f != nil {
				return f.Addr()
			}
			return "" // not routed: the relays are installed before AddVoter
		}
		return cfg
	}
	nodes := make([]*testNode, 3)
	for i := range nodes {
		nodes[i] = startNode(t, cfgFor(fmt.Sprintf("n%d", i+1), i == 0))
	}
	nudgeElection(nodes[0])
	waitReadyLeader(t, nodes[0])
	mu.Lock()
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				route[[2]string{a.ID(), b.ID()}] = newForwarder(t, b.RaftAddr())
			}
		}
	}
	mu.Unlock()
	for _, n := range nodes[1:] {
		onLeader(t, nodes, "add "+n.ID(), func(l *testNode) error {
			return l.AddVoter(waitCtx(t), n.ID(), n.RaftAddr())
		})
	}
	applyAll(t, nodes, "through relays")
	waitFor(t, "every node applied the entry", func() bool {
		for _, n := range nodes {
			if len(n.fsm.Entries()) != 1 {
				return false
			}
		}
		return true
	})
	lead := readyLeader(t, nodes)
	mu.Lock()
	for _, n := range nodes {
		if n != lead && route[[2]string{lead.ID(), n.ID()}].accepted.Load() == 0 {
			t.Errorf("the leader %s reached %s without its relay", lead.ID(), n.ID())
		}
	}
	if len(askedSelf) > 0 {
		t.Errorf("RaftPeerAddr was asked for the node's own ID: %v", askedSelf)
	}
	for k, f := range route {
		if k[0] == lead.ID() || k[1] == lead.ID() {
			f.Cut()
		}
	}
	mu.Unlock()
	waitFor(t, "a new leader on the majority side", func() bool {
		for _, n := range nodes {
			if n != lead && n.IsReady() {
				return true
			}
		}
		return false
	})
	// Raft's leader address stays the advertised one, not a relay's.
	for _, n := range nodes {
		if n == lead {
			continue
		}
		waitFor(t, n.ID()+" to know the new leader", func() bool {
			id, addr := n.Leader()
			return id != "" && id != lead.ID() && (addr == nodes[0].RaftAddr() || addr == nodes[1].RaftAddr() || addr == nodes[2].RaftAddr())
		})
	}
}

// TestUnsafeNoSyncTurnsOffBoltFsync pins that UnsafeNoSync reaches bbolt's
// NoSync (through raft-boltdb's unexported handle, read by reflection) and
// that the default keeps it off.
func TestUnsafeNoSyncTurnsOffBoltFsync(t *testing.T) {
	for _, unsafe := range []bool{false, true} {
		cfg := testConfig(t, "solo", true)
		cfg.UnsafeNoSync = unsafe
		n := startNode(t, cfg)
		db := reflect.ValueOf(n.bolt).Elem().FieldByName("conn")
		if !db.IsValid() || db.IsNil() {
			t.Fatal("raft-boltdb's BoltStore has no conn field any more; update this test")
		}
		if got := db.Elem().FieldByName("NoSync").Bool(); got != unsafe {
			t.Fatalf("UnsafeNoSync %v: bbolt NoSync = %v", unsafe, got)
		}
		waitReadyLeader(t, n)
		mustApply(t, n, "x", AcksAll)
	}
}
