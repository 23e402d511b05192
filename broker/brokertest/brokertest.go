// Package brokertest starts minibroker clusters inside a test process, in
// the spirit of net/http/httptest: random loopback ports, temporary data
// directories, short Raft timeouts, and cleanup when the test ends.
//
//	c := brokertest.NewCluster(t, 3)
//	cl, err := client.New(client.Config{Brokers: c.Addrs()})
//	...
//	c.Kill(c.WaitLeader()) // stop the leader; the others elect a new one
//	c.Shutdown(i)          // stop a node gracefully (leadership handed over)
//	c.Restart(i)           // bring a node back on the same ports and data
//	c.Partition(i)         // cut a node off from the others and its clients
//	c.Heal()               // and back
//	c.Pause(i)             // a node that stops answering without dying
//	c.Resume(i)            // and answers again
//
// Clients and nodes reach each node through TCP proxies on loopback, so
// that Partition and Pause can act on the network without stopping the
// process (see faults.go): the addresses Addrs and KafkaAddrs return, and
// the nodes advertise, are the proxies'. A benchmark's cluster (t a
// *testing.B) has no proxies, so that a proxy hop does not weigh on what
// it measures; Partition and Pause fail it.
//
// Methods fail the test (t.Fatal) on errors, so they must be called from
// the test's goroutine. A Cluster is not safe for concurrent use.
package brokertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/internal/faultnet"
	"github.com/minibroker/minibroker/replication"
)

// Timeouts used by test clusters: short enough for quick elections, long
// enough that a loaded 2-core machine running -race does not see spurious
// ones.
const (
	HeartbeatTimeout   = 150 * time.Millisecond
	ElectionTimeout    = 150 * time.Millisecond
	LeaderLeaseTimeout = 100 * time.Millisecond
	waitTimeout        = 20 * time.Second
)

// Cluster is a set of in-process brokers.
type Cluster struct {
	t       testing.TB
	cfgs    []broker.Config
	brokers []*broker.Broker // nil while a node is down
	net     *faultnet.Net    // the proxies; nil for a benchmark's cluster
}

// Config returns the test configuration for node i of a cluster, before
// ports are assigned: a temp DataDir, loopback addresses on free ports,
// short timeouts.
func Config(t testing.TB, i int) broker.Config {
	return broker.Config{
		ID:                 fmt.Sprintf("n%d", i+1),
		DataDir:            t.TempDir(),
		Addr:               "127.0.0.1:0",
		RaftAddr:           "127.0.0.1:0",
		HeartbeatTimeout:   HeartbeatTimeout,
		ElectionTimeout:    ElectionTimeout,
		LeaderLeaseTimeout: LeaderLeaseTimeout,
		StartTimeout:       waitTimeout,
	}
}

// RaftLog returns a NewCluster mod that gives every node the Raft log
// store s (broker.Config.RaftLog), e.g. to run a test on both stores:
//
//	for _, s := range replication.RaftLogStores {
//		t.Run(string(s), func(t *testing.T) { c := brokertest.NewCluster(t, 3, brokertest.RaftLog(s)); ... })
//	}
func RaftLog(s replication.RaftLogStore) func(i int, cfg *broker.Config) {
	return func(_ int, cfg *broker.Config) { cfg.RaftLog = s }
}

// NewBroker starts a single-node broker and closes it when the test ends.
func NewBroker(t testing.TB) *broker.Broker {
	t.Helper()
	return NewCluster(t, 1).Broker(0)
}

// NewCluster starts n brokers: node 0 bootstraps, the others join it. mod,
// if given, adjusts each node's config before it starts (keep the
// addresses on loopback). The cluster is closed when the test ends.
func NewCluster(t testing.TB, n int, mod ...func(i int, cfg *broker.Config)) *Cluster {
	t.Helper()
	c := &Cluster{t: t, cfgs: make([]broker.Config, n), brokers: make([]*broker.Broker, n)}
	if _, bench := t.(*testing.B); !bench {
		nt, err := faultnet.New(n)
		if err != nil {
			t.Fatalf("brokertest: %v", err)
		}
		c.net = nt
	}
	for i := range c.cfgs {
		c.cfgs[i] = Config(t, i)
		c.cfgs[i].Bootstrap = i == 0
		for _, m := range mod {
			m(i, &c.cfgs[i])
		}
		if c.net != nil {
			if err := c.net.Prepare(i, &c.cfgs[i]); err != nil {
				c.net.Close()
				t.Fatalf("brokertest: n%d: %v", i+1, err)
			}
		}
	}
	t.Cleanup(func() { // after t.TempDir's cleanups are registered, so it runs first
		if c.net != nil {
			c.net.Close() // first: held (paused) connections must not hold up a Close
		}
		for i := range c.brokers {
			c.Kill(i)
		}
	})
	for i := range c.cfgs {
		if i > 0 {
			c.cfgs[i].Join = []string{c.brokers[0].Addr()}
		}
		c.Restart(i)
	}
	return c
}

// Broker returns node i, or nil while it is down.
func (c *Cluster) Broker(i int) *broker.Broker { return c.brokers[i] }

// Len is the number of nodes, up or down.
func (c *Cluster) Len() int { return len(c.brokers) }

// Addrs returns the client addresses of the running nodes: the addresses
// they advertise, their front proxies' (see Partition).
func (c *Cluster) Addrs() []string {
	var out []string
	for _, b := range c.brokers {
		if b != nil {
			out = append(out, b.Addr())
		}
	}
	return out
}

// KafkaAddrs returns the Kafka addresses of the running nodes (those
// that serve Kafka: see broker.Config.DisableKafka), as they advertise
// them in Metadata: their front proxies' (see Partition).
func (c *Cluster) KafkaAddrs() []string {
	var out []string
	for _, b := range c.brokers {
		if b != nil && b.KafkaAddr() != "" {
			out = append(out, b.KafkaAddr())
		}
	}
	return out
}

// WaitLeader waits until one running node is the ready Raft leader and
// returns its index.
func (c *Cluster) WaitLeader() int {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		for i, b := range c.brokers {
			if b != nil && b.IsLeader() {
				return i
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("brokertest: no leader within %v", waitTimeout)
		}
		<-tick.C
	}
}

// Leader waits for the leader and returns it.
func (c *Cluster) Leader() *broker.Broker { return c.brokers[c.WaitLeader()] }

// Kill stops node i (in-process: Close). It is a no-op for a node that is
// down. A broker that closed itself on a fatal error (Broker.Err) may
// have failed to close its data too (a full disk): that is not reported.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	if b := c.brokers[i]; b != nil {
		c.brokers[i] = nil
		if err := b.Close(); err != nil && b.Err() == nil {
			c.t.Errorf("brokertest: close n%d: %v", i+1, err)
		}
		if c.net != nil {
			c.net.Stopped(i)
		}
	}
}

// Shutdown stops node i gracefully (Broker.Shutdown, with up to 20s for
// in-flight requests and a leadership hand-off). It is a no-op for a node
// that is down. The test fails if Shutdown returns an error.
func (c *Cluster) Shutdown(i int) {
	c.t.Helper()
	if b := c.brokers[i]; b != nil {
		c.brokers[i] = nil
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			c.t.Errorf("brokertest: shutdown n%d: %v", i+1, err)
		}
		if c.net != nil {
			c.net.Stopped(i)
		}
	}
}

// Restart starts node i again, on the same data dir and ports; it also
// starts it the first time. It is a no-op for a node that is up.
func (c *Cluster) Restart(i int) *broker.Broker {
	c.t.Helper()
	if c.brokers[i] != nil {
		return c.brokers[i]
	}
	var b *broker.Broker
	var err error
	if c.net != nil {
		b, err = c.net.StartBroker(context.Background(), i, c.cfgs[i]) // on its held Raft port
	} else {
		b, err = faultnet.StartBroker(context.Background(), c.cfgs[i])
	}
	if err != nil {
		c.t.Fatalf("brokertest: start n%d: %v", i+1, err)
	}
	c.brokers[i] = b
	if c.net != nil {
		if err := c.net.Started(i, b, &c.cfgs[i]); err != nil { // the same ports next time
			c.t.Fatalf("brokertest: n%d: %v", i+1, err)
		}
		return b
	}
	c.cfgs[i].Addr, c.cfgs[i].RaftAddr = b.ListenAddr(), b.RaftAddr() // same ports next time
	if !c.cfgs[i].DisableKafka {
		c.cfgs[i].KafkaAddr = b.KafkaListenAddr()
	}
	return b
}
