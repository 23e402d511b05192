package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/localcluster"
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

// demoCluster is the demo's 3-node in-process cluster (localcluster: data
// in a temporary directory, ports on 127.0.0.1, nodes killed and
// restarted with Kill and Restart), narrated on a timeline, with an admin
// client. Safe for concurrent use as localcluster.Cluster is.
type demoCluster struct {
	*localcluster.Cluster
	stopWatch func() // stops the leader watch
	// admin is the client for topics and reads, closed by close. Set by
	// startDemo; read-only after.
	admin *client.Client
}

// startDemo starts a 3-node cluster with an admin client (c.admin), waits
// for its leader, says so on tl and narrates leadership changes there
// until the cluster is closed. It blocks until the cluster is up, ctx
// ends, or starting fails; on failure what was started is closed.
func startDemo(ctx context.Context, tl *timeline) (*demoCluster, error) {
	lc, err := localcluster.Start(3, localcluster.Options{ReadyTimeout: demoWait,
		Configure: func(_ int, cfg *broker.Config) {
			cfg.HeartbeatTimeout, cfg.ElectionTimeout = demoHeartbeatTimeout, demoElectionTimeout
			cfg.LeaderLeaseTimeout = demoLeaderLeaseTimeout
		}})
	if err != nil {
		return nil, err
	}
	c := &demoCluster{Cluster: lc, stopWatch: func() {}}
	leader, err := c.waitLeader(ctx)
	if err == nil {
		c.admin, err = c.newClient(nil)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	tl.say("cluster up: n1, n2, n3 in %s; leader %s", c.Dir(), c.name(leader))
	stop, done := make(chan struct{}), make(chan struct{})
	c.stopWatch = func() { close(stop); <-done }
	go func() {
		defer close(done)
		c.watchLeader(tl, leader, stop)
	}()
	return c, nil
}

// name returns node i's id.
func (c *demoCluster) name(i int) string { return fmt.Sprintf("n%d", i+1) }

// waitLeader waits until a running node is the ready leader and returns
// its index. It polls every 5ms for up to demoWait, or until ctx ends.
func (c *demoCluster) waitLeader(ctx context.Context) (int, error) {
	deadline := time.NewTimer(demoWait)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if i := c.Leader(); i >= 0 {
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

// close stops the leader watch and the admin client, kills every node and
// removes the data directory.
func (c *demoCluster) close() error {
	c.stopWatch()
	var errs []error
	if c.admin != nil {
		errs = append(errs, c.admin.Close())
	}
	errs = append(errs, c.Close())
	return errors.Join(errs...)
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
		cur := c.Leader()
		if cur < 0 || cur == last {
			continue
		}
		if c.Broker(last) == nil {
			tl.say("%s elected leader; clients follow it there", c.name(cur))
		} else {
			tl.say("%s is the leader now, though %s still runs: an election the demo did not cause (heartbeats late on a busy machine)", c.name(cur), c.name(last))
		}
		last = cur
	}
}

// createTopic creates a one-partition topic through c.admin.
func (c *demoCluster) createTopic(ctx context.Context, topic string) error {
	if err := c.admin.CreateTopic(ctx, topic, client.TopicConfig{Partitions: 1}); err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	return nil
}

// newClient returns a client of the cluster with short timeouts; dial, if
// not nil, routes its connections (see client.Config.Dial).
func (c *demoCluster) newClient(dial func(context.Context, string, string) (net.Conn, error)) (*client.Client, error) {
	cfg := client.Config{Brokers: c.Addrs(), RequestTimeout: 5 * time.Second, DialTimeout: time.Second}
	if dial != nil {
		cfg.Dial = dial
	}
	return client.New(cfg)
}
