package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
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
// system. Node i is called "n<i+1>". Safe for concurrent use, but one
// node must not be started and killed at the same time.
type demoCluster struct {
	dir string

	mu    sync.Mutex       // guards cfgs, nodes and up
	cfgs  []broker.Config  // node i's config, with the ports it got once started
	nodes []*broker.Broker // node i; nil before its first start
	up    []bool           // node i is running (false from the start of its kill)

	stopWatch func() // stops startDemo's leader watch; nil without one
	// admin is startDemo's client for topics and reads, closed by close;
	// nil without one. Set before the cluster is used; read-only after.
	admin *client.Client
}

// startDemoCluster starts n nodes: n1 bootstraps, the others join it. It
// blocks until all have started (a leader is elected), ctx ends, or a node
// fails to start; on failure what was started is closed and removed.
func startDemoCluster(ctx context.Context, n int) (*demoCluster, error) {
	dir, err := os.MkdirTemp("", "minibroker-demo-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	c := &demoCluster{dir: dir, cfgs: make([]broker.Config, n), nodes: make([]*broker.Broker, n), up: make([]bool, n)}
	for i := range n {
		c.cfgs[i] = broker.Config{
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
	}
	for i := range n {
		err := ctx.Err()
		if err == nil {
			if i > 0 {
				c.cfgs[i].Join = []string{c.cfgs[0].Addr}
			}
			err = c.start(i)
		}
		if err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// start starts node i (again, after kill: same ports, same data). It
// blocks until the node is ready.
func (c *demoCluster) start(i int) error {
	c.mu.Lock()
	cfg := c.cfgs[i]
	c.mu.Unlock()
	b, err := broker.Start(cfg)
	if err != nil {
		return fmt.Errorf("start node %s: %w", cfg.ID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfgs[i].Addr, c.cfgs[i].RaftAddr = b.ListenAddr(), b.RaftAddr()
	c.nodes[i], c.up[i] = b, true
	return nil
}

// name returns node i's id.
func (c *demoCluster) name(i int) string { return fmt.Sprintf("n%d", i+1) }

// isDown reports whether node i is not running.
func (c *demoCluster) isDown(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.up[i]
}

// addrs returns the client addresses of all nodes, killed ones included
// (a client given a dead seed tries the next).
func (c *demoCluster) addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.cfgs))
	for i, cfg := range c.cfgs {
		out[i] = cfg.Addr
	}
	return out
}

// leader returns the index of a running node that is the ready leader,
// or -1. It does not block.
func (c *demoCluster) leader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, b := range c.nodes {
		if c.up[i] && b.IsLeader() {
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
// until the node has stopped; it is a no-op for a node that is down.
func (c *demoCluster) kill(i int) error {
	c.mu.Lock()
	b, up := c.nodes[i], c.up[i]
	c.up[i] = false
	c.mu.Unlock()
	if !up {
		return nil
	}
	return b.Close()
}

// close stops the leader watch, kills every node and removes the data
// directory.
func (c *demoCluster) close() error {
	if c.stopWatch != nil {
		c.stopWatch()
	}
	var errs []error
	if c.admin != nil {
		errs = append(errs, c.admin.Close())
	}
	for i := range c.nodes {
		errs = append(errs, c.kill(i))
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}

// startDemo starts a 3-node cluster with an admin client (c.admin), waits
// for its leader, says so on tl and narrates leadership changes there
// until the cluster is closed.
func startDemo(ctx context.Context, tl *timeline) (*demoCluster, error) {
	c, err := startDemoCluster(ctx, 3)
	if err != nil {
		return nil, err
	}
	leader, err := c.waitLeader(ctx)
	if err == nil {
		c.admin, err = c.newClient(nil)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	tl.say("cluster up: n1, n2, n3 in %s; leader %s", c.dir, c.name(leader))
	stop, done := make(chan struct{}), make(chan struct{})
	c.stopWatch = func() { close(stop); <-done }
	go func() {
		defer close(done)
		c.watchLeader(tl, leader, stop)
	}()
	return c, nil
}

// watchLeader says on tl when a node other than last becomes the leader,
// until stop closes. It polls every 5ms.
func (c *demoCluster) watchLeader(tl *timeline, last int, stop <-chan struct{}) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		cur := c.leader()
		if cur < 0 || cur == last {
			continue
		}
		if c.isDown(last) {
			tl.say("%s elected leader; clients follow it there", c.name(cur))
		} else {
			tl.say("%s is the leader now, though %s still runs: an election the demo did not cause (heartbeats late on a busy machine)", c.name(cur), c.name(last))
		}
		last = cur
	}
}

// newClient returns a client of the cluster with short timeouts; dial, if
// not nil, routes its connections (see client.Config.Dial).
// createTopic creates a one-partition topic through c.admin.
func (c *demoCluster) createTopic(ctx context.Context, topic string) error {
	if err := c.admin.CreateTopic(ctx, topic, client.TopicConfig{Partitions: 1}); err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	return nil
}

func (c *demoCluster) newClient(dial func(context.Context, string, string) (net.Conn, error)) (*client.Client, error) {
	cfg := client.Config{Brokers: c.addrs(), RequestTimeout: 5 * time.Second, DialTimeout: time.Second}
	if dial != nil {
		cfg.Dial = dial
	}
	return client.New(cfg)
}
