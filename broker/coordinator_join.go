package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
	"github.com/minibroker/minibroker/replication"
)

// The membership operations of the coordinator. Each runs on the
// coordinator goroutine (see coordinator.go).

// join handles a JoinGroup: it answers at once (reply is buffered) or
// parks the request until the rebalance it joins completes.
func (c *coordinator) join(req *wire.JoinGroupRequest, clientHost string, reply chan wire.JoinGroupResponse) {
	fail := func(err error) {
		reply <- wire.JoinGroupResponse{ErrorCode: codeOf(err), ErrorMessage: c.b.errText(err)}
	}
	if !c.active {
		fail(c.notLeader())
		return
	}
	if err := validateJoin(req); err != nil {
		fail(err)
		return
	}
	fg, kafka := c.b.store.FSM().Group(req.Group)
	kafka = kafka && fg.IsKafka()
	if kafka && len(fg.Members) > 0 {
		fail(wire.Err(wire.CodeGroupProtocolMismatch, fmt.Sprintf("group %q is in use by Kafka clients (protocol type %s, %d members)", req.Group, fg.ProtocolType, len(fg.Members))))
		return
	}
	g := c.group(req.Group)
	if kafka && len(g.members) == 0 && !g.rebalancing {
		// A Kafka group left without members: native consumers may take
		// the name over, as Kafka lets an empty group change its protocol
		// type. The generations go on from the Kafka group's (the first
		// SyncGroupCmd replaces it; Apply wants the next one).
		g.gen = max(g.gen, fg.Generation)
	}
	strategy := req.Strategy
	if strategy == "" {
		strategy = wire.StrategyRange
	}
	if (len(g.members) > 0 || len(g.joins) > 0) && g.strategy != "" && g.strategy != strategy {
		fail(wire.Err(wire.CodeInvalidGroup, fmt.Sprintf("group %q uses the %s strategy, not %s", g.name, g.strategy, strategy)))
		return
	}
	now := time.Now()
	id := req.MemberID
	m, known := g.members[id]
	_, waiting := g.joins[id]
	_, issued := g.issued[id]
	switch {
	case id == "":
		// Hand out an id and store nothing: the member joins again with
		// it (see wire.JoinGroupRequest).
		id = newMemberID(req.ClientID)
		g.issued[id] = now.Add(time.Duration(req.SessionTimeoutMs) * time.Millisecond)
		reply <- wire.JoinGroupResponse{ErrorCode: wire.CodeMemberIDRequired, ErrorMessage: "join again with this member id", MemberID: id}
		return
	case !known && !waiting && !issued:
		fail(wire.Err(wire.CodeUnknownMember, fmt.Sprintf("member %q is not in group %q; join with an empty member id", id, g.name)))
		return
	}
	delete(g.issued, id)
	member := replication.GroupMember{
		ID: id, ClientID: req.ClientID, ClientHost: clientHost, Topics: normTopics(req.Topics),
		SessionTimeoutMs: req.SessionTimeoutMs, RebalanceTimeoutMs: req.RebalanceTimeoutMs,
	}
	if known {
		m.lastHeard = now
		if !g.rebalancing && slices.Equal(m.Topics, member.Topics) {
			// A member that lost touch (a new leader, a reconnect) and
			// still holds this generation's assignment: nothing changes.
			reply <- c.joinReply(g, &m.GroupMember)
			return
		}
	}
	if old, ok := g.joins[id]; ok {
		old.reply <- wire.JoinGroupResponse{ErrorCode: wire.CodeRebalanceInProgress, ErrorMessage: "superseded by a newer JoinGroup of the same member"}
	}
	g.strategy = strategy
	g.joins[id] = &joinWait{member: member, reply: reply}
	c.startRebalance(g, now)
	c.maybeComplete(g, now)
}

// joinReply is the JoinGroup answer for member m of g's current generation.
func (c *coordinator) joinReply(g *cgroup, m *replication.GroupMember) wire.JoinGroupResponse {
	resp := wire.JoinGroupResponse{MemberID: m.ID, Generation: g.gen, Strategy: g.strategy}
	for _, tp := range m.Assignment {
		resp.Assignment = append(resp.Assignment, wire.TopicPartitions{Topic: tp.Topic, Partitions: slices.Clone(tp.Partitions)})
	}
	return resp
}

// startRebalance marks g rebalancing (if it is not already); the deadline
// is the longest rebalance timeout of its members and joiners.
func (c *coordinator) startRebalance(g *cgroup, now time.Time) {
	if g.rebalancing {
		return
	}
	var longest int32
	for _, m := range g.members {
		longest = max(longest, m.RebalanceTimeoutMs)
	}
	for _, j := range g.joins {
		longest = max(longest, j.member.RebalanceTimeoutMs)
	}
	g.rebalancing = true
	g.deadline = now.Add(time.Duration(longest) * time.Millisecond)
	c.b.logger.Debug("group rebalancing", "group", g.name, "generation", g.gen)
}

// maybeComplete completes g's rebalance once every member has rejoined.
func (c *coordinator) maybeComplete(g *cgroup, now time.Time) {
	if !g.rebalancing {
		return
	}
	for id := range g.members {
		if _, ok := g.joins[id]; !ok {
			return
		}
	}
	c.complete(g, now)
}

// complete ends g's rebalance: the members that rejoined form the next
// generation, whose assignment is proposed through Raft; then the waiting
// joins are answered. Members that did not rejoin are left out (their
// commits fail from now on: the generation moved).
func (c *coordinator) complete(g *cgroup, now time.Time) {
	ids := slices.Sorted(maps.Keys(g.joins))
	members := make([]assignMember, 0, len(ids))
	for _, id := range ids {
		am := assignMember{id: id, topics: g.joins[id].member.Topics}
		if old, ok := g.members[id]; ok {
			am.prev = old.Assignment
		}
		members = append(members, am)
	}
	counts := map[string]int32{}
	for _, m := range members {
		c.countPartitions(counts, m.topics)
	}
	assignment := assign(g.strategy, members, counts)
	cmd := replication.SyncGroupCmd{Group: g.name, Generation: g.gen + 1, Strategy: g.strategy}
	for _, id := range ids {
		m := g.joins[id].member
		m.Assignment = assignment[id]
		cmd.Members = append(cmd.Members, m)
	}
	ctx, cancel := context.WithTimeout(c.b.ctx, proposeTimeout)
	defer cancel()
	if err := c.b.store.SyncGroup(ctx, cmd); err != nil {
		c.b.logger.Warn("group rebalance failed", "group", g.name, "generation", cmd.Generation, "error", err)
		c.reload(g)
		return
	}
	if dropped := len(g.members) - countIn(g.members, g.joins); dropped > 0 {
		c.b.logger.Info("group members dropped: they did not rejoin in time", "group", g.name, "count", dropped)
	}
	g.gen = cmd.Generation
	g.members = make(map[string]*cmember, len(cmd.Members))
	for _, m := range cmd.Members {
		g.members[m.ID] = &cmember{GroupMember: m, lastHeard: now}
	}
	g.rebalancing = false
	g.parts = counts
	for _, id := range ids {
		g.joins[id].reply <- c.joinReply(g, &g.members[id].GroupMember)
		delete(g.joins, id)
	}
	c.b.logger.Info("group rebalanced", "group", g.name, "generation", g.gen, "members", len(ids))
}

func countIn(members map[string]*cmember, joins map[string]*joinWait) int {
	n := 0
	for id := range members {
		if _, ok := joins[id]; ok {
			n++
		}
	}
	return n
}

// heartbeat handles a Heartbeat.
func (c *coordinator) heartbeat(req *wire.HeartbeatRequest) error {
	if !c.active {
		return c.notLeader()
	}
	g, ok := c.groups[req.Group]
	if !ok {
		return wire.Err(wire.CodeUnknownMember, fmt.Sprintf("group %q has no members", req.Group))
	}
	m, ok := g.members[req.MemberID]
	if !ok {
		return wire.Err(wire.CodeUnknownMember, fmt.Sprintf("member %q is not in group %q (removed after its session timed out, or left)", req.MemberID, g.name))
	}
	if req.Generation != g.gen {
		return wire.Err(wire.CodeIllegalGeneration, fmt.Sprintf("generation %d is stale: group %q is at %d", req.Generation, g.name, g.gen))
	}
	m.lastHeard = time.Now()
	if g.rebalancing {
		return wire.Err(wire.CodeRebalanceInProgress, fmt.Sprintf("group %q is rebalancing: rejoin", g.name))
	}
	return nil
}

// leave handles a LeaveGroup.
func (c *coordinator) leave(req *wire.LeaveGroupRequest) error {
	if !c.active {
		return c.notLeader()
	}
	g, ok := c.groups[req.Group]
	if !ok {
		return wire.Err(wire.CodeUnknownMember, fmt.Sprintf("group %q has no members", req.Group))
	}
	now := time.Now()
	if j, ok := g.joins[req.MemberID]; ok {
		j.reply <- wire.JoinGroupResponse{ErrorCode: wire.CodeUnknownMember, ErrorMessage: "the member left the group"}
		delete(g.joins, req.MemberID)
	}
	if _, ok := g.members[req.MemberID]; !ok {
		c.maybeComplete(g, now)
		return nil
	}
	c.b.logger.Info("group member left", "group", g.name, "member", req.MemberID)
	c.removeMembers(g, []string{req.MemberID}, now)
	return nil
}

// notLeader is the error for requests reaching a coordinator that is not
// active.
func (c *coordinator) notLeader() error {
	return fmt.Errorf("group coordinator: %w", replication.ErrNotLeader)
}

// validateJoin checks a JoinGroup's fields.
func validateJoin(req *wire.JoinGroupRequest) error {
	bad := func(format string, args ...any) error {
		return wire.Err(wire.CodeInvalidGroup, fmt.Sprintf(format, args...))
	}
	session := time.Duration(req.SessionTimeoutMs) * time.Millisecond
	rebalance := time.Duration(req.RebalanceTimeoutMs) * time.Millisecond
	switch {
	case replication.ValidateGroupName(req.Group) != nil:
		return bad("group name %q: want 1 to %d of letters, digits, '.', '_' and '-'", req.Group, replication.MaxGroupNameLen)
	case len(req.Topics) == 0:
		return bad("no topics to subscribe to")
	case !knownStrategy(req.Strategy):
		return bad("unknown assignment strategy %q (want %s, %s or %s)", req.Strategy, wire.StrategyRange, wire.StrategyRoundRobin, wire.StrategySticky)
	case session < minSessionTimeout || session > maxSessionTimeout:
		return bad("session timeout %v not in [%v, %v]", session, minSessionTimeout, maxSessionTimeout)
	case rebalance < minSessionTimeout || rebalance > maxRebalanceTimout:
		return bad("rebalance timeout %v not in [%v, %v]", rebalance, minSessionTimeout, maxRebalanceTimout)
	}
	for _, t := range req.Topics {
		if t == "" {
			return bad("empty topic name in the subscription")
		}
	}
	return nil
}

// normTopics returns the subscription sorted without duplicates.
func normTopics(ts []string) []string {
	out := slices.Clone(ts)
	slices.Sort(out)
	return slices.Compact(out)
}

// newMemberID returns a new member id: the client id and a random suffix.
func newMemberID(clientID string) string {
	var r [8]byte
	rand.Read(r[:])
	if clientID == "" {
		clientID = "consumer"
	}
	return clientID + "-" + hex.EncodeToString(r[:])
}
