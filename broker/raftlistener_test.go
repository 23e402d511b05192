package broker_test

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
)

// TestStartOnRaftListener: a broker given a RaftListener serves Raft on
// it (RaftAddr is ignored) and closes it on Close; a Start that fails
// closes it too.
func TestStartOnRaftListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := broker.Start(broker.Config{DataDir: t.TempDir(), DisableKafka: true, RaftAddr: "ignored", RaftListener: ln})
	if err != nil {
		t.Fatal(err)
	}
	if b.RaftAddr() != ln.Addr().String() {
		b.Close()
		t.Fatalf("RaftAddr %s; want the listener's %s", b.RaftAddr(), ln.Addr())
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := acceptClosed(ln); err != nil {
		t.Fatalf("after Close: %v", err)
	}

	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := broker.Start(broker.Config{DataDir: t.TempDir(), MaxInFlight: -1, RaftListener: ln}); !errors.Is(err, broker.ErrInvalidConfig) {
		t.Fatalf("Start with a bad config: %v; want ErrInvalidConfig", err)
	}
	if err := acceptClosed(ln); err != nil {
		t.Fatalf("after a failed Start: %v", err)
	}
}

// acceptClosed returns nil if ln is closed, else why not (without
// blocking for long on an open listener).
func acceptClosed(ln net.Listener) error {
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(time.Second))
	c, err := ln.Accept()
	if c != nil {
		c.Close()
	}
	if !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("Accept: %v; want net.ErrClosed", err)
	}
	return nil
}
