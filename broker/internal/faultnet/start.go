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
// It blocks; errors are broker.Start's. For a node of a Net, use
// Net.StartBroker: it hands the node its held Raft port.
func StartBroker(ctx context.Context, cfg broker.Config) (*broker.Broker, error) {
	return startRetrying(ctx, func() (*broker.Broker, error) { return broker.Start(cfg) })
}

// StartBroker starts node i from cfg, as the package's StartBroker, on
// its held Raft port (see RaftListener) if Prepare held one: no other
// program can have taken it. After a failed start the port is held
// again, before a retry too. It blocks and is safe for concurrent use
// for different nodes. Errors: broker.Start's, or RaftListener's.
func (nt *Net) StartBroker(ctx context.Context, i int, cfg broker.Config) (*broker.Broker, error) {
	return startRetrying(ctx, func() (*broker.Broker, error) {
		ln, err := nt.RaftListener(i)
		if err != nil {
			nt.hold(i)
			return nil, err
		}
		cfg.RaftListener = ln
		b, err := broker.Start(cfg)
		if err != nil {
			nt.hold(i) // Start closed ln, if any
		}
		return b, err
	})
}

// startRetrying calls start until it succeeds, fails with another error
// than EADDRINUSE, startRetry has passed or ctx ends, backing off between
// calls. It blocks and returns start's last result.
func startRetrying(ctx context.Context, start func() (*broker.Broker, error)) (*broker.Broker, error) {
	deadline := time.Now().Add(startRetry)
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		b, err := start()
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
