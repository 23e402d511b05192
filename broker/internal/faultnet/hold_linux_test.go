//go:build linux

package faultnet

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
)

// checkHeld fails the test unless addr is held for a node that is down:
// connections are refused (not queued, as by a listener nobody accepts
// on), and another socket cannot bind it, as net.Listen in another test
// process picking ports at random would.
func checkHeld(t *testing.T, addr, when string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Errorf("%s: dial %s: %v; want connection refused", when, addr, err)
	}
	if ln, err := net.Listen("tcp", addr); !errors.Is(err, syscall.EADDRINUSE) {
		if ln != nil {
			ln.Close()
		}
		t.Fatalf("%s: another socket bound %s: err %v; want EADDRINUSE (the port is not held)", when, addr, err)
	}
}

// testBrokerConfig is a one-node broker's config with fast timeouts.
func testBrokerConfig(t *testing.T) broker.Config {
	return broker.Config{ID: "n1", DataDir: t.TempDir(), RaftAddr: "127.0.0.1:0", DisableKafka: true,
		HeartbeatTimeout: 150 * time.Millisecond, ElectionTimeout: 150 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond, StartTimeout: 20 * time.Second}
}

// TestPreparedRaftPortIsHeld: the Raft port Prepare picks for a node is
// held until the node starts: no other socket can take it (the CI failure
// "bind: address already in use" of a node whose port another test
// process took between Prepare and the start), and connections to it are
// refused.
func TestPreparedRaftPortIsHeld(t *testing.T) {
	nt, err := New(1)
	if err != nil {
		t.Fatal(err)
	}
	defer nt.Close()
	cfg := testBrokerConfig(t)
	if err := nt.Prepare(0, &cfg); err != nil {
		t.Fatal(err)
	}
	checkHeld(t, cfg.RaftAddr, "after Prepare")
	nt.Close()
	ln, err := net.Listen("tcp", cfg.RaftAddr)
	if err != nil {
		t.Fatalf("after Close the port is still taken: %v", err)
	}
	ln.Close()
}

// TestHeldRaftPortAcrossRestarts: StartBroker hands the held port to the
// node, which serves Raft on it; once the node is down (Stopped) the port
// is held again, also after a start that failed, and the node starts
// again on it.
func TestHeldRaftPortAcrossRestarts(t *testing.T) {
	nt, err := New(1)
	if err != nil {
		t.Fatal(err)
	}
	defer nt.Close()
	cfg := testBrokerConfig(t)
	if err := nt.Prepare(0, &cfg); err != nil {
		t.Fatal(err)
	}
	port := cfg.RaftAddr
	for run := range 2 {
		b, err := nt.StartBroker(context.Background(), 0, cfg)
		if err != nil {
			t.Fatalf("start %d: %v", run, err)
		}
		if b.RaftAddr() != port {
			b.Close()
			t.Fatalf("start %d: RaftAddr %s; want the held %s", run, b.RaftAddr(), port)
		}
		if err := nt.Started(0, b, &cfg); err != nil {
			t.Fatal(err)
		}
		c, err := net.DialTimeout("tcp", port, time.Second)
		if err != nil {
			t.Fatalf("start %d: the node's Raft port: %v", run, err)
		}
		c.Close()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		nt.Stopped(0)
		checkHeld(t, port, "after Stopped")
	}

	bad := cfg
	bad.MaxInFlight = -1 // refused by Validate, after StartBroker took the hold
	if b, err := nt.StartBroker(context.Background(), 0, bad); !errors.Is(err, broker.ErrInvalidConfig) {
		if b != nil {
			b.Close()
		}
		t.Fatalf("start with a bad config: %v; want ErrInvalidConfig", err)
	}
	checkHeld(t, port, "after a failed start")
}
