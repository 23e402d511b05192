package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/localcluster"
	"github.com/minibroker/minibroker/client"
)

// Raft timing of the lab's cluster: elections in a few hundred
// milliseconds, so a killed leader is replaced quickly (the values
// broker/brokertest uses).
const (
	labHeartbeatTimeout   = 150 * time.Millisecond
	labElectionTimeout    = 150 * time.Millisecond
	labLeaderLeaseTimeout = 100 * time.Millisecond
	labWait               = 20 * time.Second       // bound on starting a node, electing a leader
	commitSample          = 100 * time.Millisecond // how often the commit index is looked at
)

// cluster is the lab's 3-node in-process cluster (localcluster: data in a
// temporary directory, ports on 127.0.0.1, nodes killed and restarted
// with Kill and Restart), narrated on a timeline, with an admin client.
// Its traffic goes through localcluster's fault proxies (Options.Faults),
// so a node can be cut off (CutRaft, Heal). Safe for concurrent use as
// localcluster.Cluster is.
type cluster struct {
	*localcluster.Cluster
	dir       string // a directory made under Options.Dir, removed by close; "" if none
	stopWatch func() // stops the Raft watch
	// admin is the client for topics and reads, closed by close. Set by
	// startCluster; read-only after.
	admin *client.Client
}

// startCluster starts a 3-node cluster with an admin client (c.admin),
// waits for its leader, says so on tl and narrates leadership changes and
// the commit index there until the cluster is closed. It blocks until the
// cluster is up, ctx ends, or starting fails; on failure what was started
// is closed.
func startCluster(ctx context.Context, r *Run) (*cluster, error) {
	tl := r.tl
	dir := ""
	var err error
	if r.dir != "" {
		if dir, err = os.MkdirTemp(r.dir, "minibroker-lab-"); err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
	}
	lc, err := localcluster.Start(3, localcluster.Options{Dir: dir, ReadyTimeout: labWait, Faults: true,
		Configure: func(i int, cfg *broker.Config) {
			cfg.HeartbeatTimeout, cfg.ElectionTimeout = labHeartbeatTimeout, labElectionTimeout
			cfg.LeaderLeaseTimeout = labLeaderLeaseTimeout
		}})
	if err != nil {
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	c := &cluster{Cluster: lc, dir: dir, stopWatch: func() {}}
	leader, err := c.waitLeader(ctx)
	if err == nil {
		c.admin, err = c.newClient(nil)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	tl.emit(Event{Kind: KindLeader, Node: c.name(leader), Index: c.term(leader),
		Text: fmt.Sprintf("cluster up: n1, n2, n3 in %s; leader %s", c.Dir(), c.name(leader))})
	stop, done := make(chan struct{}), make(chan struct{})
	c.stopWatch = func() { close(stop); <-done }
	go func() {
		defer close(done)
		c.watch(tl, leader, stop)
	}()
	return c, nil
}

// name returns node i's id.
func (c *cluster) name(i int) string { return fmt.Sprintf("n%d", i+1) }

// term returns node i's Raft term, or 0 while it is down.
func (c *cluster) term(i int) uint64 {
	if b := c.Broker(i); b != nil {
		return b.NodeState().Term
	}
	return 0
}

// waitLeader waits until a running node is the ready leader and returns
// its index. It polls every 5ms for up to labWait, or until ctx ends.
func (c *cluster) waitLeader(ctx context.Context) (int, error) {
	deadline := time.NewTimer(labWait)
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
			return -1, fmt.Errorf("no leader elected within %v", labWait)
		case <-tick.C:
		}
	}
}

// close stops the Raft watch and the admin client, kills every node,
// closes the proxies and removes the data directory.
func (c *cluster) close() error {
	c.stopWatch()
	var errs []error
	if c.admin != nil {
		errs = append(errs, c.admin.Close())
	}
	errs = append(errs, c.Close())
	if c.dir != "" {
		errs = append(errs, os.RemoveAll(c.dir))
	}
	return errors.Join(errs...)
}

// watch says on tl when a node other than last becomes the leader, and
// (as detail) when the leader's commit index moves on, until stop closes.
// It polls the leader every 5ms and the commit index every commitSample.
func (c *cluster) watch(tl *timeline, last int, stop <-chan struct{}) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var commit uint64
	sampled := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		cur := c.Leader()
		if cur < 0 {
			continue
		}
		if time.Since(sampled) >= commitSample {
			sampled = time.Now()
			if b := c.Broker(cur); b != nil {
				if ci := b.NodeState().CommitIndex; ci != commit {
					commit = ci
					tl.emit(Event{Kind: KindCommit, Node: c.name(cur), Index: ci, Detail: true,
						Text: fmt.Sprintf("%s (leader) commit index %d", c.name(cur), ci)})
				}
			}
		}
		if cur == last {
			continue
		}
		var text string
		switch {
		case c.Broker(last) == nil:
			text = fmt.Sprintf("%s elected leader; clients follow it there", c.name(cur))
		case c.IsCut(last):
			text = fmt.Sprintf("%s elected leader by the nodes %s cannot reach; clients follow it there", c.name(cur), c.name(last))
		default:
			text = fmt.Sprintf("%s is the leader now, though %s still runs: an election the lab did not cause (heartbeats late on a busy machine)", c.name(cur), c.name(last))
		}
		tl.emit(Event{Kind: KindLeader, Node: c.name(cur), Index: c.term(cur), Text: text})
		last = cur
	}
}

// createTopic creates a one-partition topic through c.admin.
func (c *cluster) createTopic(ctx context.Context, topic string) error {
	if err := c.admin.CreateTopic(ctx, topic, client.TopicConfig{Partitions: 1}); err != nil {
		return fmt.Errorf("create topic: %w", err)
	}
	return nil
}

// newClient returns a client of the cluster with short timeouts; dial, if
// not nil, routes its connections (see client.Config.Dial).
func (c *cluster) newClient(dial func(context.Context, string, string) (net.Conn, error)) (*client.Client, error) {
	cfg := client.Config{Brokers: c.Addrs(), RequestTimeout: 5 * time.Second, DialTimeout: time.Second}
	if dial != nil {
		cfg.Dial = dial
	}
	return client.New(cfg)
}
