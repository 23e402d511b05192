package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minibroker/minibroker/client"
)

// The session timeouts a group coordinator accepts (the broker refuses
// others).
const (
	minSessionTimeout = 100 * time.Millisecond
	maxSessionTimeout = time.Hour
)

// commitTimeout bounds one commit of what was printed, including its
// retries through a leader change. Commits do not end with the command's
// context: what was printed before SIGINT is still committed.
const commitTimeout = 15 * time.Second

// groupSource reads TOPIC as a member of a consumer group, committing
// manually: after each batch is written out, the offsets of exactly the
// records printed (at-least-once). It never commits a record it did not
// print, so a crash at any point loses nothing; what was printed but not
// yet committed is printed again by the group's next member.
//
// All its fields are owned by the goroutine of runConsume: OnAssigned,
// which sets assigned and calls arm, runs inside Poll on that goroutine.
type groupSource struct {
	c     *client.Consumer
	group string
	warn  io.Writer

	assigned bool   // the first join of the group has completed
	arm      func() // set while a Poll waits for the first join: starts the --idle timer
	// pending is, per partition, the offset after the last record printed
	// and not yet committed; pendingN counts those records.
	pending  map[client.TopicPartition]int64
	pendingN int
	// allPrinted: every record Poll returned has been printed, so the
	// Consumer's positions are exactly what was printed (and, for the
	// partitions not read yet, where the group starts them). False from
	// the moment next returns records until printed says all of them
	// were written out.
	allPrinted bool
}

func newGroupSource(cl *client.Client, warn io.Writer, o consumeOpts) (*groupSource, error) {
	s := &groupSource{group: o.group, warn: warn, pending: map[client.TopicPartition]int64{}, allPrinted: true}
	reset := client.ResetLatest
	if o.fromBeginning {
		reset = client.ResetEarliest
	}
	c, err := cl.Consumer(client.ConsumerConfig{
		Group:           o.group,
		Topics:          []string{o.topic},
		SessionTimeout:  o.sessionTimeout,
		AutoOffsetReset: reset,
		ManualCommit:    true,
		OnAssigned: func(context.Context, []client.TopicPartition) {
			s.assigned = true
			if s.arm != nil {
				s.arm()
				s.arm = nil
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", o.group, err)
	}
	s.c = c
	return s, nil
}

// next polls the group. The --idle time counts from the first join's
// end: joining may wait for the group's other members (up to their
// session timeout, for one that crashed), which is not idleness.
func (s *groupSource) next(ctx context.Context, idle time.Duration) ([]client.Record, error) {
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if idle > 0 {
		var t *time.Timer
		start := func() { t = time.AfterFunc(idle, func() { cancel(errIdle) }) }
		if s.assigned {
			start()
		} else {
			s.arm = start
		}
		defer func() {
			s.arm = nil
			if t != nil {
				t.Stop()
			}
		}()
	}
	recs, err := s.c.Poll(pctx)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(pctx), errIdle) {
		return nil, errIdle
	}
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", s.group, err)
	}
	if len(recs) > 0 {
		// Poll moved the positions past recs: until printed says how many
		// were written out, the positions are not to be committed.
		s.allPrinted = false
	}
	return recs, nil
}

// printed commits recs[:n], with whatever was printed before and not
// committed yet. A failed commit is kept pending (the next one covers
// it) unless the partitions moved to another member: then the group
// delivers those records again, and the error says so.
func (s *groupSource) printed(recs []client.Record, n int) error {
	for i := range recs[:n] {
		tp := client.TopicPartition{Topic: recs[i].Topic, Partition: recs[i].Partition}
		s.pending[tp] = max(s.pending[tp], recs[i].Offset+1)
	}
	s.pendingN += n
	s.allPrinted = n == len(recs)
	pending := s.pendingN
	reassigned, err := s.commit()
	switch {
	case err == nil:
		return nil
	case reassigned:
		return s.reassigned(err, pending)
	}
	return &hintError{err: err, msg: fmt.Sprintf("group %q: could not commit %d printed %s yet (retrying after the next batch): %v",
		s.group, pending, plural(pending, "message"), oneLine(err.Error()))}
}

// reassigned explains a commit of pending printed records refused
// because the partitions moved to another member.
func (s *groupSource) reassigned(err error, pending int) error {
	return &hintError{err: err, msg: fmt.Sprintf(
		"group %q: the partitions were reassigned before up to %d printed %s could be committed; the group will deliver them again (duplicates, nothing lost)",
		s.group, pending, plural(pending, "message"))}
}

// commit commits what was printed. When all that Poll returned was
// printed, it commits the Consumer's positions: the same offsets, plus
// the start of each partition not read yet, so that a new group that
// started at the end of its partitions resumes there next time (as
// Kafka's console consumer does). Otherwise it commits the pending
// offsets only: not the rest of a batch cut short by --max.
//
// On success, or when the partitions were reassigned (reassigned is then
// true: those records can no longer be committed by this member), pending
// is cleared; on other errors it is kept.
func (s *groupSource) commit() (reassigned bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	switch {
	case s.allPrinted:
		err = s.c.Commit(ctx)
	case len(s.pending) == 0:
		return false, nil // (Commit with no records would commit the positions)
	default:
		marks := make([]client.Record, 0, len(s.pending))
		for tp, next := range s.pending {
			marks = append(marks, client.Record{Topic: tp.Topic, Partition: tp.Partition, Offset: next - 1})
		}
		err = s.c.Commit(ctx, marks...)
	}
	reassigned = errors.Is(err, client.ErrCommitFenced) || errors.Is(err, client.ErrRebalanceInProgress)
	if err == nil || reassigned {
		clear(s.pending)
		s.pendingN = 0
	}
	if err != nil {
		err = fmt.Errorf("group %q: commit: %w", s.group, err)
	}
	return reassigned, err
}

// close commits what was printed and not committed yet, then leaves the
// group. Its error means printed records stay uncommitted: the group
// will deliver them again.
func (s *groupSource) close() error {
	pending := s.pendingN
	reassigned, err := s.commit()
	switch {
	case reassigned:
		fmt.Fprintf(s.warn, "minibroker: %s\n", s.reassigned(err, pending).Error())
		err = nil
	case err != nil && pending > 0:
		err = &hintError{err: err, msg: fmt.Sprintf("group %q: %d printed %s could not be committed; the group will deliver them again: %v",
			s.group, pending, plural(pending, "message"), oneLine(err.Error()))}
	case err != nil: // nothing printed is at stake: only where unread partitions start
		fmt.Fprintf(s.warn, "minibroker: %s\n", oneLine(err.Error()))
		err = nil
	}
	if cerr := s.c.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("group %q: leaving: %w", s.group, cerr)
	}
	return err
}
