package localcluster

import "errors"

// ErrNoFaults is returned by the fault methods of a cluster started
// without Options.Faults.
var ErrNoFaults = errors.New("localcluster: started without Options.Faults")

// Partition cuts node i off from the other nodes and from its clients:
// its Raft and client connections (native and Kafka) are reset, and new
// ones are reset as soon as they are accepted, until Heal. The node keeps
// running: a partitioned leader steps down once its lease runs out, and
// the others elect a leader among themselves if they are a majority. A
// partition outlasts a Kill and Restart of the node. It does not block.
// Errors: ErrNoFaults.
func (c *Cluster) Partition(i int) error {
	if c.net == nil {
		return ErrNoFaults
	}
	c.net.Partition(i)
	return nil
}

// CutRaft cuts node i's Raft links only, as Partition does, while its
// clients still reach it: a leader cut off this way takes writes it
// cannot commit until it steps down. Errors: ErrNoFaults.
func (c *Cluster) CutRaft(i int) error {
	if c.net == nil {
		return ErrNoFaults
	}
	c.net.CutRaft(i)
	return nil
}

// Heal ends every cut (Partition, CutRaft): the nodes reconnect, a former
// leader rejoins as a follower and its log is brought in line with the
// leader's, and clients reach them again. Pauses stay (see Resume). It
// does not block. Errors: ErrNoFaults.
func (c *Cluster) Heal() error {
	if c.net == nil {
		return ErrNoFaults
	}
	c.net.Heal()
	return nil
}

// Pause makes node i stop answering without dying, as a stopped process
// (SIGSTOP, a long GC pause) would seem from outside: its connections and
// new ones stay open, but nothing is passed to or from it (Raft messages,
// client requests, answers) until Resume, so its clients time out and the
// other nodes stop hearing from it. Unlike a stopped process the node's
// timers still run (a paused leader steps down once its lease runs out).
// A pause outlasts a Kill and Restart. It does not block. Errors:
// ErrNoFaults.
func (c *Cluster) Pause(i int) error {
	if c.net == nil {
		return ErrNoFaults
	}
	c.net.Pause(i)
	return nil
}

// Resume ends node i's pause: what was held is delivered and the node
// answers again. It does not block. Errors: ErrNoFaults.
func (c *Cluster) Resume(i int) error {
	if c.net == nil {
		return ErrNoFaults
	}
	c.net.Resume(i)
	return nil
}

// IsCut reports whether node i's Raft links are cut (Partition, CutRaft).
func (c *Cluster) IsCut(i int) bool { return c.net != nil && c.net.IsCut(i) }

// IsPaused reports whether node i is paused.
func (c *Cluster) IsPaused(i int) bool { return c.net != nil && c.net.IsPaused(i) }
