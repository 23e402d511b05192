package kafka

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/minibroker/minibroker/replication"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The Kafka group coordinator (the classic protocol) runs on the Raft
// leader; every other node answers NOT_COORDINATOR. It is a mutex-guarded
// state machine: request handlers and a ticker call into it, and it
// answers held requests (JoinGroup, SyncGroup) by finishing their slots.
//
// What is replicated (replication.KafkaGroupCmd, proposed after the leader
// member's SyncGroup, a static member's new id, or when the group empties)
// and what is not:
//
//	replicated (FSM):   protocol type and name, generation, leader,
//	                    members (ids, instance ids, client, timeouts,
//	                    metadata, assignment bytes), committed offsets
//	coordinator only:   the group's state (Empty, PreparingRebalance,
//	                    CompletingRebalance, Stable), heartbeat times,
//	                    held JoinGroup and SyncGroup requests, member ids
//	                    handed out with MEMBER_ID_REQUIRED
//
// The coordinator loads the FSM's Kafka groups when this node becomes the
// ready leader (every group Stable, or Empty, every member with a fresh
// session), and drops everything, failing held requests with
// NOT_COORDINATOR, when it stops being the ready leader of that term.

// Group states, as DescribeGroups and ListGroups name them.
const (
	stateEmpty       = "Empty"
	statePreparing   = "PreparingRebalance"
	stateCompleting  = "CompletingRebalance"
	stateStable      = "Stable"
	stateDead        = "Dead"
	groupTick        = 50 * time.Millisecond
	groupProposeTime = 10 * time.Second
	// maxOffsetMetadata is Kafka's offset.metadata.max.bytes.
	maxOffsetMetadata = 4096
)

type coordinator struct {
	s *Server
	// proposals counts the goroutines proposing a group's record; Close
	// waits for them after the ticker and the connections have stopped (no
	// new ones start then).
	proposals sync.WaitGroup

	mu     sync.Mutex // guards active, term, groups and everything they hold
	active bool       // this node is the ready leader of term and groups are loaded
	term   uint64
	groups map[string]*kgroup
}

// kgroup is one Kafka group as the coordinator runs it.
type kgroup struct {
	name         string
	protocolType string
	protocol     string // chosen at the last join; "" while Empty
	gen          int32
	leader       string
	state        string
	members      map[string]*kmember
	static       map[string]string    // instance id -> member id
	pending      map[string]time.Time // ids handed out with MEMBER_ID_REQUIRED -> expiry
	deadline     time.Time            // end of the join phase (PreparingRebalance)
	// recorded: the FSM holds members for this group, so emptying it must
	// be recorded too.
	recorded bool
	// syncing: the leader member's assignment is being recorded.
	syncing bool
}

type kmember struct {
	id, instanceID     string
	clientID, host     string
	sessionMs, rebalMs int32
	protocols          []kmsg.JoinGroupRequestProtocol
	metadata           []byte // for the chosen protocol
	assignment         []byte
	lastHeard          time.Time
	join               *joinWait
	sync               *syncWait
}

type joinWait struct {
	resp   *kmsg.JoinGroupResponse
	finish func()
}

type syncWait struct {
	resp   *kmsg.SyncGroupResponse
	finish func()
}

func newCoordinator(s *Server) *coordinator {
	return &coordinator{s: s, groups: map[string]*kgroup{}}
}

// run ticks the coordinator until the server closes: session and
// rebalance timeouts, and leadership changes.
func (co *coordinator) run() {
	t := time.NewTicker(groupTick)
	defer t.Stop()
	for {
		select {
		case <-co.s.ctx.Done():
			co.mu.Lock()
			co.deactivate()
			co.mu.Unlock()
			return
		case now := <-t.C:
			co.mu.Lock()
			if co.ensure() {
				co.tick(now)
			}
			co.mu.Unlock()
		}
	}
}

// ensure activates the coordinator when this node is the ready leader
// (loading the FSM's Kafka groups) and deactivates it when it is not, or
// when the term changed. It reports whether it is active. co.mu is held.
func (co *coordinator) ensure() bool {
	node := co.s.store.Node()
	if node == nil {
		return false // a Store that was never opened (tests)
	}
	ready, term := node.IsReady(), node.Term()
	if co.active && (!ready || term != co.term) {
		co.deactivate()
	}
	if ready && !co.active {
		co.active, co.term = true, term
		now := time.Now()
		for _, g := range co.s.store.FSM().Groups() {
			if g.IsKafka() {
				co.groups[g.Name] = loadKafkaGroup(g, now)
			}
		}
	}
	return co.active
}

// deactivate drops every group, answering held requests NOT_COORDINATOR.
// co.mu is held.
func (co *coordinator) deactivate() {
	for _, g := range co.groups {
		for _, m := range g.members {
			m.failHeld(codeNotCoordinator)
		}
	}
	co.groups = map[string]*kgroup{}
	co.active = false
}

func loadKafkaGroup(g replication.Group, now time.Time) *kgroup {
	kg := newKGroup(g.Name, g.ProtocolType)
	kg.gen, kg.protocol, kg.leader = g.Generation, g.Strategy, g.Leader
	for _, m := range g.Members {
		km := &kmember{id: m.ID, instanceID: m.InstanceID, clientID: m.ClientID, host: m.ClientHost,
			sessionMs: m.SessionTimeoutMs, rebalMs: m.RebalanceTimeoutMs, metadata: m.Metadata,
			assignment: m.AssignmentBytes, lastHeard: now,
			protocols: []kmsg.JoinGroupRequestProtocol{{Name: g.Strategy, Metadata: m.Metadata}}}
		kg.members[m.ID] = km
		if m.InstanceID != "" {
			kg.static[m.InstanceID] = m.ID
		}
	}
	if len(kg.members) > 0 {
		kg.state, kg.recorded = stateStable, true
	}
	return kg
}

func newKGroup(name, protocolType string) *kgroup {
	return &kgroup{name: name, protocolType: protocolType, state: stateEmpty,
		members: map[string]*kmember{}, static: map[string]string{}, pending: map[string]time.Time{}}
}

// failHeld answers the member's held requests with code.
func (m *kmember) failHeld(code int16) {
	if m.join != nil {
		m.join.resp.ErrorCode = code
		m.join.finish()
		m.join = nil
	}
	if m.sync != nil {
		m.sync.resp.ErrorCode = code
		m.sync.finish()
		m.sync = nil
	}
}

// tick expires sessions, handed-out member ids and join phases. co.mu is
// held.
func (co *coordinator) tick(now time.Time) {
	for _, g := range co.groups {
		for id, exp := range g.pending {
			if now.After(exp) {
				delete(g.pending, id)
			}
		}
		var expired []string
		for id, m := range g.members {
			if m.join == nil && m.sync == nil && now.Sub(m.lastHeard) > time.Duration(m.sessionMs)*time.Millisecond {
				expired = append(expired, id)
			}
		}
		for _, id := range expired {
			co.s.logger.Info("kafka group member session expired", "group", g.name, "member", id)
			co.removeMember(g, id, now)
		}
		if g.state == statePreparing && !now.Before(g.deadline) {
			co.completeJoin(g, now)
		}
	}
}

// removeMember drops a member (left, expired, fenced) and rebalances the
// group, or empties it. co.mu is held.
func (co *coordinator) removeMember(g *kgroup, id string, now time.Time) {
	m, ok := g.members[id]
	if !ok {
		return
	}
	m.failHeld(codeUnknownMemberID)
	delete(g.members, id)
	if m.instanceID != "" && g.static[m.instanceID] == id {
		delete(g.static, m.instanceID)
	}
	switch g.state {
	case statePreparing:
		co.maybeCompleteJoin(g, now)
	case stateStable, stateCompleting:
		co.prepareRebalance(g, now)
	}
}

// prepareRebalance starts a join phase (or empties a group without
// members). co.mu is held.
func (co *coordinator) prepareRebalance(g *kgroup, now time.Time) {
	if len(g.members) == 0 {
		co.empty(g)
		return
	}
	if g.state == stateCompleting {
		// The assignment of this generation will not come: members waiting
		// for it join again.
		for _, m := range g.members {
			if m.sync != nil {
				m.sync.resp.ErrorCode = codeRebalanceInProgress
				m.sync.finish()
				m.sync = nil
			}
		}
	}
	if g.state != statePreparing {
		g.state = statePreparing
		var d time.Duration
		for _, m := range g.members {
			d = max(d, time.Duration(m.rebalMs)*time.Millisecond)
		}
		g.deadline = now.Add(d)
	}
	co.maybeCompleteJoin(g, now)
}

// empty makes a group without members Empty: the generation moves on and,
// when the FSM holds members for it, the emptied group is recorded (so
// standalone commits, resets and deletes work). co.mu is held.
func (co *coordinator) empty(g *kgroup) {
	g.gen++
	g.state, g.protocol, g.leader = stateEmpty, "", ""
	if !g.recorded {
		return
	}
	g.recorded = false
	cmd := replication.KafkaGroupCmd{Group: g.name, Generation: g.gen, ProtocolType: g.protocolType}
	co.proposals.Add(1)
	go func() {
		defer co.proposals.Done()
		ctx, cancel := context.WithTimeout(co.s.ctx, groupProposeTime)
		defer cancel()
		if err := co.s.store.KafkaGroup(ctx, cmd); err != nil {
			co.s.logger.Info("recording an emptied kafka group failed", "group", cmd.Group, "error", err)
		}
	}()
}

// record proposes the group's current state (members and assignments) and
// calls done with the outcome, with co.mu held, if the coordinator is still
// active in the same term. co.mu is held by the caller of record, not
// during the proposal.
func (co *coordinator) record(g *kgroup, done func(error)) {
	cmd := replication.KafkaGroupCmd{Group: g.name, Generation: g.gen, ProtocolType: g.protocolType,
		Protocol: g.protocol, Leader: g.leader}
	for _, m := range g.members {
		gm := replication.GroupMember{ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.host,
			SessionTimeoutMs: m.sessionMs, RebalanceTimeoutMs: m.rebalMs,
			Metadata: m.metadata, AssignmentBytes: m.assignment}
		if g.protocolType == "consumer" {
			gm.Topics, gm.Assignment = decodeConsumer(m.metadata, m.assignment)
		}
		cmd.Members = append(cmd.Members, gm)
	}
	dropOverlaps(cmd.Members)
	term := co.term
	co.proposals.Add(1)
	go func() {
		defer co.proposals.Done()
		ctx, cancel := context.WithTimeout(co.s.ctx, groupProposeTime)
		defer cancel()
		err := co.s.store.KafkaGroup(ctx, cmd)
		co.mu.Lock()
		defer co.mu.Unlock()
		if !co.active || co.term != term || co.groups[g.name] != g {
			return // deactivated: held requests were answered NOT_COORDINATOR
		}
		if err == nil {
			g.recorded = len(cmd.Members) > 0
		}
		done(err)
	}()
}

// decodeConsumer decodes the consumer protocol's subscription and
// assignment (for the admin tools' view); what does not decode is left
// empty.
func decodeConsumer(metadata, assignment []byte) ([]string, []replication.TopicPartitions) {
	var topics []string
	var md kmsg.ConsumerMemberMetadata
	if md.ReadFrom(metadata) == nil {
		topics = md.Topics
	}
	var tps []replication.TopicPartitions
	var as kmsg.ConsumerMemberAssignment
	if len(assignment) > 0 && as.ReadFrom(assignment) == nil {
		for _, t := range as.Topics {
			tps = append(tps, replication.TopicPartitions{Topic: t.Topic, Partitions: t.Partitions})
		}
	}
	return topics, tps
}

// dropOverlaps clears the decoded assignments of every member when the
// leader member handed a partition to two members, or named a partition
// the FSM would refuse: the bytes are kept as sent, only the admin view
// is lost.
func dropOverlaps(ms []replication.GroupMember) {
	seen := map[string]map[int32]bool{}
	bad := false
	for _, m := range ms {
		for _, tp := range m.Assignment {
			if tp.Topic == "" {
				bad = true
			}
			if seen[tp.Topic] == nil {
				seen[tp.Topic] = map[int32]bool{}
			}
			for _, p := range tp.Partitions {
				if p < 0 || seen[tp.Topic][p] {
					bad = true
				}
				seen[tp.Topic][p] = true
			}
		}
	}
	if bad {
		for i := range ms {
			ms[i].Assignment = nil
		}
	}
}

// codeForRecord is the code a held request gets when recording the group
// failed.
func codeForRecord(err error) int16 {
	switch {
	case errors.Is(err, replication.ErrNotLeader), errors.Is(err, replication.ErrShutdown),
		errors.Is(err, replication.ErrOutcomeUnknown), errors.Is(err, replication.ErrTimeout),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return codeNotCoordinator
	case errors.Is(err, replication.ErrInconsistentGroupProtocol):
		return codeInconsistentGroupProtocol
	case errors.Is(err, replication.ErrIllegalGeneration):
		return codeIllegalGeneration
	}
	return codeUnknownServerError
}
