// Package localcluster starts a minibroker cluster of N nodes inside the
// calling process, each node in its own directory under a temporary (or
// given) directory, on free loopback ports. It is what `minibroker bench
// --embedded N` and the peer comparison in tests/peers run against.
//
// Unlike broker/brokertest it needs no testing.TB and keeps the broker's
// production Raft timeouts (a benchmark must not measure elections that
// short test timeouts cause under load).
//
//	c, err := localcluster.Start(3, localcluster.Options{})
//	if err != nil { ... }
//	defer c.Close() // stops the nodes, removes the temporary directory
//	cl, err := client.New(client.Config{Brokers: c.Addrs()})
package localcluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/minibroker/minibroker/broker"
)

// Options configures Start. The zero value is ready to use.
type Options struct {
	// Dir is the parent directory of the nodes' data directories. Empty
	// (the default) means a new temporary directory, removed by Close.
	// A given Dir is kept.
	Dir string
	// Configure, if set, adjusts node i's configuration before it starts
	// (its DataDir, addresses, Bootstrap and Join are already set; keep
	// the addresses on loopback).
	Configure func(i int, cfg *broker.Config)
	// ReadyTimeout bounds the wait for every node to have joined and for a
	// leader to be ready. Default 60s.
	ReadyTimeout time.Duration
}

// Cluster is a set of running in-process brokers. Addrs, Broker, Len and
// Dir are safe for concurrent use; Close must not run concurrently with
// them, and must be called once the cluster is no longer needed.
type Cluster struct {
	dir     string
	tempDir bool
	brokers []*broker.Broker
}

// Start starts n brokers: node 0 forms the cluster, the others join it
// one after another. It returns once every node is a member and a leader
// is ready to take writes. On error every node started so far is closed
// and a temporary directory removed. Errors: n < 1, a broker's start
// error (see broker.Start), or no ready leader within ReadyTimeout.
func Start(n int, opts Options) (_ *Cluster, err error) {
	if n < 1 {
		return nil, fmt.Errorf("localcluster: %d nodes: need at least 1", n)
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	c := &Cluster{dir: opts.Dir}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "minibroker-cluster-"); err != nil {
			return nil, fmt.Errorf("localcluster: %w", err)
		}
		c.tempDir = true
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		cfg := broker.Config{
			ID:           fmt.Sprintf("n%d", i+1),
			DataDir:      filepath.Join(c.dir, fmt.Sprintf("n%d", i+1)),
			Addr:         "127.0.0.1:0",
			RaftAddr:     "127.0.0.1:0",
			Bootstrap:    i == 0,
			StartTimeout: opts.ReadyTimeout,
		}
		if i > 0 {
			cfg.Join = []string{c.brokers[0].Addr()}
		}
		if opts.Configure != nil {
			opts.Configure(i, &cfg)
		}
		b, err := broker.Start(cfg)
		if err != nil {
			return nil, fmt.Errorf("localcluster: start node %d: %w", i+1, err)
		}
		c.brokers = append(c.brokers, b)
	}
	if _, err := c.waitLeader(opts.ReadyTimeout); err != nil {
		return nil, err
	}
	return c, nil
}

// waitLeader polls until one node is the ready leader.
func (c *Cluster) waitLeader(timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		for i, b := range c.brokers {
			if b.IsLeader() {
				return i, nil
			}
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("localcluster: no ready leader within %v", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Addrs returns the client addresses of the nodes, node 0 first.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.brokers))
	for i, b := range c.brokers {
		out[i] = b.Addr()
	}
	return out
}

// Broker returns node i.
func (c *Cluster) Broker(i int) *broker.Broker { return c.brokers[i] }

// Len is the number of nodes.
func (c *Cluster) Len() int { return len(c.brokers) }

// Dir is the parent directory of the nodes' data.
func (c *Cluster) Dir() string { return c.dir }

// Close stops every node (broker.Close: at once, no hand-over) and removes
// the temporary directory, if Start made one. It blocks until the nodes
// have stopped and returns their errors joined. Close is idempotent.
func (c *Cluster) Close() error {
	var errs []error
	for i := len(c.brokers) - 1; i >= 0; i-- {
		if err := c.brokers[i].Close(); err != nil {
			errs = append(errs, fmt.Errorf("localcluster: close node %d: %w", i+1, err))
		}
	}
	if c.tempDir && c.dir != "" {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("localcluster: %w", err))
		}
		c.dir = ""
	}
	return errors.Join(errs...)
}
