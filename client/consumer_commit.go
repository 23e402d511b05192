package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// Commit commits offsets for the group, synchronously: with no records,
// the positions of everything Poll has returned; with records, for each
// of their partitions the highest offset among them plus one (the next
// record to process). An offset at or below what the Consumer knows is
// committed for its partition is skipped, not sent (so committing older
// records after newer ones is a no-op); with nothing left to send, Commit
// returns nil without a network round trip. Commits go one at a time:
// Commit first waits for an auto-commit in flight.
//
// It blocks until the coordinator answers or ctx ends, following leader
// changes and retrying retriable failures. Commit may be called from
// OnRevoked (the generation is still valid there). Errors: one matching
// ErrCommitFenced and its cause (ErrIllegalGeneration, ErrUnknownMember,
// ErrNotAssigned) when the partitions are no longer this member's (the
// next Poll rejoins), ErrRebalanceInProgress (the coordinator takes no
// commits now; the next Poll rejoins), ErrOffsetRegression (another
// commit moved the offset further), ErrOffsetOutOfRange (an offset past
// the partition's end), ErrClosed, ctx's error, or a connection error
// (also matching ErrOutcomeUnknown if an attempt may have been applied;
// committing again is safe); per-partition
// failures are joined (errors.Join), the other partitions are committed.
// Safe for concurrent use.
func (c *Consumer) Commit(ctx context.Context, recs ...Record) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	var offs []wire.OffsetCommit
	if len(recs) == 0 {
		if c.setup {
			offs = c.positionsLocked()
		}
	} else {
		offs = c.offsetsOfLocked(recs)
	}
	c.mu.Unlock()
	return c.commitSync(ctx, offs)
}

// positionsLocked returns the positions of the assigned partitions that
// are ahead of their known committed offsets. Called with mu held.
func (c *Consumer) positionsLocked() []wire.OffsetCommit {
	var offs []wire.OffsetCommit
	for _, ps := range c.parts {
		if ps.posKnown && ps.pos > ps.committed {
			offs = append(offs, wire.OffsetCommit{Topic: ps.tp.Topic, Partition: ps.tp.Partition, Offset: ps.pos})
		}
	}
	return offs
}

// offsetsOfLocked returns, per partition of recs, the highest offset plus
// one, in the order the partitions first appear, leaving out those not
// ahead of their known committed offsets. Called with mu held.
func (c *Consumer) offsetsOfLocked(recs []Record) []wire.OffsetCommit {
	idx := make(map[TopicPartition]int)
	var offs []wire.OffsetCommit
	for i := range recs {
		tp := TopicPartition{Topic: recs[i].Topic, Partition: recs[i].Partition}
		next := recs[i].Offset + 1
		if j, ok := idx[tp]; ok {
			offs[j].Offset = max(offs[j].Offset, next)
			continue
		}
		idx[tp] = len(offs)
		offs = append(offs, wire.OffsetCommit{Topic: tp.Topic, Partition: tp.Partition, Offset: next})
	}
	return c.filterLocked(offs)
}

// filterLocked drops the offsets at or below their partition's known
// committed offset. Called with mu held.
func (c *Consumer) filterLocked(offs []wire.OffsetCommit) []wire.OffsetCommit {
	out := offs[:0]
	for _, o := range offs {
		if ps := c.byTP[TopicPartition{Topic: o.Topic, Partition: o.Partition}]; ps != nil && o.Offset <= ps.committed {
			continue
		}
		out = append(out, o)
	}
	return out
}

// commitSync waits for the commit in flight, if any (also when offs is
// empty), then commits offs (those still ahead of what is known
// committed) with the current member id and generation.
func (c *Consumer) commitSync(ctx context.Context, offs []wire.OffsetCommit) error {
	if err := c.acquireCommit(ctx); err != nil {
		return err
	}
	defer c.releaseCommit()
	return c.commitHeld(ctx, offs)
}

// acquireCommit takes commitSem, waiting for the commit in flight.
func (c *Consumer) acquireCommit(ctx context.Context) error {
	select {
	case c.commitSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commitHeld is commitSync for a caller that holds commitSem.
func (c *Consumer) commitHeld(ctx context.Context, offs []wire.OffsetCommit) error {
	c.mu.Lock()
	offs = c.filterLocked(offs)
	member, gen, ph := c.memberID, c.generation, c.phase
	c.mu.Unlock()
	if len(offs) == 0 {
		return nil
	}
	if member == "" || ph == phaseLost {
		return fmt.Errorf("minibroker: commit offsets of group %q: %w: not a member of the group (%w)",
			c.cfg.Group, ErrCommitFenced, ErrUnknownMember)
	}
	return c.sendCommit(ctx, member, gen, offs)
}

// autoCommit is an auto-commit: the positions of what Poll had returned
// when a Poll began, and the membership they were taken in.
type autoCommit struct {
	member string
	gen    int32
	offs   []wire.OffsetCommit
}

// maybeAutoCommit sends, in the background, the positions of what Poll
// has returned, if auto-commit is on and AutoCommitInterval has passed.
// If a commit is in flight, these positions replace any others waiting
// and go when it is done. Called by Poll (the pollMu holder); never
// blocks. It returns how long until a commit skipped for
// AutoCommitInterval becomes due, or 0.
func (c *Consumer) maybeAutoCommit() time.Duration {
	if c.cfg.ManualCommit {
		return 0
	}
	if iv := c.cfg.AutoCommitInterval; iv > 0 {
		if since := time.Since(c.lastAutoCommit); since < iv {
			return iv - since
		}
	}
	c.mu.Lock()
	if !c.phase.member() || !c.setup {
		c.mu.Unlock()
		return 0
	}
	ac := &autoCommit{member: c.memberID, gen: c.generation, offs: c.positionsLocked()}
	if len(ac.offs) == 0 {
		c.mu.Unlock()
		return 0
	}
	c.lastAutoCommit = time.Now()
	select {
	case c.commitSem <- struct{}{}:
		c.autoPending = nil // ac supersedes it
	default:
		c.autoPending = ac // the holder of commitSem sends it (releaseCommit)
		ac = nil
	}
	c.mu.Unlock()
	if ac != nil {
		c.goAutoCommit(ac)
	}
	return 0
}

// goAutoCommit sends ac, and then any auto-commit that was asked for
// meanwhile, in a goroutine; the caller holds commitSem, which passes to
// the goroutine. It runs under the Client's lifetime rather than the
// Consumer's: Close waits for it (commitSem) instead of cutting it short.
func (c *Consumer) goAutoCommit(ac *autoCommit) {
	ok := c.cl.goTracked(func() {
		for ac != nil {
			c.mu.Lock()
			offs := c.filterLocked(ac.offs)
			c.mu.Unlock()
			if len(offs) > 0 {
				ctx, cancel := context.WithTimeout(c.cl.ctx, c.cl.cfg.RequestTimeout)
				if err := c.sendCommit(ctx, ac.member, ac.gen, offs); err != nil {
					c.log.Info("minibroker: auto-commit failed", "err", err)
				}
				cancel()
			}
			c.mu.Lock()
			ac, c.autoPending = c.autoPending, nil
			if ac == nil {
				<-c.commitSem
			}
			c.mu.Unlock()
		}
	})
	if !ok {
		<-c.commitSem
	}
}

// releaseCommit releases commitSem after a synchronous commit, or hands
// it to a goroutine that sends the auto-commit waiting for it.
func (c *Consumer) releaseCommit() {
	c.mu.Lock()
	ac := c.autoPending
	c.autoPending = nil
	if ac == nil {
		<-c.commitSem
	}
	c.mu.Unlock()
	if ac != nil {
		c.goAutoCommit(ac)
	}
}

// sendCommit sends one CommitOffsets request and records what it
// committed. Called with commitSem held.
func (c *Consumer) sendCommit(ctx context.Context, member string, gen int32, offs []wire.OffsetCommit) error {
	req := &wire.CommitOffsetsRequest{Group: c.cfg.Group, MemberID: member, Generation: gen, Offsets: offs}
	resp := new(wire.CommitOffsetsResponse)
	err := c.cl.do(ctx, leaderWrite, wire.CommitOffsets, req, resp, c.cl.cfg.RequestTimeout)
	if err != nil {
		if fenced(err) {
			c.fenced(member, gen, err)
			return fmt.Errorf("minibroker: commit offsets of group %q: %w: %w", c.cfg.Group, ErrCommitFenced, err)
		}
		if errors.Is(err, ErrRebalanceInProgress) {
			c.fenced(member, gen, err)
		}
		return fmt.Errorf("minibroker: commit offsets of group %q: %w", c.cfg.Group, err)
	}
	sent := make(map[TopicPartition]int64, len(offs))
	for _, o := range offs {
		sent[TopicPartition{Topic: o.Topic, Partition: o.Partition}] = o.Offset
	}
	var errs []error
	c.mu.Lock()
	for i := range resp.Results {
		r := &resp.Results[i]
		tp := TopicPartition{Topic: r.Topic, Partition: r.Partition}
		off, ok := sent[tp]
		if !ok {
			continue
		}
		delete(sent, tp)
		if perr := r.Err(); perr != nil {
			if fenced(perr) {
				perr = fmt.Errorf("%w: %w", ErrCommitFenced, perr)
			}
			errs = append(errs, fmt.Errorf("minibroker: commit %v at %d for group %q: %w", tp, off, c.cfg.Group, perr))
			continue
		}
		if ps := c.byTP[tp]; ps != nil && c.generation == gen {
			ps.committed = max(ps.committed, off)
		}
	}
	c.mu.Unlock()
	if len(errs) > 0 {
		for _, e := range errs {
			if errors.Is(e, ErrNotAssigned) {
				c.fenced(member, gen, e)
				break
			}
		}
	}
	return errors.Join(errs...)
}

// fenced reports whether err says the commit's partitions are no longer
// this member's.
func fenced(err error) bool {
	return errors.Is(err, ErrIllegalGeneration) || errors.Is(err, ErrUnknownMember) || errors.Is(err, ErrNotAssigned)
}

// fenced acts on a commit refused because of the membership (member,
// gen), unless that has changed meanwhile: UnknownMember and
// IllegalGeneration mean the partitions are lost (join afresh), the
// others (NotAssigned, RebalanceInProgress) that the next Poll rejoins
// with the same member id.
func (c *Consumer) fenced(member string, gen int32, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stillMemberLocked(member, gen) {
		return
	}
	if errors.Is(err, ErrUnknownMember) || errors.Is(err, ErrIllegalGeneration) {
		c.loseLocked()
		return
	}
	c.phase = phaseRebalance
	poke(c.wake)
}

// Committed returns the group's committed offsets of tps (the next offset
// to process), -1 for a partition without one. With no tps it returns
// those of the assigned partitions, or, without an assignment, every
// partition the group has committed. It asks the
// cluster's leader, which confirms its leadership first, so the answer
// is never stale. Blocks until answered or ctx ends. Errors: ErrClosed,
// ctx's error, or the last retriable error. Safe for concurrent use.
func (c *Consumer) Committed(ctx context.Context, tps ...TopicPartition) (map[TopicPartition]int64, error) {
	c.mu.Lock()
	closed := c.closed
	if len(tps) == 0 {
		tps = c.assignmentLocked()
	}
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	m, err := c.fetchCommitted(ctx, tps)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	for tp, off := range m {
		if ps := c.byTP[tp]; ps != nil {
			ps.committed = max(ps.committed, off)
		}
	}
	c.mu.Unlock()
	return m, nil
}

// fetchCommitted reads the group's committed offsets of tps (all of the
// group's if tps is empty); an unknown group has none.
func (c *Consumer) fetchCommitted(ctx context.Context, tps []TopicPartition) (map[TopicPartition]int64, error) {
	req := &wire.FetchOffsetsRequest{Group: c.cfg.Group, Partitions: groupByTopic(tps)}
	resp := new(wire.FetchOffsetsResponse)
	out := make(map[TopicPartition]int64, len(tps))
	for _, tp := range tps {
		out[tp] = wire.NoOffset
	}
	err := c.cl.do(ctx, leaderRead, wire.FetchOffsets, req, resp, c.cl.cfg.RequestTimeout)
	if errors.Is(err, ErrUnknownGroup) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("minibroker: fetch committed offsets of group %q: %w", c.cfg.Group, err)
	}
	for _, o := range resp.Offsets {
		tp := TopicPartition{Topic: o.Topic, Partition: o.Partition}
		if _, asked := out[tp]; asked || len(tps) == 0 {
			out[tp] = o.Offset
		}
	}
	return out, nil
}

// flattenTPs turns partitions grouped by topic (an assignment on the
// wire) into sorted TopicPartitions; groupByTopic is its reverse.
func flattenTPs(in []wire.TopicPartitions) []TopicPartition {
	var tps []TopicPartition
	for _, a := range in {
		for _, p := range a.Partitions {
			tps = append(tps, TopicPartition{Topic: a.Topic, Partition: p})
		}
	}
	sortTPs(tps)
	return tps
}

// groupByTopic turns partitions into the wire's per-topic sets, in order
// of first appearance.
func groupByTopic(tps []TopicPartition) []wire.TopicPartitions {
	var out []wire.TopicPartitions
	idx := make(map[string]int)
	for _, tp := range tps {
		i, ok := idx[tp.Topic]
		if !ok {
			i = len(out)
			idx[tp.Topic] = i
			out = append(out, wire.TopicPartitions{Topic: tp.Topic})
		}
		out[i].Partitions = append(out[i].Partitions, tp.Partition)
	}
	return out
}
