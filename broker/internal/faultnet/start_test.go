package faultnet

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
)

// TestStartBrokerRetriesATakenPort: a node whose Raft port is held by
// another socket gets EADDRINUSE from broker.Start, and StartBroker
// recognises it (it retries for startRetry, then returns that error); a
// port released meanwhile lets it start.
func TestStartBrokerRetriesATakenPort(t *testing.T) {
	ln, err := listenLow("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := broker.Config{DataDir: t.TempDir(), RaftAddr: ln.Addr().String(), DisableKafka: true}
	start := time.Now()
	b, err := StartBroker(context.Background(), cfg)
	if err == nil {
		b.Close()
		t.Fatal("started on a port another socket holds")
	}
	if !errors.Is(err, syscall.EADDRINUSE) || time.Since(start) < startRetry {
		t.Fatalf("after %v: %v; want EADDRINUSE after retrying for %v", time.Since(start), err, startRetry)
	}
	// Released while StartBroker retries: it starts.
	done := make(chan error, 1)
	go func() {
		b, err := StartBroker(context.Background(), cfg)
		if err == nil {
			err = b.Close()
		}
		done <- err
	}()
	ln.Close()
	if err := <-done; err != nil {
		t.Fatalf("after the port was released: %v", err)
	}
}
