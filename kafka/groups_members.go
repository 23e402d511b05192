package kafka

import (
	"slices"
	"strings"
	"time"

	"github.com/minibroker/minibroker/replication"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Heartbeat, LeaveGroup, the commit check and the read side of the
// coordinator. Each takes co.mu briefly and does not block.

// heartbeat returns a Heartbeat's error code.
func (co *coordinator) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	co.mu.Lock()
	defer co.mu.Unlock()
	if !co.ensure() {
		return codeNotCoordinator
	}
	g, m, code := co.member(req.Group, req.MemberID, deref(req.InstanceID), req.Generation)
	if code != codeNone {
		return code
	}
	m.lastHeard = time.Now()
	if g.state == statePreparing {
		return codeRebalanceInProgress
	}
	return codeNone
}

// leaveMember is one member leaving: by member id, or by instance id
// (then member id may be empty).
type leaveMember struct{ id, inst string }

// leave removes members; it returns the top-level code and one per member.
func (co *coordinator) leave(group string, ms []leaveMember) (int16, []int16) {
	co.mu.Lock()
	defer co.mu.Unlock()
	codes := make([]int16, len(ms))
	if !co.ensure() {
		return codeNotCoordinator, nil
	}
	g := co.groups[group]
	now := time.Now()
	for i, lm := range ms {
		if g == nil {
			codes[i] = codeUnknownMemberID
			continue
		}
		id := lm.id
		if lm.inst != "" {
			holder, ok := g.static[lm.inst]
			switch {
			case !ok:
				codes[i] = codeUnknownMemberID
				continue
			case id != "" && holder != id:
				codes[i] = codeFencedInstanceID
				continue
			}
			id = holder
		}
		if _, ok := g.members[id]; !ok {
			codes[i] = codeUnknownMemberID
			continue
		}
		co.s.logger.Info("kafka group member left", "group", group, "member", id)
		co.removeMember(g, id, now)
	}
	return codeNone, codes
}

// checkCommit applies Kafka's checks to an OffsetCommit before it is
// proposed (Apply checks again against the replicated group). It returns
// codeNone when the commit may go ahead. A commit counts as a heartbeat.
func (co *coordinator) checkCommit(group, id, inst string, gen int32) int16 {
	co.mu.Lock()
	defer co.mu.Unlock()
	if !co.ensure() {
		return codeNotCoordinator
	}
	if replication.ValidateGroupName(group) != nil {
		return codeInvalidGroupID
	}
	g := co.groups[group]
	if g == nil {
		return codeNone // not run here: native, offsets only, or unknown (Apply decides)
	}
	if gen < 0 && id == "" && len(g.members) == 0 {
		return codeNone
	}
	g, m, code := co.member(group, id, inst, gen)
	if code != codeNone {
		return code
	}
	if g.state == stateCompleting {
		return codeRebalanceInProgress
	}
	m.lastHeard = time.Now()
	return codeNone
}

// hasMembers reports whether the coordinator runs the group with members
// (for DeleteGroups), and whether it is active at all.
func (co *coordinator) hasMembers(group string) (members, active bool) {
	co.mu.Lock()
	defer co.mu.Unlock()
	if !co.ensure() {
		return false, false
	}
	g := co.groups[group]
	return g != nil && len(g.members) > 0, true
}

// subscribed reports which of topics a member of the group subscribes to
// (consumer protocol metadata), and whether the group has members whose
// subscriptions cannot be read.
func (co *coordinator) subscribed(group string, topics []string) (map[string]bool, bool) {
	co.mu.Lock()
	defer co.mu.Unlock()
	out := map[string]bool{}
	g := co.groups[group]
	if g == nil || len(g.members) == 0 {
		return out, false
	}
	if g.protocolType != "consumer" {
		return out, true
	}
	for _, m := range g.members {
		for _, p := range m.protocols {
			var md kmsg.ConsumerMemberMetadata
			if md.ReadFrom(p.Metadata) != nil {
				continue
			}
			for _, t := range topics {
				if slices.Contains(md.Topics, t) {
					out[t] = true
				}
			}
		}
	}
	return out, false
}

// forget drops a deleted group's state, if it still has no members.
func (co *coordinator) forget(group string) {
	co.mu.Lock()
	defer co.mu.Unlock()
	if g := co.groups[group]; g != nil && len(g.members) == 0 {
		delete(co.groups, group)
	}
}

// groupView is a group as DescribeGroups and ListGroups show it.
type groupView struct {
	name, state, protocolType, protocol string
	members                             []kmsg.DescribeGroupsResponseGroupMember
}

// nativeProtocolType is the protocol type native minibroker groups are
// shown with.
const nativeProtocolType = "minibroker"

// describe returns a group's view; ok is false when this node is not the
// coordinator. A group nobody knows is Dead, as in Kafka.
func (co *coordinator) describe(name string) (groupView, bool) {
	co.mu.Lock()
	defer co.mu.Unlock()
	if !co.ensure() {
		return groupView{}, false
	}
	return co.viewLocked(name, true), true
}

func (co *coordinator) viewLocked(name string, withMembers bool) groupView {
	v := groupView{name: name}
	fsm := co.s.store.FSM()
	if g := co.groups[name]; g != nil && len(g.members) == 0 && len(g.pending) == 0 {
		// An empty group deleted since (DeleteGroups, or the native admin
		// tools) is forgotten.
		if _, ok := fsm.Group(name); !ok && len(fsm.GroupOffsets(name)) == 0 {
			delete(co.groups, name)
		}
	}
	if g := co.groups[name]; g != nil {
		v.state, v.protocolType, v.protocol = g.state, g.protocolType, g.protocol
		if withMembers {
			for _, id := range g.sortedIDs() {
				m := g.members[id]
				dm := kmsg.NewDescribeGroupsResponseGroupMember()
				dm.MemberID, dm.ClientID, dm.ClientHost = m.id, m.clientID, m.host
				if m.instanceID != "" {
					inst := m.instanceID
					dm.InstanceID = &inst
				}
				dm.ProtocolMetadata, dm.MemberAssignment = m.metadata, m.assignment
				v.members = append(v.members, dm)
			}
		}
		return v
	}
	fg, ok := fsm.Group(name)
	switch {
	case ok && len(fg.Members) > 0 && !fg.IsKafka():
		v.state, v.protocolType, v.protocol = stateStable, nativeProtocolType, fg.Strategy
		if withMembers {
			for _, m := range fg.Members {
				dm := kmsg.NewDescribeGroupsResponseGroupMember()
				dm.MemberID, dm.ClientID, dm.ClientHost = m.ID, m.ClientID, m.ClientHost
				v.members = append(v.members, dm)
			}
		}
	case ok:
		v.state, v.protocolType = stateEmpty, fg.ProtocolType
	case len(fsm.GroupOffsets(name)) > 0:
		v.state = stateEmpty
	default:
		v.state = stateDead
	}
	return v
}

// list returns every group's view, sorted by name, keeping those whose
// state is in states (case-insensitive; empty: all). ok is false when this
// node is not the coordinator.
func (co *coordinator) list(states []string) ([]groupView, bool) {
	co.mu.Lock()
	defer co.mu.Unlock()
	if !co.ensure() {
		return nil, false
	}
	names := co.s.store.FSM().GroupNames()
	for n := range co.groups {
		names = append(names, n)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	var out []groupView
	for _, n := range names {
		v := co.viewLocked(n, false)
		if v.state == stateDead {
			continue
		}
		if len(states) > 0 && !slices.ContainsFunc(states, func(s string) bool { return strings.EqualFold(s, v.state) }) {
			continue
		}
		out = append(out, v)
	}
	return out, true
}

// GroupInfo is a Kafka group as the coordinator runs it, for the native
// admin tools (minibroker group list|describe).
type GroupInfo struct {
	State        string // Empty, PreparingRebalance, CompletingRebalance or Stable
	Generation   int32
	ProtocolType string
	Protocol     string
	// Members sorted by id, with their subscription and assignment decoded
	// from the consumer protocol when the group uses it.
	Members []replication.GroupMember
}

// Group returns a Kafka group's state; ok is false when this node is not
// the coordinator (not the ready leader) or runs no Kafka group by that
// name. It does not block and is safe for concurrent use.
func (s *Server) Group(name string) (GroupInfo, bool) {
	co := s.groups
	co.mu.Lock()
	defer co.mu.Unlock()
	if !co.ensure() {
		return GroupInfo{}, false
	}
	g := co.groups[name]
	if g == nil {
		return GroupInfo{}, false
	}
	info := GroupInfo{State: g.state, Generation: g.gen, ProtocolType: g.protocolType, Protocol: g.protocol}
	for _, id := range g.sortedIDs() {
		m := g.members[id]
		gm := replication.GroupMember{ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.host,
			SessionTimeoutMs: m.sessionMs, RebalanceTimeoutMs: m.rebalMs}
		if g.protocolType == "consumer" {
			md := m.metadata
			if md == nil && len(m.protocols) > 0 {
				md = m.protocols[0].Metadata
			}
			gm.Topics, gm.Assignment = decodeConsumer(md, m.assignment)
		}
		info.Members = append(info.Members, gm)
	}
	return info, true
}
