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
// in name order; each one's retention depends only on its own log and the
// time, so every replica ends up alike. It is not skipped on replay: it is
// idempotent for a given time.
func (f *FSM) applyHousekeeping(index uint64, body []byte) any {
	var c HousekeepingCmd
	if err := decodeBody(body, &c); err != nil {
		return err
	}
	f.now = c.Timestamp
	f.mu.Lock()
	f.meta.expireProducers(c.Timestamp)
	f.mu.Unlock()
	for _, p := range f.sortedParts() {
		if _, err := p.log.EnforceRetention(); err != nil {
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
