package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/client"
)

// Raft timing of the demo's cluster: elections in a few hundred
// milliseconds, so a killed leader is replaced quickly (the values
// broker/brokertest uses).
const (
	demoHeartbeatTimeout   = 150 * time.Millisecond
	demoElectionTimeout    = 150 * time.Millisecond
	demoLeaderLeaseTimeout = 100 * time.Millisecond
	demoWait               = 20 * time.Second // bound on starting a node, electing a leader
)

// demoCluster is a cluster of brokers inside this process, with their data
// in one temporary directory and their ports on 127.0.0.1 chosen by the
// system. Node i is called "n<i+1>". It is not safe for concurrent use:
// one goroutine at a time kills and restarts nodes and asks for the
// leader.
type demoCluster struct {
	dir   string
	cfgs  []broker.Config  // node i's config; the ports it got, once started
	nodes []*broker.Broker // node i, running or killed
	down  []chan struct{}  // closed when node i has been killed
}

// startDemoCluster starts n nodes: n1 bootstraps, the others join it. It
// blocks until all have started (a leader is elected), ctx ends, or a node
// fails to start; on failure what was started is closed and removed.
func startDemoCluster(ctx context.Context, n int) (*demoCluster, error) {
	dir, err := os.MkdirTemp("", "minibroker-demo-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	c := &demoCluster{dir: dir}
	for i := range n {
		if err := ctx.Err(); err != nil {
			c.close()
			return nil, err
		}
		cfg := broker.Config{
			ID:                 fmt.Sprintf("n%d", i+1),
			DataDir:            filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			Addr:               "127.0.0.1:0",
			RaftAddr:           "127.0.0.1:0",
			Bootstrap:          i == 0,
			HeartbeatTimeout:   demoHeartbeatTimeout,
			ElectionTimeout:    demoElectionTimeout,
			LeaderLeaseTimeout: demoLeaderLeaseTimeout,
			StartTimeout:       demoWait,
		}
		if i > 0 {
			cfg.Join = []string{c.nodes[0].Addr()}
		}
		c.cfgs = append(c.cfgs, cfg)
		c.nodes = append(c.nodes, nil)
		c.down = append(c.down, make(chan struct{}))
		if err := c.start(i); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// start starts node i (again, after kill: same ports, same data). It
// blocks until the node is ready.
func (c *demoCluster) start(i int) error {
	b, err := broker.Start(c.cfgs[i])
	if err != nil {
		return fmt.Errorf("start node n%d: %w", i+1, err)
	}
	c.cfgs[i].Addr, c.cfgs[i].RaftAddr = b.ListenAddr(), b.RaftAddr()
	c.nodes[i] = b
	c.down[i] = make(chan struct{})
	return nil
}

// name returns node i's id.
func (c *demoCluster) name(i int) string { return c.cfgs[i].ID }

// isDown reports whether node i has been killed.
func (c *demoCluster) isDown(i int) bool {
	select {
	case <-c.down[i]:
		return true
	default:
		return false
	}
}

// addrs returns the client addresses of all nodes, killed ones included
// (a client given a dead seed tries the next).
func (c *demoCluster) addrs() []string {
	out := make([]string, len(c.cfgs))
	for i, cfg := range c.cfgs {
		out[i] = cfg.Addr
	}
	return out
}

// leader returns the index of a running node that is the ready leader,
// or -1.
func (c *demoCluster) leader() int {
	for i, b := range c.nodes {
		if b != nil && !c.isDown(i) && b.IsLeader() {
			return i
		}
	}
	return -1
}

// waitLeader waits until a running node is the ready leader and returns
// its index. It polls every 5ms for up to demoWait, or until ctx ends.
func (c *demoCluster) waitLeader(ctx context.Context) (int, error) {
	deadline := time.NewTimer(demoWait)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if i := c.leader(); i >= 0 {
			return i, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-deadline.C:
			return -1, fmt.Errorf("no leader elected within %v", demoWait)
		case <-tick.C:
		}
	}
}

// kill stops node i at once, as a crash would (Broker.Close: connections
// cut, no leadership hand-off, nothing in flight finished). It blocks
// until the node has stopped.
func (c *demoCluster) kill(i int) error {
	if c.nodes[i] == nil || c.isDown(i) {
		return nil
	}
	err := c.nodes[i].Close()
	close(c.down[i])
	return err
}

// close kills every node and removes the data directory.
func (c *demoCluster) close() error {
	var errs []error
	for i := range c.nodes {
		errs = append(errs, c.kill(i))
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}

// newClient returns a client of the cluster with short timeouts; dial, if
// not nil, routes its connections (see client.Config.Dial).
func (c *demoCluster) newClient(dial func(context.Context, string, string) (net.Conn, error)) (*client.Client, error) {
	cfg := client.Config{Brokers: c.addrs(), RequestTimeout: 5 * time.Second, DialTimeout: time.Second}
	if dial != nil {
		cfg.Dial = dial
	}
	return client.New(cfg)
}
