package kafka

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"time"

	"github.com/minibroker/minibroker/replication"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup and SyncGroup: the join phase collects the members, the
// coordinator picks a protocol and a leader member and hands the leader
// every member's metadata; the leader's SyncGroup assignment is recorded
// through Raft and handed to each member as sent.

// join handles a JoinGroup: it finishes resp at once or holds it until
// the join phase ends. It does not block.
func (co *coordinator) join(req *kmsg.JoinGroupRequest, clientID, host string, resp *kmsg.JoinGroupResponse, finish func()) {
	co.mu.Lock()
	defer co.mu.Unlock()
	resp.MemberID, resp.Generation = req.MemberID, -1
	fail := func(code int16) {
		resp.ErrorCode = code
		finish()
	}
	if !co.ensure() {
		fail(codeNotCoordinator)
		return
	}
	if replication.ValidateGroupName(req.Group) != nil {
		fail(codeInvalidGroupID)
		return
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if session < co.s.cfg.GroupMinSessionTimeout || session > co.s.cfg.GroupMaxSessionTimeout {
		fail(codeInvalidSessionTimeout)
		return
	}
	rebal := req.RebalanceTimeoutMillis
	if req.Version == 0 || rebal <= 0 {
		rebal = req.SessionTimeoutMillis
	}
	if req.ProtocolType == "" || len(req.Protocols) == 0 {
		fail(codeInconsistentGroupProtocol)
		return
	}
	// What the group's record could not hold (replication.ValidateKafkaGroup).
	if len(req.ProtocolType) > replication.MaxKafkaProtocolLen || len(deref(req.InstanceID)) > replication.MaxKafkaMemberIDLen ||
		len(req.MemberID) > replication.MaxKafkaMemberIDLen {
		fail(codeInvalidRequest)
		return
	}
	for _, p := range req.Protocols {
		if len(p.Name) > replication.MaxKafkaProtocolLen || len(p.Metadata) > replication.MaxKafkaMemberBytesLen {
			fail(codeInvalidRequest)
			return
		}
	}
	g := co.groups[req.Group]
	if g == nil || len(g.members) == 0 {
		if fg, ok := co.s.store.FSM().Group(req.Group); ok && !fg.IsKafka() && len(fg.Members) > 0 {
			fail(codeInconsistentGroupProtocol) // native consumers use this name
			return
		}
	}
	if g == nil {
		g = newKGroup(req.Group, req.ProtocolType)
		if fg, ok := co.s.store.FSM().Group(req.Group); ok {
			g.gen = fg.Generation // generations of a name never go back
		}
		co.groups[req.Group] = g
	}
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
		if fg, ok := co.s.store.FSM().Group(req.Group); ok {
			// Native consumers may have used the name since this empty
			// group was loaded: generations of a name never go back.
			g.gen = max(g.gen, fg.Generation)
		}
	} else if g.protocolType != req.ProtocolType || !g.supportsAny(req.Protocols) {
		fail(codeInconsistentGroupProtocol)
		return
	}
	now := time.Now()
	inst := deref(req.InstanceID)
	id := req.MemberID
	if inst != "" {
		if holder, ok := g.static[inst]; ok && id != "" && holder != id {
			fail(codeFencedInstanceID)
			return
		}
	}
	fresh := func(id string) *kmember {
		m := &kmember{id: id, instanceID: inst}
		g.members[id] = m
		if inst != "" {
			g.static[inst] = id
		}
		return m
	}
	var m *kmember
	switch {
	case id == "" && len(g.members)+len(g.pending) >= replication.MaxKafkaGroupMembers:
		fail(codeGroupMaxSizeReached)
		return
	case id == "" && inst != "":
		if old, ok := g.static[inst]; ok {
			co.replaceStatic(g, g.members[old], req, clientID, host, rebal, resp, finish, now)
			return
		}
		m = fresh(newMemberID(clientID))
	case id == "" && req.Version >= 4:
		// Kafka's KIP-394: the member joins again with this id. Never
		// below v4: older clients do not know the code.
		id = newMemberID(clientID)
		g.pending[id] = now.Add(session)
		resp.MemberID = id
		fail(codeMemberIDRequired)
		return
	case id == "":
		m = fresh(newMemberID(clientID))
	default:
		var ok bool
		if m, ok = g.members[id]; !ok {
			if _, ok := g.pending[id]; !ok {
				fail(codeUnknownMemberID)
				return
			}
			delete(g.pending, id)
			m = fresh(id)
		}
	}
	same := m.protocols != nil && protocolsEqual(m.protocols, req.Protocols)
	m.clientID, m.host, m.sessionMs, m.rebalMs, m.lastHeard = clientID, host, req.SessionTimeoutMillis, rebal, now
	resp.MemberID = m.id
	switch {
	case same && g.state == stateCompleting:
		// A retry of a join that already completed: the same answer.
		co.fillJoin(g, m, resp)
		finish()
		return
	case same && g.state == stateStable && m.id != g.leader:
		co.fillJoin(g, m, resp)
		finish()
		return
	}
	m.protocols = slices.Clone(req.Protocols)
	if m.join != nil {
		m.join.resp.ErrorCode = codeRebalanceInProgress // superseded by this join
		m.join.finish()
	}
	m.join = &joinWait{resp: resp, finish: finish}
	co.prepareRebalance(g, now)
}

// replaceStatic handles a JoinGroup with an empty member id and a known
// instance id: the instance gets a new member id and the old one is fenced.
// With its protocols unchanged in a Stable group nothing is rebalanced:
// the new id is recorded and the member gets the current generation back
// (and its assignment at SyncGroup). co.mu is held.
func (co *coordinator) replaceStatic(g *kgroup, old *kmember, req *kmsg.JoinGroupRequest, clientID, host string, rebal int32,
	resp *kmsg.JoinGroupResponse, finish func(), now time.Time) {
	old.failHeld(codeFencedInstanceID)
	delete(g.members, old.id)
	m := &kmember{id: newMemberID(clientID), instanceID: old.instanceID, clientID: clientID, host: host,
		sessionMs: req.SessionTimeoutMillis, rebalMs: rebal, protocols: old.protocols, metadata: old.metadata,
		assignment: old.assignment, lastHeard: now}
	g.members[m.id] = m
	g.static[m.instanceID] = m.id
	if g.leader == old.id {
		g.leader = m.id
	}
	resp.MemberID = m.id
	if g.state != stateStable || !protocolsEqual(old.protocols, req.Protocols) {
		m.protocols = slices.Clone(req.Protocols)
		m.join = &joinWait{resp: resp, finish: finish}
		co.prepareRebalance(g, now)
		return
	}
	gen := g.gen
	co.record(g, func(err error) {
		if err != nil {
			resp.ErrorCode = codeForRecord(err)
			finish()
			if g.gen == gen && g.state == stateStable {
				co.prepareRebalance(g, time.Now())
			}
			return
		}
		co.fillJoin(g, m, resp)
		finish()
	})
}

// maybeCompleteJoin ends the join phase once every member (and every
// member id handed out) has joined. co.mu is held.
func (co *coordinator) maybeCompleteJoin(g *kgroup, now time.Time) {
	if g.state != statePreparing || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.join == nil {
			return
		}
	}
	co.completeJoin(g, now)
}

// completeJoin ends the join phase: members that did not join are
// dropped, a protocol and a leader are chosen, the generation moves on and
// every held JoinGroup is answered. co.mu is held.
func (co *coordinator) completeJoin(g *kgroup, now time.Time) {
	for id, m := range g.members {
		if m.join == nil {
			m.failHeld(codeUnknownMemberID)
			delete(g.members, id)
			if m.instanceID != "" && g.static[m.instanceID] == id {
				delete(g.static, m.instanceID)
			}
		}
	}
	clear(g.pending)
	if len(g.members) == 0 {
		co.empty(g)
		return
	}
	g.protocol = g.selectProtocol()
	g.gen++
	if _, ok := g.members[g.leader]; !ok {
		g.leader = g.sortedIDs()[0]
	}
	g.state = stateCompleting
	for _, m := range g.members {
		m.metadata = nil
		for _, p := range m.protocols {
			if p.Name == g.protocol {
				m.metadata = p.Metadata
				break
			}
		}
	}
	for _, m := range g.members {
		co.fillJoin(g, m, m.join.resp)
		m.join.finish()
		m.join, m.lastHeard = nil, now
	}
}

// fillJoin writes the current generation's JoinGroup answer for m: the
// leader member also gets every member's metadata.
func (co *coordinator) fillJoin(g *kgroup, m *kmember, resp *kmsg.JoinGroupResponse) {
	resp.ErrorCode = codeNone
	resp.Generation, resp.LeaderID, resp.MemberID = g.gen, g.leader, m.id
	pt, p := g.protocolType, g.protocol
	resp.ProtocolType, resp.Protocol = &pt, &p
	resp.Members = nil
	if m.id != g.leader {
		return
	}
	for _, id := range g.sortedIDs() {
		o := g.members[id]
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.ProtocolMetadata = o.id, o.metadata
		if o.instanceID != "" {
			inst := o.instanceID
			rm.InstanceID = &inst
		}
		resp.Members = append(resp.Members, rm)
	}
}

// sync handles a SyncGroup: it finishes resp at once or holds it until the
// leader member's assignment is recorded. It does not block.
func (co *coordinator) sync(req *kmsg.SyncGroupRequest, resp *kmsg.SyncGroupResponse, finish func()) {
	co.mu.Lock()
	defer co.mu.Unlock()
	fail := func(code int16) {
		resp.ErrorCode = code
		finish()
	}
	if !co.ensure() {
		fail(codeNotCoordinator)
		return
	}
	g, m, code := co.member(req.Group, req.MemberID, deref(req.InstanceID), req.Generation)
	if code != codeNone {
		fail(code)
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		fail(codeInconsistentGroupProtocol)
		return
	}
	pt, p := g.protocolType, g.protocol
	resp.ProtocolType, resp.Protocol = &pt, &p
	now := time.Now()
	m.lastHeard = now
	switch g.state {
	case statePreparing:
		fail(codeRebalanceInProgress)
		return
	case stateStable:
		resp.MemberAssignment = m.assignment
		finish()
		return
	}
	// CompletingRebalance: hold until the leader's assignment is recorded.
	if m.sync != nil {
		m.sync.resp.ErrorCode = codeRebalanceInProgress // superseded
		m.sync.finish()
	}
	m.sync = &syncWait{resp: resp, finish: finish}
	if m.id != g.leader || g.syncing {
		return
	}
	assign := make(map[string][]byte, len(req.GroupAssignment))
	for _, a := range req.GroupAssignment {
		if len(a.MemberAssignment) > replication.MaxKafkaMemberBytesLen {
			m.sync = nil
			fail(codeInvalidRequest)
			return
		}
		assign[a.MemberID] = a.MemberAssignment
	}
	for id, o := range g.members {
		o.assignment = assign[id]
	}
	g.syncing = true
	gen := g.gen
	co.record(g, func(err error) {
		g.syncing = false
		if g.gen != gen || g.state != stateCompleting {
			return // superseded by a new rebalance, which answered the held syncs
		}
		if err != nil {
			co.s.logger.Info("recording a kafka group's assignment failed", "group", g.name, "error", err)
			for _, o := range g.members {
				if o.sync != nil {
					o.sync.resp.ErrorCode = codeForRecord(err)
					o.sync.finish()
					o.sync = nil
				}
			}
			co.prepareRebalance(g, time.Now())
			return
		}
		g.state = stateStable
		now := time.Now()
		for _, o := range g.members {
			if o.sync != nil {
				o.sync.resp.MemberAssignment = o.assignment
				o.sync.finish()
				o.sync, o.lastHeard = nil, now
			}
		}
	})
}

// member finds a group's member for SyncGroup, Heartbeat and OffsetCommit,
// with Kafka's checks in Kafka's order: the group, a static member fenced
// by a newer instance, the member, the generation. co.mu is held.
func (co *coordinator) member(group, id, inst string, gen int32) (*kgroup, *kmember, int16) {
	g := co.groups[group]
	if g == nil {
		return nil, nil, codeUnknownMemberID
	}
	if inst != "" {
		if holder, ok := g.static[inst]; ok && holder != id {
			return nil, nil, codeFencedInstanceID
		}
	}
	m, ok := g.members[id]
	if !ok {
		return nil, nil, codeUnknownMemberID
	}
	if gen != g.gen {
		return nil, nil, codeIllegalGeneration
	}
	return g, m, codeNone
}

// supportsAny reports whether some protocol of ps is supported by every
// member.
func (g *kgroup) supportsAny(ps []kmsg.JoinGroupRequestProtocol) bool {
	for _, p := range ps {
		all := true
		for _, m := range g.members {
			if !hasProtocol(m.protocols, p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol every member supports that most
// members list first among those (Kafka's vote); ties go to the leader's
// (or first member's) preference order.
func (g *kgroup) selectProtocol() string {
	ids := g.sortedIDs()
	var candidates []string
	for _, p := range g.members[ids[0]].protocols {
		all := true
		for _, m := range g.members {
			all = all && hasProtocol(m.protocols, p.Name)
		}
		if all {
			candidates = append(candidates, p.Name)
		}
	}
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func (g *kgroup) sortedIDs() []string {
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func hasProtocol(ps []kmsg.JoinGroupRequestProtocol, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

func protocolsEqual(a, b []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(a, b, func(x, y kmsg.JoinGroupRequestProtocol) bool {
		return x.Name == y.Name && bytes.Equal(x.Metadata, y.Metadata)
	})
}

// newMemberID is a fresh member id: the client id and random hex, as
// Kafka's look.
func newMemberID(clientID string) string {
	var b [12]byte
	rand.Read(b[:])
	if len(clientID) > 200 {
		clientID = clientID[:200]
	}
	return clientID + "-" + hex.EncodeToString(b[:])
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
