package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// Consumer is a member of a consumer group: the group's coordinator (on
// the cluster's leader) shares the partitions of the subscribed topics
// among the members, and the members commit their positions to it, so
// that a partition's next owner resumes where the last one stopped.
//
// Poll does the work: the first Poll joins the group, and every Poll
// returns the records that arrived in the Consumer's partitions, first
// rejoining the group if a rebalance is due (calling OnRevoked, or OnLost,
// and then OnAssigned). Between Polls, background goroutines keep the
// membership alive (a heartbeat every HeartbeatInterval) and prefetch
// records: one long-polling fetch per assigned partition runs ahead of
// Poll, into a buffer of at most two fetch responses per partition, so
// Poll usually returns without a network round trip.
//
// # Delivery
//
// A committed offset is the next offset to process: the group's next
// owner of the partition starts there. When records are committed
// relative to processing them decides the delivery guarantee:
//
//	// At-least-once (default, auto-commit): a Poll commits what the
//	// previous Polls returned, at most once per AutoCommitInterval (1s);
//	// a crash reprocesses what was returned since the last commit.
//	for {
//		recs, err := c.Poll(ctx)
//		...
//		for _, r := range recs { process(r) }
//	}
//
//	// At-least-once, explicit (ManualCommit: true): process, then commit.
//	recs, err := c.Poll(ctx)
//	for _, r := range recs { process(r) }
//	err = c.Commit(ctx) // the positions of everything Poll returned
//
//	// At-most-once (ManualCommit: true): commit, then process; a crash
//	// while processing loses the rest of the batch.
//	recs, err := c.Poll(ctx)
//	if err := c.Commit(ctx, recs...); err != nil { ... do not process ... }
//	for _, r := range recs { process(r) }
//
// Rebalances are eager: every member gives up all its partitions and the
// coordinator assigns them anew. Positions are then re-read from the
// committed offsets, also for partitions a member keeps, since another
// member may have consumed them meanwhile.
//
// # Concurrency
//
// The application's consumer loop owns the Consumer: Poll, Commit and the
// Seek methods are meant to be called from it, and the callbacks run
// inside Poll on its goroutine (they may call Commit, Seek and the
// accessors, but not Poll or Close). All methods are nevertheless safe
// for concurrent use: concurrent Polls are serialised, and Close ends a
// Poll in progress. Close a Consumer when done.
type Consumer struct {
	cl  *Client
	cfg ConsumerConfig // defaults applied; immutable
	log *slog.Logger

	ctx    context.Context    // derived from the Client's; cancelled by Close: ends Poll, heartbeats, fetchers
	cancel context.CancelFunc // cancels ctx

	// pollMu serialises Poll and Close. Its holder owns the fields
	// below it (no other lock needed to touch them).
	pollMu         sync.Mutex
	fetchCancel    context.CancelFunc // stops the fetch goroutines; nil while none run
	lastAutoCommit time.Time          // when the last auto-commit was sent
	next           int                // index into parts where the next Poll starts taking records (fairness)

	fetchWG sync.WaitGroup // the fetch goroutines of the current assignment
	hbWG    sync.WaitGroup // the heartbeat goroutine

	// commitSem (capacity 1) is held while a CommitOffsets request is in
	// flight: commits go one at a time, so they land in order and never
	// race each other into an offset regression.
	commitSem chan struct{}
	// wake (capacity 1) is poked when records are buffered or a rejoin
	// becomes due; a Poll that found nothing waits on it.
	wake chan struct{}

	mu          sync.Mutex // guards the fields below and the fields of every partState in parts; never held across a network call or callback
	closed      bool       // set by Close
	phase       phase
	memberID    string      // "" when not a member (phaseNone, phaseLost, and a fresh join)
	lostMember  string      // in phaseLost: the member id to leave before joining afresh, in case the coordinator still counts it
	autoPending *autoCommit // an auto-commit waiting for the commit in flight; sent by the holder of commitSem when it is done
	generation  int32
	parts       []*partState                  // the assignment, sorted by topic and partition
	byTP        map[TopicPartition]*partState // the same, by partition
	setup       bool                          // parts' positions are set and their fetchers started
	inPoll      bool                          // a Poll is running
	lastPoll    time.Time                     // when Poll last returned (or the Consumer was made)
	hbStarted   bool                          // the heartbeat goroutine runs
	closeOnce   sync.Once                     // runs Close's body once
	closeErr    error                         // Close's result; final once closeOnce has run
}

// phase is where a Consumer is in its group membership.
type phase uint8

const (
	// phaseNone: not a member (never joined); the next Poll joins with an
	// empty member id.
	phaseNone phase = iota
	// phaseStable: a member of generation; parts is its assignment.
	phaseStable
	// phaseRebalance: still a member, but the coordinator asked it to
	// rejoin; the next Poll commits, calls OnRevoked and rejoins with the
	// same member id. Heartbeats go on meanwhile.
	phaseRebalance
	// phaseLost: removed from the group (session expired, fenced, or left
	// after MaxPollInterval); parts are kept only for OnLost. The next
	// Poll calls OnLost and joins with an empty member id.
	phaseLost
	// phaseJoining: Poll has given up the old assignment and is joining
	// (or a join was interrupted: the next Poll resumes it).
	phaseJoining
)

// member reports whether the phase is one where the Consumer holds a
// valid membership (heartbeats are sent, commits may succeed).
func (p phase) member() bool { return p == phaseStable || p == phaseRebalance }

// Consumer returns a Consumer of cfg's group and topics. It validates cfg
// and does not contact the cluster: the first Poll joins the group.
// Errors: a *ConfigError (matching ErrInvalidConfig), also when
// FetchMaxBytes leaves no room in MaxFrame for one more record of the
// broker's largest size, or ErrClosed if the Client is closed.
func (cl *Client) Consumer(cfg ConsumerConfig) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	limit := max(cl.cfg.MaxFrame-minMaxFrame, 1)
	if int(cfg.FetchMaxBytes) > limit {
		return nil, &ConfigError{"FetchMaxBytes", fmt.Sprintf("%d exceeds MaxFrame - 1 MiB - 64 KiB (%d)", cfg.FetchMaxBytes, limit)}
	}
	if cfg.FetchMaxBytes == 0 {
		cfg.FetchMaxBytes = int32(min(DefaultFetchMaxBytes, limit))
	}
	if cl.ctx.Err() != nil {
		return nil, ErrClosed
	}
	ctx, cancel := context.WithCancel(cl.ctx)
	cfg = cfg.withDefaults()
	return &Consumer{
		cl:        cl,
		cfg:       cfg,
		log:       cl.log.With("group", cfg.Group),
		ctx:       ctx,
		cancel:    cancel,
		commitSem: make(chan struct{}, 1),
		wake:      make(chan struct{}, 1),
		lastPoll:  time.Now(),
	}, nil
}

// Poll returns the next records of the Consumer's partitions, from their
// positions on, and advances the positions past them. It blocks until
// some records are available or ctx ends (then it returns nil and
// ctx.Err()); it returns at most MaxPollRecords (if set), taken from the
// partitions in turn.
//
// Poll also does the group's work: it joins the group on the first call,
// and rejoins first when a rebalance is due (calling OnRevoked or OnLost,
// then OnAssigned, on this goroutine); with auto-commit it first sends,
// in the background, a commit of the positions of what earlier Polls
// returned, unless the last auto-commit is more recent than
// AutoCommitInterval (then Poll commits once it is due, if it waits that
// long). A join may block up to the group's rebalance timeout (the
// MaxPollInterval of its members).
//
// Errors: ctx's error, ErrClosed (after Close, or when the Client is
// closed), or a join error the Consumer cannot get past by retrying
// (ErrInvalidGroup: a bad name, strategy or timeout for the coordinator;
// ...). Failures of fetches are retried in the background and not
// returned. Records share the memory of their fetch response.
func (c *Consumer) Poll(ctx context.Context) ([]Record, error) {
	c.pollMu.Lock()
	defer c.pollMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.inPoll = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inPoll = false
		c.lastPoll = time.Now()
		c.mu.Unlock()
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	autoDue := c.maybeAutoCommit()
	var timer *time.Timer // fires when an auto-commit skipped for AutoCommitInterval is due while Poll waits
	for {
		if err := c.ensureMember(ctx); err != nil {
			switch {
			case ctx.Err() != nil:
				return nil, ctx.Err()
			case c.ctx.Err() != nil || errors.Is(err, ErrClosed):
				return nil, ErrClosed
			}
			return nil, err
		}
		if err := ctx.Err(); err != nil { // e.g. cancelled from a callback
			return nil, err
		}
		c.mu.Lock()
		var recs []Record
		if c.phase == phaseStable && c.setup {
			recs = c.takeLocked()
		}
		c.mu.Unlock()
		if len(recs) > 0 {
			return recs, nil
		}
		if autoDue > 0 && timer == nil {
			timer = time.NewTimer(autoDue)
			defer timer.Stop()
		}
		var due <-chan time.Time
		if timer != nil {
			due = timer.C
		}
		select {
		case <-c.wake:
		case <-due:
			timer = nil
			autoDue = c.maybeAutoCommit()
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// takeLocked takes up to MaxPollRecords buffered records, visiting the
// partitions in turn from c.next, and advances their positions. Called
// with mu held, by the pollMu holder.
func (c *Consumer) takeLocked() []Record {
	n := len(c.parts)
	if n == 0 {
		return nil
	}
	limit := c.cfg.MaxPollRecords
	var chunks [][]Record
	total := 0
	start := c.next % n
	c.next = start + 1
	for i := range n {
		ps := c.parts[(start+i)%n]
		for len(ps.bufs) > 0 && (limit == 0 || total < limit) {
			b := &ps.bufs[0]
			take := b.recs
			if limit > 0 && len(take) > limit-total {
				take = take[: limit-total : limit-total]
			}
			b.recs = b.recs[len(take):]
			if len(b.recs) == 0 {
				copy(ps.bufs, ps.bufs[1:])
				ps.bufs[len(ps.bufs)-1] = fetchBatch{}
				ps.bufs = ps.bufs[:len(ps.bufs)-1]
				poke(ps.space)
			}
			ps.pos = take[len(take)-1].Offset + 1
			chunks = append(chunks, take)
			total += len(take)
		}
	}
	switch len(chunks) {
	case 0:
		return nil
	case 1:
		return chunks[0]
	}
	out := make([]Record, 0, total)
	for _, ch := range chunks {
		out = append(out, ch...)
	}
	return out
}

// Assignment returns the partitions assigned to the Consumer in the
// current generation, sorted; none before the first join, during a
// rejoin, or after Close. Does not block; safe for concurrent use.
func (c *Consumer) Assignment() []TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.assignmentLocked()
}

func (c *Consumer) assignmentLocked() []TopicPartition {
	out := make([]TopicPartition, len(c.parts))
	for i, ps := range c.parts {
		out[i] = ps.tp
	}
	return out
}

// Position returns the offset of the next record Poll returns from tp,
// and false if tp is not assigned or its position is not known yet (it
// is being reset to the earliest or latest offset). Does not block; safe
// for concurrent use.
func (c *Consumer) Position(tp TopicPartition) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.byTP[tp]
	if ps == nil || !ps.posKnown {
		return 0, false
	}
	return ps.pos, true
}

// MemberID returns the member id the coordinator gave the Consumer, or
// "" while it is not a member. Does not block; safe for concurrent use.
func (c *Consumer) MemberID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.memberID
}

// Generation returns the group generation of the Consumer's last join
// (0 before the first). Does not block; safe for concurrent use.
func (c *Consumer) Generation() int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.generation
}

// Close leaves the group: with auto-commit it first commits the positions
// of what Poll returned (waiting at most SessionTimeout), then sends
// LeaveGroup so the partitions move to other members at once, and stops
// the Consumer's goroutines. A Poll in progress returns ErrClosed; later
// calls of Poll, Commit and the Seek methods return ErrClosed. Close is
// idempotent and safe for concurrent use; it blocks until done, and it
// must not be called from a callback. It returns the final commit's error
// (the same on every call), or nil. If the Client was closed first,
// nothing is committed or left (tests use this to simulate a crashed
// consumer), and the error matches ErrClosed if positions went
// uncommitted.
func (c *Consumer) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.cancel()
		c.pollMu.Lock()
		defer c.pollMu.Unlock()
		c.stopFetchers()
		c.hbWG.Wait()

		// Wait for the commit in flight, commit the positions, leave:
		// commitSem is held until the LeaveGroup is answered, as a commit
		// landing after it would be refused.
		ctx, cancel := context.WithTimeout(c.cl.ctx, c.cfg.SessionTimeout)
		defer cancel()
		held := c.acquireCommit(ctx) == nil
		c.mu.Lock()
		member, ph := c.memberID, c.phase
		if member == "" {
			member = c.lostMember
		}
		var offs []wire.OffsetCommit
		if !c.cfg.ManualCommit && ph.member() && c.setup {
			offs = c.positionsLocked()
		}
		c.autoPending = nil // offs supersede it
		c.mu.Unlock()
		switch {
		case c.cl.ctx.Err() != nil: // the Client is closed: nothing can be sent
			if len(offs) > 0 {
				c.closeErr = fmt.Errorf("minibroker: consumer close: positions not committed: %w", ErrClosed)
			}
			member = ""
		case !held:
			c.closeErr = fmt.Errorf("minibroker: consumer close: waiting for a commit in flight: %w", ctx.Err())
		default:
			if err := c.commitHeld(ctx, offs); err != nil {
				c.closeErr = fmt.Errorf("minibroker: consumer close: %w", err)
			}
		}
		if member != "" {
			c.leave(ctx, member)
		}
		if held {
			<-c.commitSem
		}
		c.mu.Lock()
		c.phase, c.memberID, c.lostMember, c.parts, c.byTP, c.setup = phaseNone, "", "", nil, nil, false
		c.mu.Unlock()
	})
	return c.closeErr
}

// leave sends LeaveGroup for member; failures are only logged (the
// session timeout removes the member anyway).
func (c *Consumer) leave(ctx context.Context, member string) {
	req := &wire.LeaveGroupRequest{Group: c.cfg.Group, MemberID: member}
	err := c.cl.do(ctx, leaderWrite, wire.LeaveGroup, req, new(wire.LeaveGroupResponse), c.cl.cfg.RequestTimeout)
	if err != nil && !errors.Is(err, ErrUnknownMember) {
		c.log.Info("minibroker: leave group failed; the session timeout will remove the member", "member", member, "err", err)
	}
}

// poke signals ch (capacity 1) without blocking.
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// sortTPs sorts partitions by topic, then partition.
func sortTPs(tps []TopicPartition) {
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
}
