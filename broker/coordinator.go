package broker

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
	"github.com/minibroker/minibroker/replication"
)

// The group coordinator runs on the Raft leader. One goroutine (run) owns
// all of its mutable state: the requests of connections reach it as
// closures on ops, and it answers on channels the requests wait on.
//
// What is replicated and what is not:
//
//	replicated (FSM):   generation, strategy, members and their assignment,
//	                    committed offsets (fenced in Apply)
//	coordinator only:   heartbeat times, "rebalancing", joins waiting
//
// A rebalance (eager, like Kafka's classic protocol): a change (a member
// joins, leaves or times out, or a subscribed topic's partitions change)
// marks the group rebalancing; heartbeats answer RebalanceInProgress; each
// member finishes with its partitions (commits under the current
// generation, which stays valid) and rejoins; its JoinGroup waits. When
// every member has rejoined, or the rebalance timeout has passed (the
// stragglers are dropped), the coordinator computes the assignment and
// proposes it through Raft as the next generation, then answers the
// waiting joins. Removing a member (expiry, leave) is proposed at once,
// without a new generation, so that its commits are rejected from then on.
//
// After a leadership change the new leader's coordinator starts from the
// replicated state, gives every member a fresh session, and the members
// carry on with heartbeats to it (or rejoin, keeping their assignment).
type coordinator struct {
	b   *Broker
	ops chan func() // closures run by run(), in order

	// Everything below is owned by run().
	active bool               // this node is the ready leader and groups are loaded
	groups map[string]*cgroup // loaded groups (all of the FSM's, when active)
}

// cgroup is the coordinator's view of one group.
type cgroup struct {
	name     string
	gen      int32 // the replicated generation
	strategy string
	// members are the replicated members of generation gen.
	members map[string]*cmember
	// rebalancing is set while the group waits for its members to rejoin;
	// deadline ends the wait.
	rebalancing bool
	deadline    time.Time
	// joins are the JoinGroup requests waiting for the rebalance to end,
	// by member id: rejoining members and new ones.
	joins map[string]*joinWait
	// parts is the partition count of each subscribed topic when the
	// assignment was made; a change triggers a rebalance.
	parts map[string]int32
	// issued holds member ids handed out to first joins (with an empty
	// id) until the member joins with them or the deadline passes.
	issued map[string]time.Time
}

// cmember is a member of the current generation.
type cmember struct {
	replication.GroupMember
	lastHeard time.Time
}

// joinWait is a JoinGroup waiting for a rebalance.
type joinWait struct {
	member replication.GroupMember // without assignment
	reply  chan wire.JoinGroupResponse
}

const (
	coordTick          = 50 * time.Millisecond
	minSessionTimeout  = 100 * time.Millisecond
	maxSessionTimeout  = time.Hour
	maxRebalanceTimout = time.Hour
	proposeTimeout     = 10 * time.Second
)

func newCoordinator(b *Broker) *coordinator {
	return &coordinator{b: b, ops: make(chan func()), groups: map[string]*cgroup{}}
}

// do runs fn on the coordinator goroutine and waits for it. It returns
// ErrClosed if the broker closes first.
func (c *coordinator) do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case c.ops <- func() { fn(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.b.ctx.Done():
		return ErrClosed
	}
	select {
	case <-done:
		return nil
	case <-c.b.ctx.Done():
		return ErrClosed
	}
}

// run is the coordinator goroutine. It returns when the broker closes.
func (c *coordinator) run() {
	defer c.b.wg.Done()
	node := c.b.store.Node()
	tick := time.NewTicker(coordTick)
	defer tick.Stop()
	for {
		changed := node.LeaderChanged()
		c.sync()
		select {
		case <-c.b.ctx.Done():
			c.deactivate(ErrClosed)
			return
		case fn := <-c.ops:
			fn()
		case <-tick.C:
			c.tick(time.Now())
		case <-changed:
			// Any change of leadership invalidates what was loaded: even if
			// this node leads again, another leader may have changed groups.
			c.deactivate(replication.ErrNotLeader)
		}
	}
}

// sync activates the coordinator when this node is the ready leader, and
// deactivates it when it is not.
func (c *coordinator) sync() {
	ready := c.b.store.Node().IsReady()
	switch {
	case ready && !c.active:
		c.active = true
		now := time.Now()
		for _, g := range c.b.store.FSM().Groups() {
			if !g.IsKafka() { // Kafka groups are the Kafka listener's (package kafka)
				c.groups[g.Name] = loadGroup(g, now)
			}
		}
	case !ready && c.active:
		c.deactivate(replication.ErrNotLeader)
	}
}

// deactivate drops the loaded state and fails the waiting joins with err.
func (c *coordinator) deactivate(err error) {
	for _, g := range c.groups {
		g.failJoins(c.b, err)
	}
	c.groups = map[string]*cgroup{}
	c.active = false
}

// loadGroup builds a group's coordinator state from the replicated one;
// every member starts a fresh session at now.
func loadGroup(g replication.Group, now time.Time) *cgroup {
	cg := newCGroup(g.Name)
	cg.gen, cg.strategy = g.Generation, g.Strategy
	for _, m := range g.Members {
		cg.members[m.ID] = &cmember{GroupMember: m, lastHeard: now}
	}
	return cg
}

func newCGroup(name string) *cgroup {
	return &cgroup{name: name, members: map[string]*cmember{}, joins: map[string]*joinWait{}, issued: map[string]time.Time{}}
}

// group returns the loaded group, or a new empty one (not yet replicated).
func (c *coordinator) group(name string) *cgroup {
	g, ok := c.groups[name]
	if !ok {
		g = newCGroup(name)
		c.groups[name] = g
	}
	return g
}

// state is the group's state as DescribeGroup reports it.
func (g *cgroup) state() string {
	switch {
	case g.rebalancing:
		return wire.GroupRebalancing
	case len(g.members) == 0:
		return wire.GroupEmpty
	}
	return wire.GroupStable
}

// failJoins answers every waiting join with err.
func (g *cgroup) failJoins(b *Broker, err error) {
	for id, j := range g.joins {
		j.reply <- wire.JoinGroupResponse{ErrorCode: codeOf(err), ErrorMessage: b.errText(err)}
		delete(g.joins, id)
	}
	g.rebalancing = false
}

// tick expires silent members, ends overdue rebalances and notices
// changed topics.
func (c *coordinator) tick(now time.Time) {
	if !c.active {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(c.groups)) {
		g := c.groups[name]
		for id, deadline := range g.issued {
			if now.After(deadline) {
				delete(g.issued, id)
			}
		}
		var expired []string
		for _, id := range slices.Sorted(maps.Keys(g.members)) {
			m := g.members[id]
			if _, waiting := g.joins[id]; waiting {
				continue
			}
			if now.Sub(m.lastHeard) > time.Duration(m.SessionTimeoutMs)*time.Millisecond {
				expired = append(expired, id)
			}
		}
		if len(expired) > 0 {
			c.b.logger.Info("group members timed out", "group", g.name, "members", expired)
			c.removeMembers(g, expired, now)
		}
		switch {
		case g.rebalancing && !now.Before(g.deadline):
			c.complete(g, now)
		case !g.rebalancing && len(g.members) > 0 && c.topicsChanged(g):
			c.b.logger.Info("group's topics changed, rebalancing", "group", g.name)
			c.startRebalance(g, now)
		}
	}
}

// removeMembers proposes the removal of members of the current generation
// and rebalances the rest.
func (c *coordinator) removeMembers(g *cgroup, ids []string, now time.Time) {
	ctx, cancel := context.WithTimeout(c.b.ctx, proposeTimeout)
	defer cancel()
	err := c.b.store.RemoveMembers(ctx, replication.RemoveMembersCmd{Group: g.name, Generation: g.gen, MemberIDs: ids})
	if err != nil {
		c.b.logger.Warn("removing group members", "group", g.name, "members", ids, "error", err)
		c.reload(g)
		return
	}
	for _, id := range ids {
		delete(g.members, id)
	}
	if len(g.members) > 0 || len(g.joins) > 0 {
		c.startRebalance(g, now)
		c.maybeComplete(g, now)
	} else {
		g.rebalancing = false
	}
}

// reload replaces a group's state by the replicated one after a proposal
// failed (leadership lost, or a generation conflict); waiting joins fail
// and their members retry.
func (c *coordinator) reload(g *cgroup) {
	g.failJoins(c.b, replication.ErrNotLeader)
	delete(c.groups, g.name)
	if rg, ok := c.b.store.FSM().Group(g.name); ok && !rg.IsKafka() {
		c.groups[g.name] = loadGroup(rg, time.Now())
	}
}

// topicsChanged reports whether a subscribed topic's partition count
// differs from the one the assignment was made with.
func (c *coordinator) topicsChanged(g *cgroup) bool {
	if g.parts == nil {
		g.parts = c.partitionCounts(g)
		return false
	}
	return !maps.Equal(c.partitionCounts(g), g.parts)
}

// partitionCounts returns the partition count of every topic the group's
// members and joiners subscribe to (0 for a topic that does not exist).
func (c *coordinator) partitionCounts(g *cgroup) map[string]int32 {
	counts := map[string]int32{}
	for _, m := range g.members {
		c.countPartitions(counts, m.Topics)
	}
	for _, j := range g.joins {
		c.countPartitions(counts, j.member.Topics)
	}
	return counts
}

// countPartitions adds the partition count of each of topics to counts.
func (c *coordinator) countPartitions(counts map[string]int32, topics []string) {
	for _, t := range topics {
		if _, ok := counts[t]; !ok {
			tp, _ := c.b.store.FSM().Topic(t)
			counts[t] = tp.Partitions
		}
	}
}
