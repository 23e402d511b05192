package brokertest

import "github.com/minibroker/minibroker/broker/internal/faultnet"

// Network faults: every node's Raft transport is reached through a proxy
// per link (node i to node j), and its client listeners (native and
// Kafka) through a front proxy, whose address is the one the node
// advertises. See broker/internal/faultnet for what exactly a cut and a
// pause do to connections.

// Partition cuts node i off from the other nodes and from its clients:
// its Raft connections and client connections are reset, and new ones are
// reset as soon as they are accepted, until Heal. The node keeps running:
// a partitioned leader steps down once its lease runs out, and the others
// elect a leader among themselves if they are a majority. A partition
// outlasts a Kill and Restart of the node. It does not block.
func (c *Cluster) Partition(i int) {
	c.t.Helper()
	c.faults().Partition(i)
}

// Heal ends every partition: the nodes reconnect (Raft retries on its
// own; a former leader rejoins as a follower and its log is brought in
// line with the leader's), and clients reach them again. Pauses stay (see
// Resume). It does not block.
func (c *Cluster) Heal() {
	c.t.Helper()
	c.faults().Heal()
}

// Pause makes node i stop answering without dying, as a stopped process
// (SIGSTOP, a long GC pause) would seem from outside: its connections and
// new ones (the kernel still accepts them) stay open, but nothing is
// passed to or from it: Raft messages, client requests and answers are
// held, so clients time out and the other nodes stop hearing from it.
// Unlike a stopped process the node's timers run (a paused leader steps
// down once its lease runs out). A pause outlasts a Kill and Restart of
// the node. It does not block.
func (c *Cluster) Pause(i int) {
	c.t.Helper()
	c.faults().Pause(i)
}

// Resume ends node i's pause: what was held is delivered (stale Raft
// messages, requests whose clients may have given up), and the node
// answers again. It does not block.
func (c *Cluster) Resume(i int) {
	c.t.Helper()
	c.faults().Resume(i)
}

// faults returns the proxies, failing the test if there are none.
func (c *Cluster) faults() *faultnet.Net {
	c.t.Helper()
	if c.net == nil {
		c.t.Fatalf("brokertest: a benchmark's cluster has no fault proxies (see NewCluster)")
	}
	return c.net
}
