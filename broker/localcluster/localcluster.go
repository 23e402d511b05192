// Package localcluster starts a minibroker cluster of N nodes inside the
// calling process, each node in its own directory under a temporary (or
// given) directory, on free loopback ports. Nodes can be killed and
// restarted. It is what `minibroker bench --embedded N`, `minibroker demo`
// and the peer comparison in tests/peers run against.
//
// Unlike broker/brokertest it needs no testing.TB and keeps the broker's
// production Raft timeouts (a benchmark must not measure elections that
// short test timeouts cause under load).
//
//	c, err := localcluster.Start(3, localcluster.Options{})
//	if err != nil { ... }
//	defer c.Close() // stops the nodes, removes the temporary directory
//	cl, err := client.New(client.Config{Brokers: c.Addrs()})
//
// With Options.Faults, the nodes' Raft traffic and their clients go
// through TCP proxies on loopback (see faults.go), so that a node can be
// partitioned (Partition, CutRaft, Heal) or paused (Pause, Resume)
// without stopping it. It costs a proxy hop on every connection, so it
// is off by default (benchmarks run on localcluster).
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/internal/faultnet"
	"github.com/minibroker/minibroker/replication"
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
	// RaftLog is the nodes' Raft log store (broker.Config.RaftLog): "bolt"
	// (the default) or "wal". Configure may still change it per node.
	RaftLog replication.RaftLogStore
	// ReadyTimeout bounds the wait for every node to have joined and for a
	// leader to be ready. Default 60s.
	ReadyTimeout time.Duration
	// Faults routes the nodes' Raft links and client listeners (native
	// and Kafka) through proxies, so that Partition, CutRaft and Pause
	// work; the addresses the nodes advertise (Addrs, KafkaAddrs) are then
	// the proxies'. A node whose Configure sets RaftPeerAddr or
	// AdvertiseAddr (KafkaAdvertisedAddr) keeps it, and that part of its
	// traffic is not proxied. Default false: direct connections.
	Faults bool
}

// Cluster is a set of in-process brokers. Node i is called "n<i+1>". Its
// methods are safe for concurrent use, except that one node must not be
// killed and restarted at the same time, and Close must not run
// concurrently with the others.
type Cluster struct {
	dir     string
	tempDir bool
	net     *faultnet.Net // the proxies with Options.Faults; else nil

	mu         sync.Mutex       // guards cfgs, addrs, kafkaAddrs and brokers
	cfgs       []broker.Config  // node i's config, with the ports it got once started
	addrs      []string         // node i's advertised client address, once started
	kafkaAddrs []string         // node i's advertised Kafka address, once started ("" if off)
	brokers    []*broker.Broker // node i; nil while it is down
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
	c := &Cluster{dir: opts.Dir, cfgs: make([]broker.Config, n), addrs: make([]string, n), kafkaAddrs: make([]string, n), brokers: make([]*broker.Broker, n)}
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
	if opts.Faults {
		if c.net, err = faultnet.New(n); err != nil {
			return nil, fmt.Errorf("localcluster: %w", err)
		}
	}
	for i := range n {
		c.cfgs[i] = broker.Config{
			ID:           fmt.Sprintf("n%d", i+1),
			DataDir:      filepath.Join(c.dir, fmt.Sprintf("n%d", i+1)),
			Addr:         "127.0.0.1:0",
			RaftAddr:     "127.0.0.1:0",
			Bootstrap:    i == 0,
			StartTimeout: opts.ReadyTimeout,
			RaftLog:      opts.RaftLog,
		}
		if i > 0 {
			c.cfgs[i].Join = []string{c.addrs[0]}
		}
		if opts.Configure != nil {
			opts.Configure(i, &c.cfgs[i])
		}
		if c.net != nil {
			if err := c.net.Prepare(i, &c.cfgs[i]); err != nil {
				return nil, fmt.Errorf("localcluster: node %d: %w", i+1, err)
			}
		}
		if err := c.Restart(i); err != nil {
			return nil, err
		}
	}
	if _, err := c.waitLeader(opts.ReadyTimeout); err != nil {
		return nil, err
	}
	return c, nil
}

// Restart starts node i again after Kill, with the same ports and data;
// Start uses it for the first start too. It blocks until the node is up
// (see broker.Start), and is a no-op for a running node. Errors: those of
// broker.Start.
func (c *Cluster) Restart(i int) error {
	c.mu.Lock()
	cfg, up := c.cfgs[i], c.brokers[i] != nil
	c.mu.Unlock()
	if up {
		return nil
	}
	var b *broker.Broker
	var err error
	if c.net != nil {
		b, err = c.net.StartBroker(context.Background(), i, cfg) // on its held Raft port
	} else {
		b, err = faultnet.StartBroker(context.Background(), cfg)
	}
	if err != nil {
		return fmt.Errorf("localcluster: start node %d: %w", i+1, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addrs[i], c.kafkaAddrs[i], c.brokers[i] = b.Addr(), b.KafkaAddr(), b
	if c.net != nil {
		if err := c.net.Started(i, b, &c.cfgs[i]); err != nil { // the same ports next time
			return fmt.Errorf("localcluster: %w", err)
		}
		return nil
	}
	c.cfgs[i].Addr, c.cfgs[i].RaftAddr = b.ListenAddr(), b.RaftAddr() // the same ports next time
	if !c.cfgs[i].DisableKafka {
		c.cfgs[i].KafkaAddr = b.KafkaListenAddr()
	}
	return nil
}

// Kill stops node i at once, as a crash would (broker.Close: connections
// cut, no leadership hand-over). It blocks until the node has stopped,
// and is a no-op for a node that is down. It returns Close's error.
func (c *Cluster) Kill(i int) error {
	c.mu.Lock()
	b := c.brokers[i]
	c.brokers[i] = nil
	c.mu.Unlock()
	if b == nil {
		return nil
	}
	err := b.Close()
	if c.net != nil {
		c.net.Stopped(i)
	}
	return err
}

// Leader returns the index of the running node that is the ready leader,
// or -1 when there is none. It does not block.
func (c *Cluster) Leader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, b := range c.brokers {
		if b != nil && b.IsLeader() {
			return i
		}
	}
	return -1
}

// waitLeader polls until one node is the ready leader.
func (c *Cluster) waitLeader(timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		if i := c.Leader(); i >= 0 {
			return i, nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("localcluster: no ready leader within %v", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Addrs returns the client addresses of the nodes, node 0 first, those of
// killed nodes included (a client given a dead seed tries the next).
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.addrs)
}

// KafkaAddrs returns the Kafka addresses of the nodes, node 0 first, those
// of killed nodes included, leaving out nodes that serve no Kafka
// (broker.Config.DisableKafka).
func (c *Cluster) KafkaAddrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, a := range c.kafkaAddrs {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Broker returns node i, or nil while it is down.
func (c *Cluster) Broker(i int) *broker.Broker {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.brokers[i]
}

// Len is the number of nodes.
func (c *Cluster) Len() int { return len(c.cfgs) }

// Dir is the parent directory of the nodes' data.
func (c *Cluster) Dir() string { return c.dir }

// Close stops every running node (broker.Close: at once, no hand-over) and
// removes the temporary directory, if Start made one. It blocks until the
// nodes have stopped and returns their errors joined. Close is idempotent.
func (c *Cluster) Close() error {
	if c.net != nil {
		c.net.Close() // first: held (paused) connections must not hold up a Close
	}
	var errs []error
	for i := len(c.cfgs) - 1; i >= 0; i-- {
		if err := c.Kill(i); err != nil {
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
