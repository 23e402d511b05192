package replication

import (
	"context"
	"errors"
	"time"
)

// DefaultHousekeepingInterval is how often the leader proposes a
// HousekeepingCmd.
const DefaultHousekeepingInterval = time.Minute

// applyHousekeeping enforces retention on every partition and expires
// idle producers, with the command's time as "now". Partitions are visited
// in name order. Each one's retention decides on its log as it was at this
// entry's index (batch metas are Raft indexes; see log.EnforceRetention)
// and on the command's time, nothing else, so every replica deletes alike,
// including one that replays the entry after a crash with later appends
// already in its log (applyAppend skips those). Its retention is not
// skipped on replay: it is idempotent for a given index and time. Its
// producer expiry is, at or below meta.Index: that metadata holds its
// effect, and expiring by the entry's time in it would drop producers
// created since, if a later leader stamped them with a clock far enough
// behind.
func (f *FSM) applyHousekeeping(index uint64, body []byte) any {
	var c HousekeepingCmd
	if err := decodeBody(body, &c); err != nil {
		return err
	}
	f.tick(c.Timestamp)
	f.mu.Lock()
	if index > f.meta.Index {
		f.meta.expireProducers(c.Timestamp)
	}
	f.mu.Unlock()
	for _, p := range f.sortedParts() {
		if _, err := p.log.EnforceRetention(index); err != nil {
			return f.fail("retention of "+p.topic.Name, err)
		}
	}
	return nil
}

// housekeep proposes a HousekeepingCmd if this node is the ready leader.
// Failures are fine: the next tick tries again.
func (s *Store) housekeep() {
	if !s.node.IsReady() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.applyCmd(ctx, CmdHousekeeping, &HousekeepingCmd{Timestamp: time.Now().UnixMilli()}); err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrShutdown) {
		s.cfg.Logger.Warn("housekeeping", "error", err)
	}
}
