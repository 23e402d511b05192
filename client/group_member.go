package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// clientID is sent in JoinGroup; DescribeGroup shows it.
const clientID = "minibroker-go"

// ensureMember brings the Consumer to phaseStable with its assignment set
// up: it gives up the old assignment if a rebalance is due or the
// membership was lost, joins, reads the committed offsets and starts the
// fetchers. It returns at once when there is nothing to do. Called by the
// pollMu holder (Poll); blocks on the network and runs the callbacks.
// After an error (ctx ended, ...) the next call resumes where it stopped.
func (c *Consumer) ensureMember(ctx context.Context) error {
	c.mu.Lock()
	ph, setup := c.phase, c.setup
	c.mu.Unlock()
	if ph == phaseStable && setup {
		return nil
	}
	// Network calls and callbacks below end with Poll's ctx or Close.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()

	if ph != phaseStable {
		if ph == phaseRebalance || ph == phaseLost {
			if err := c.giveUp(ctx, ph); err != nil {
				return err
			}
		}
		if err := c.join(ctx); err != nil {
			return err
		}
	}
	return c.setupAssignment(ctx)
}

// giveUp ends the old assignment before a join: it stops the fetchers,
// drops what they buffered, and, if still a member, commits the positions
// (auto-commit; in any case it waits for a commit in flight) and calls
// OnRevoked; if the membership was lost, it calls OnLost. Then it moves
// to phaseJoining (keeping the member id if still a member). If ctx ends
// before the callbacks, it returns ctx's error and the next Poll starts
// over (the commit is tried again).
func (c *Consumer) giveUp(ctx context.Context, ph phase) error {
	c.stopFetchers()
	c.mu.Lock()
	var tps []TopicPartition // what OnAssigned was told: none if setup did not finish
	if c.setup {
		tps = c.assignmentLocked()
	}
	var offs []wire.OffsetCommit
	if ph == phaseRebalance && !c.cfg.ManualCommit && c.setup {
		offs = c.positionsLocked()
		c.autoPending = nil // offs supersede it
	}
	c.mu.Unlock()

	if err := c.commitSync(ctx, offs); err != nil {
		if ctx.Err() != nil {
			return err
		}
		c.log.Warn("minibroker: commit before rejoining failed; its records will be read again", "err", err)
	}
	c.mu.Lock()
	ph = c.phase // a fenced commit or a heartbeat may have found the membership lost
	stale := c.lostMember
	c.lostMember = ""
	c.mu.Unlock()
	if stale != "" {
		// A member fenced by generation may still be counted by the
		// coordinator, which would wait for it to rejoin: leave first.
		c.leave(ctx, stale)
	}
	if len(tps) > 0 {
		if ph == phaseLost {
			if c.cfg.OnLost != nil {
				c.cfg.OnLost(ctx, tps)
			}
		} else if c.cfg.OnRevoked != nil {
			c.cfg.OnRevoked(ctx, tps)
		}
	}
	c.mu.Lock()
	if c.phase == phaseLost {
		c.memberID = ""
	}
	c.phase = phaseJoining
	c.parts, c.byTP, c.setup = nil, nil, false
	c.mu.Unlock()
	return nil
}

// join sends JoinGroup until it succeeds, ctx ends or the coordinator
// refuses for good. A join with a member id the coordinator no longer
// knows is repeated with an empty one; retriable failures (NotLeader,
// lost connections, a rebalance in progress) are retried with backoff.
// On success the Consumer is in phaseStable with its new assignment (not
// yet set up) and its heartbeat goroutine runs.
func (c *Consumer) join(ctx context.Context) error {
	topics := c.cfg.Topics
	for attempt := 1; ; attempt++ {
		c.mu.Lock()
		c.phase = phaseJoining
		member := c.memberID
		c.mu.Unlock()
		req := &wire.JoinGroupRequest{
			Group:              c.cfg.Group,
			MemberID:           member,
			ClientID:           clientID,
			Topics:             topics,
			Strategy:           c.cfg.Strategy,
			SessionTimeoutMs:   int32(c.cfg.SessionTimeout / time.Millisecond),
			RebalanceTimeoutMs: int32(c.cfg.MaxPollInterval / time.Millisecond),
		}
		resp := new(wire.JoinGroupResponse)
		// The coordinator holds a rejoin until the rebalance completes,
		// which may take up to the rebalance timeout.
		err := c.cl.do(ctx, leaderWrite, wire.JoinGroup, req, resp, c.cfg.MaxPollInterval+c.cl.cfg.RequestTimeout)
		if err == nil {
			c.joined(resp)
			return nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return err
		}
		switch {
		case errors.Is(err, ErrMemberIDRequired) && resp.MemberID != "":
			// The first step of a fresh join: join again with this id.
			c.mu.Lock()
			c.memberID = resp.MemberID
			c.mu.Unlock()
			continue
		case errors.Is(err, ErrUnknownMember) || errors.Is(err, ErrIllegalGeneration):
			c.log.Info("minibroker: member no longer known to the group; joining afresh", "member", member, "err", err)
			c.mu.Lock()
			c.memberID = ""
			c.mu.Unlock()
			if attempt == 1 {
				continue
			}
		case errors.Is(err, ErrRebalanceInProgress) || IsRetriable(err):
		default:
			return fmt.Errorf("minibroker: join group %q: %w", c.cfg.Group, err)
		}
		d := backoff(requestBackoff, requestBackoffMax, attempt)
		c.log.Debug("minibroker: join group failed; retrying", "attempt", attempt, "backoff", d, "err", err)
		if err := sleepCtx(ctx, d); err != nil {
			return err
		}
	}
}

// joined records a successful join and starts the heartbeat goroutine if
// it does not run yet.
func (c *Consumer) joined(resp *wire.JoinGroupResponse) {
	tps := flattenTPs(resp.Assignment)
	parts := make([]*partState, 0, len(tps))
	byTP := make(map[TopicPartition]*partState, len(tps))
	for _, tp := range tps {
		if byTP[tp] == nil {
			ps := newPartState(tp)
			parts = append(parts, ps)
			byTP[tp] = ps
		}
	}
	c.mu.Lock()
	c.memberID, c.generation = resp.MemberID, resp.Generation
	c.phase = phaseStable
	c.parts, c.byTP, c.setup = parts, byTP, false
	c.autoPending = nil // of the old generation: the coordinator would refuse it
	startHB := !c.hbStarted
	c.hbStarted = true
	c.mu.Unlock()
	c.log.Info("minibroker: joined group", "member", resp.MemberID, "generation", resp.Generation,
		"strategy", resp.Strategy, "assignment", tps)
	if startHB {
		c.hbWG.Add(1)
		if !c.cl.goTracked(func() {
			defer c.hbWG.Done()
			c.heartbeatLoop()
		}) {
			c.hbWG.Done()
		}
	}
}

// setupAssignment starts the assignment of a new generation: positions
// from the committed offsets (or AutoOffsetReset where there are none),
// then OnAssigned, then the fetchers. On error (ctx ended, FetchOffsets
// failed) the next Poll tries again.
func (c *Consumer) setupAssignment(ctx context.Context) error {
	c.mu.Lock()
	tps := c.assignmentLocked()
	c.mu.Unlock()
	var committed map[TopicPartition]int64
	for attempt := 1; len(tps) > 0; attempt++ {
		var err error
		if committed, err = c.fetchCommitted(ctx, tps); err == nil {
			break
		}
		if ctx.Err() != nil || !IsRetriable(err) {
			return err
		}
		c.mu.Lock()
		ph := c.phase
		c.mu.Unlock()
		if ph != phaseStable {
			return nil // a rejoin is due: Poll goes on with it
		}
		d := backoff(requestBackoff, requestBackoffMax, attempt)
		c.log.Debug("minibroker: reading committed offsets failed; retrying", "attempt", attempt, "backoff", d, "err", err)
		if err := sleepCtx(ctx, d); err != nil {
			return err
		}
	}
	reset := StartEarliest
	if c.cfg.AutoOffsetReset == ResetLatest {
		reset = StartLatest
	}
	c.mu.Lock()
	for _, ps := range c.parts {
		off := committed[ps.tp]
		ps.committed = off
		ps.epoch++
		clear(ps.bufs)
		ps.bufs = ps.bufs[:0]
		if off >= 0 {
			ps.fetchPos, ps.pos, ps.posKnown = off, off, true
		} else {
			ps.fetchPos, ps.pos, ps.posKnown = reset, reset, false
		}
	}
	c.mu.Unlock()
	if c.cfg.OnAssigned != nil {
		c.cfg.OnAssigned(ctx, tps)
	}
	c.mu.Lock()
	c.setup = true
	c.mu.Unlock()
	c.startFetchers()
	return nil
}

// heartbeatLoop sends a heartbeat every HeartbeatInterval while the
// Consumer is a member, and turns the answers into a phase for the next
// Poll to act on (see onHeartbeat). It also enforces MaxPollInterval:
// when no Poll has run for that long, it leaves the group. It returns
// when the Consumer is closed.
func (c *Consumer) heartbeatLoop() {
	t := time.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		member, gen, ph := c.memberID, c.generation, c.phase
		overdue := ph.member() && !c.inPoll && time.Since(c.lastPoll) > c.cfg.MaxPollInterval
		if overdue {
			c.phase, c.memberID = phaseLost, ""
		}
		c.mu.Unlock()
		if overdue {
			c.log.Warn("minibroker: Poll not called within MaxPollInterval; leaving the group (the next Poll rejoins)",
				"member", member, "max_poll_interval", c.cfg.MaxPollInterval)
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.SessionTimeout)
			c.leave(ctx, member)
			cancel()
			continue
		}
		if !ph.member() {
			continue
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.SessionTimeout)
		req := &wire.HeartbeatRequest{Group: c.cfg.Group, MemberID: member, Generation: gen}
		// ctx bounds the heartbeat with its retries; the per-attempt
		// timeout stays the Client's, as an expired one closes the
		// connection (shared with fetches and commits).
		err := c.cl.do(ctx, leaderRead, wire.Heartbeat, req, new(wire.HeartbeatResponse), c.cl.cfg.RequestTimeout)
		cancel()
		c.onHeartbeat(member, gen, err)
	}
}

// loseLocked records that the membership is lost: the next Poll calls
// OnLost, leaves with the old member id (harmless if the coordinator no
// longer knows it) and joins afresh. Called with mu held.
func (c *Consumer) loseLocked() {
	c.lostMember = c.memberID
	c.phase, c.memberID = phaseLost, ""
	poke(c.wake)
}

// stillMemberLocked reports whether the Consumer is still the member
// (member, gen) that sent a request, so that the request's answer may act
// on the membership. c.mu is held.
func (c *Consumer) stillMemberLocked(member string, gen int32) bool {
	return c.memberID == member && c.generation == gen && c.phase.member()
}

// onHeartbeat acts on a heartbeat's answer, unless the membership it was
// sent for has changed meanwhile: RebalanceInProgress makes the next Poll
// rejoin with the same member id; UnknownMember, IllegalGeneration and
// UnknownGroup mean the partitions are lost (the next Poll calls OnLost
// and joins afresh). Other failures are only logged: the next heartbeat
// may get through before the session times out.
func (c *Consumer) onHeartbeat(member string, gen int32, err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stillMemberLocked(member, gen) {
		return
	}
	switch {
	case errors.Is(err, ErrRebalanceInProgress):
		if c.phase == phaseStable {
			c.log.Info("minibroker: group rebalancing; the next Poll rejoins", "member", member, "generation", gen)
			c.phase = phaseRebalance
			poke(c.wake)
		}
	case errors.Is(err, ErrUnknownMember) || errors.Is(err, ErrIllegalGeneration) || errors.Is(err, ErrUnknownGroup):
		c.log.Warn("minibroker: removed from the group; partitions lost, the next Poll joins afresh",
			"member", member, "generation", gen, "err", err)
		c.loseLocked()
	default:
		if c.ctx.Err() == nil {
			c.log.Info("minibroker: heartbeat failed", "member", member, "err", err)
		}
	}
}
