package replication

import (
	"errors"
	"net"
	"slices"
	"sync/atomic"
	"testing"
)

// countingListener counts its Close calls.
type countingListener struct {
	net.Listener
	closes atomic.Int32
}

func (l *countingListener) Close() error {
	l.closes.Add(1)
	return l.Listener.Close()
}

func listenLoopback(t *testing.T) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &countingListener{Listener: ln}
}

// TestNodeAcceptsOnRaftListener: a node given a RaftListener serves Raft
// on it (RaftAddr is ignored: its address is the listener's), elects
// itself and applies, and Close closes the listener, once.
func TestNodeAcceptsOnRaftListener(t *testing.T) {
	ln := listenLoopback(t)
	cfg := testConfig(t, "solo", true)
	cfg.RaftAddr = "" // ignored
	cfg.RaftListener = ln
	n := startNode(t, cfg)
	if got, want := n.RaftAddr(), ln.Addr().String(); got != want {
		t.Fatalf("RaftAddr() = %s; want the listener's %s", got, want)
	}
	waitReadyLeader(t, n)
	if _, addr := n.Leader(); addr != ln.Addr().String() {
		t.Fatalf("leader address %q; want the listener's %s", addr, ln.Addr())
	}
	mustApply(t, n, "x", AcksAll)
	waitFor(t, "the entry applied", func() bool { return slices.Equal(n.fsm.Entries(), []string{"x"}) })
	if c := ln.closes.Load(); c != 0 {
		t.Fatalf("listener closed %d times while the node runs", c)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if c := ln.closes.Load(); c != 1 {
		t.Fatalf("listener closed %d times by Close; want 1", c)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v; want net.ErrClosed", err)
	}
}

// TestNewNodeErrorClosesRaftListener: NewNode owns its RaftListener from
// the call on, and closes it when it fails, both on a bad config and
// after opening the store (a DataDir another node holds).
func TestNewNodeErrorClosesRaftListener(t *testing.T) {
	ln := listenLoopback(t)
	cfg := testConfig(t, "bad", true)
	cfg.DataDir = ""
	cfg.RaftListener = ln
	if _, err := NewNode(cfg, &testFSM{}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewNode without DataDir: %v; want ErrInvalidConfig", err)
	}
	if c := ln.closes.Load(); c != 1 {
		t.Fatalf("listener closed %d times after a config error; want 1", c)
	}

	first := startNode(t, testConfig(t, "first", true))
	ln = listenLoopback(t)
	cfg = testConfig(t, "second", true)
	cfg.DataDir = first.cfg.DataDir // locked by first
	cfg.RaftListener = ln
	if n, err := NewNode(cfg, &testFSM{}, nil); err == nil {
		n.Close()
		t.Fatal("NewNode on a DataDir another node holds succeeded")
	}
	if c := ln.closes.Load(); c != 1 {
		t.Fatalf("listener closed %d times after NewNode failed; want 1", c)
	}
}

// addrListener is a listener that only has an address.
type addrListener struct {
	net.Listener // nil: only Addr may be called
	addr         net.Addr
}

func (l addrListener) Addr() net.Addr { return l.addr }

// TestNodeConfigValidateRaftListener: with a RaftListener, its address
// stands for RaftAddr: a wildcard one needs RaftAdvertise.
func TestNodeConfigValidateRaftListener(t *testing.T) {
	ln := addrListener{addr: &net.TCPAddr{IP: net.IPv4zero, Port: 7001}}
	cfg := NodeConfig{ID: "a", DataDir: "d", RaftAddr: "127.0.0.1:0", RaftListener: ln}
	var ce *ConfigError
	if err := cfg.Validate(); !errors.As(err, &ce) || ce.Field != "RaftAdvertise" {
		t.Fatalf("Validate with a wildcard RaftListener: %v; want a RaftAdvertise error", err)
	}
	cfg.RaftAdvertise = "127.0.0.1:7001"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate with RaftAdvertise: %v", err)
	}
	cfg.RaftAddr = "not an address" // ignored
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate with a bad RaftAddr beside a RaftListener: %v", err)
	}
}
