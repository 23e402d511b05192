package client

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/minibroker/minibroker/internal/wire"
)

// fakeCoord is a consumer-group coordinator for a fakeBroker, following
// the wire doc comments: a join completes (and a new generation starts)
// once every member has a join pending; heartbeats answer
// RebalanceInProgress while a rebalance waits for rejoins; commits are
// fenced by member, generation and assignment. Assignment is range, per
// topic. There are no timers: tests remove members (expire) and start
// rebalances (rebalance) themselves.
type fakeCoord struct {
	fb *fakeBroker

	mu     sync.Mutex // guards every field below
	groups map[string]*fakeGroup
	nextID int
	joins  []wire.JoinGroupRequest // every JoinGroup received, in order
	leaves []string                // member ids of every LeaveGroup received
	hbErrs []wire.Code             // every heartbeat answer sent
}

type fakeGroup struct {
	gen         int32
	members     map[string][]string // subscription by member id
	rebalancing bool
	pending     map[string]*fakeReq         // held joins, by member id
	assign      map[string][]TopicPartition // by member id, in gen
	committed   map[TopicPartition]int64
}

// newFakeCoord installs a coordinator as fb's hook (replacing any).
func newFakeCoord(fb *fakeBroker) *fakeCoord {
	fc := &fakeCoord{fb: fb, groups: make(map[string]*fakeGroup)}
	fb.setHook(fc.handle)
	return fc
}

func (fc *fakeCoord) group(name string) *fakeGroup {
	g := fc.groups[name]
	if g == nil {
		g = &fakeGroup{members: make(map[string][]string), pending: make(map[string]*fakeReq),
			assign: make(map[string][]TopicPartition), committed: make(map[TopicPartition]int64)}
		fc.groups[name] = g
	}
	return g
}

// changed wakes fb.waitFor callers after a change of the coordinator.
func (fc *fakeCoord) changed() {
	fc.fb.mu.Lock()
	fc.fb.notifyLocked()
	fc.fb.mu.Unlock()
}

// handle serves the group APIs; it is the broker's hook.
func (fc *fakeCoord) handle(r *fakeReq) bool {
	defer fc.changed()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	switch r.hdr.APIKey {
	case wire.JoinGroup:
		fc.join(r)
	case wire.Heartbeat:
		var req wire.HeartbeatRequest
		r.decode(&req)
		code := wire.CodeNone
		g := fc.groups[req.Group]
		switch {
		case g == nil:
			code = wire.CodeUnknownGroup
		case g.members[req.MemberID] == nil:
			code = wire.CodeUnknownMember
		case g.rebalancing:
			code = wire.CodeRebalanceInProgress
		case req.Generation != g.gen:
			code = wire.CodeIllegalGeneration
		}
		fc.hbErrs = append(fc.hbErrs, code)
		r.reply(&wire.HeartbeatResponse{ErrorCode: code})
	case wire.LeaveGroup:
		var req wire.LeaveGroupRequest
		r.decode(&req)
		fc.leaves = append(fc.leaves, req.MemberID)
		if g := fc.groups[req.Group]; g != nil && g.members[req.MemberID] != nil {
			fc.removeLocked(g, req.MemberID)
			r.reply(&wire.LeaveGroupResponse{})
			return true
		}
		r.replyCode(wire.CodeUnknownMember)
	case wire.CommitOffsets:
		fc.commit(r)
	case wire.FetchOffsets:
		var req wire.FetchOffsetsRequest
		r.decode(&req)
		g := fc.group(req.Group)
		resp := &wire.FetchOffsetsResponse{}
		for _, tps := range req.Partitions {
			for _, p := range tps.Partitions {
				off, ok := g.committed[TopicPartition{tps.Topic, p}]
				if !ok {
					off = wire.NoOffset
				}
				resp.Offsets = append(resp.Offsets, wire.PartitionOffset{Topic: tps.Topic, Partition: p, Offset: off})
			}
		}
		r.reply(resp)
	case wire.ListGroups:
		resp := &wire.ListGroupsResponse{}
		for _, name := range slices.Sorted(maps.Keys(fc.groups)) {
			g := fc.groups[name]
			resp.Groups = append(resp.Groups, wire.GroupSummary{Group: name, State: g.state(), Generation: g.gen, Members: int32(len(g.members))})
		}
		r.reply(resp)
	case wire.DescribeGroup:
		fc.describe(r)
	case wire.ResetOffsets:
		fc.reset(r)
	case wire.DeleteGroup:
		var req wire.DeleteGroupRequest
		r.decode(&req)
		g := fc.groups[req.Group]
		switch {
		case g == nil:
			r.replyCode(wire.CodeUnknownGroup)
		case len(g.members) > 0:
			r.replyCode(wire.CodeGroupNotEmpty)
		default:
			delete(fc.groups, req.Group)
			r.reply(&wire.DeleteGroupResponse{})
		}
	default:
		return false
	}
	return true
}

func (g *fakeGroup) state() string {
	switch {
	case len(g.members) == 0:
		return wire.GroupEmpty
	case g.rebalancing:
		return wire.GroupRebalancing
	}
	return wire.GroupStable
}

func (fc *fakeCoord) join(r *fakeReq) {
	var req wire.JoinGroupRequest
	r.decode(&req)
	fc.joins = append(fc.joins, req)
	g := fc.group(req.Group)
	id := req.MemberID
	switch {
	case id == "":
		fc.nextID++
		id = fmt.Sprintf("member-%d", fc.nextID)
	case g.members[id] == nil:
		r.replyCode(wire.CodeUnknownMember)
		return
	}
	g.members[id] = req.Topics
	g.rebalancing = true
	g.pending[id] = r
	fc.maybeCompleteLocked(g)
}

// maybeCompleteLocked ends a rebalance once every member has rejoined:
// a new generation, range assignment, and every held join answered.
func (fc *fakeCoord) maybeCompleteLocked(g *fakeGroup) {
	if !g.rebalancing || len(g.pending) < len(g.members) || len(g.members) == 0 {
		return
	}
	g.gen++
	g.rebalancing = false
	ids := slices.Sorted(maps.Keys(g.members))
	g.assign = make(map[string][]TopicPartition)
	topics := map[string]bool{}
	for _, id := range ids {
		for _, t := range g.members[id] {
			topics[t] = true
		}
	}
	for _, t := range slices.Sorted(maps.Keys(topics)) {
		var subs []string
		for _, id := range ids {
			if slices.Contains(g.members[id], t) {
				subs = append(subs, id)
			}
		}
		fc.fb.mu.Lock()
		n := len(fc.fb.topics[t])
		fc.fb.mu.Unlock()
		per, extra := n/len(subs), n%len(subs)
		p := 0
		for i, id := range subs {
			k := per
			if i < extra {
				k++
			}
			for range k {
				g.assign[id] = append(g.assign[id], TopicPartition{t, int32(p)})
				p++
			}
		}
	}
	for id, r := range g.pending {
		resp := &wire.JoinGroupResponse{MemberID: id, Generation: g.gen, Strategy: wire.StrategyRange}
		resp.Assignment = groupByTopic(g.assign[id])
		r.reply(resp)
	}
	g.pending = make(map[string]*fakeReq)
}

// removeLocked removes a member; the others must rejoin.
func (fc *fakeCoord) removeLocked(g *fakeGroup, id string) {
	delete(g.members, id)
	delete(g.assign, id)
	if r := g.pending[id]; r != nil {
		delete(g.pending, id)
		r.replyCode(wire.CodeUnknownMember)
	}
	g.rebalancing = len(g.members) > 0
	fc.maybeCompleteLocked(g)
}

func (fc *fakeCoord) commit(r *fakeReq) {
	var req wire.CommitOffsetsRequest
	r.decode(&req)
	g := fc.group(req.Group)
	outside := req.MemberID == "" && req.Generation == -1
	switch {
	case outside && len(g.members) > 0:
		r.replyCode(wire.CodeUnknownMember)
		return
	case !outside && g.members[req.MemberID] == nil:
		r.replyCode(wire.CodeUnknownMember)
		return
	case !outside && req.Generation != g.gen:
		r.replyCode(wire.CodeIllegalGeneration)
		return
	}
	resp := &wire.CommitOffsetsResponse{}
	for _, o := range req.Offsets {
		tp := TopicPartition{o.Topic, o.Partition}
		res := wire.PartitionResult{Topic: o.Topic, Partition: o.Partition}
		prev, had := g.committed[tp]
		switch {
		case !outside && !slices.Contains(g.assign[req.MemberID], tp):
			res.ErrorCode = wire.CodeNotAssigned
		case had && o.Offset < prev:
			res.ErrorCode = wire.CodeOffsetRegression
		default:
			g.committed[tp] = o.Offset
		}
		resp.Results = append(resp.Results, res)
	}
	r.reply(resp)
}

func (fc *fakeCoord) describe(r *fakeReq) {
	var req wire.DescribeGroupRequest
	r.decode(&req)
	g := fc.groups[req.Group]
	if g == nil {
		r.replyCode(wire.CodeUnknownGroup)
		return
	}
	resp := &wire.DescribeGroupResponse{Group: req.Group, State: g.state(), Generation: g.gen, Strategy: wire.StrategyRange}
	for _, id := range slices.Sorted(maps.Keys(g.members)) {
		resp.Members = append(resp.Members, wire.GroupMemberInfo{MemberID: id, ClientID: "c", Topics: g.members[id],
			Assignment: groupByTopic(g.assign[id])})
	}
	for _, tp := range slices.SortedFunc(maps.Keys(g.committed), func(a, b TopicPartition) int { return int(a.Partition - b.Partition) }) {
		hwm := int64(len(fc.fb.records(tp.Topic, int(tp.Partition))))
		resp.Offsets = append(resp.Offsets, wire.GroupOffsetInfo{Topic: tp.Topic, Partition: tp.Partition,
			Committed: g.committed[tp], HighWatermark: hwm, Lag: hwm - g.committed[tp]})
	}
	r.reply(resp)
}

func (fc *fakeCoord) reset(r *fakeReq) {
	var req wire.ResetOffsetsRequest
	r.decode(&req)
	g := fc.group(req.Group)
	if len(g.members) > 0 {
		r.replyCode(wire.CodeGroupNotEmpty)
		return
	}
	parts := req.Partitions
	if len(parts) == 0 {
		fc.fb.mu.Lock()
		for i := range fc.fb.topics[req.Topic] {
			parts = append(parts, int32(i))
		}
		fc.fb.mu.Unlock()
	}
	resp := &wire.ResetOffsetsResponse{}
	for _, p := range parts {
		off := req.Offset
		switch req.To {
		case wire.ResetEarliest:
			off = 0
		case wire.ResetLatest:
			off = int64(len(fc.fb.records(req.Topic, int(p))))
		}
		g.committed[TopicPartition{req.Topic, p}] = off
		resp.Offsets = append(resp.Offsets, wire.PartitionOffset{Topic: req.Topic, Partition: p, Offset: off})
	}
	r.reply(resp)
}

// Test controls and observations.

// rebalance makes group's members rejoin.
func (fc *fakeCoord) rebalance(group string) {
	defer fc.changed()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.group(group).rebalancing = true
}

// expire removes a member, as a session timeout would.
func (fc *fakeCoord) expire(group, member string) {
	defer fc.changed()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.removeLocked(fc.group(group), member)
}

// bumpGeneration starts a new generation without telling the members,
// as if they had missed a whole rebalance.
func (fc *fakeCoord) bumpGeneration(group string) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.group(group).gen++
}

func (fc *fakeCoord) setCommitted(group string, tp TopicPartition, off int64) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.group(group).committed[tp] = off
}

// committed returns group's committed offset of tp, or -1.
func (fc *fakeCoord) committed(group string, tp TopicPartition) int64 {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	off, ok := fc.group(group).committed[tp]
	if !ok {
		return -1
	}
	return off
}

func (fc *fakeCoord) joinsSeen() []wire.JoinGroupRequest {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return slices.Clone(fc.joins)
}

func (fc *fakeCoord) leavesSeen() []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return slices.Clone(fc.leaves)
}

func (fc *fakeCoord) members(group string) []string {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return slices.Sorted(maps.Keys(fc.group(group).members))
}

// waitCommitted waits until group's committed offset of tp is off.
func (fc *fakeCoord) waitCommitted(group string, tp TopicPartition, off int64) {
	fc.fb.t.Helper()
	fc.fb.waitFor(fmt.Sprintf("committed %v = %d", tp, off), func() bool { return fc.committed(group, tp) == off })
}
