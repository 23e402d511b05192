package faultnet

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/minibroker/minibroker/broker"
)

// startRetry bounds how long StartBroker tries again while a port is taken.
const startRetry = 5 * time.Second

// StartBroker is broker.Start for a node that starts again on the ports
// of its previous run (its Raft port is fixed: the cluster's configuration
// records it). While another socket holds one of them (EADDRINUSE: other
// test processes pick free ports at random and most only bind and release
// one to probe it) it tries again, for up to startRetry or until ctx ends.
// It blocks; errors are broker.Start's.
func StartBroker(ctx context.Context, cfg broker.Config) (*broker.Broker, error) {
	deadline := time.Now().Add(startRetry)
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		b, err := broker.Start(cfg)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return b, err
		}
		t := time.NewTimer(wait) // backing off before binding again
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}
