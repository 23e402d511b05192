package replication

import (
	"context"
	"errors"
	"sort"
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
	keys := make([]partKey, 0, len(f.parts))
	for k := range f.parts {
		keys = append(keys, k)
	}
	parts := f.parts
	f.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].topic != keys[j].topic {
			return keys[i].topic < keys[j].topic
		}
		return keys[i].id < keys[j].id
	})
	for _, k := range keys {
		if _, err := parts[k].log.EnforceRetention(); err != nil {
			return f.fail("retention of "+k.topic, err)
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
	cmd, err := encodeCommand(CmdHousekeeping, &HousekeepingCmd{Timestamp: time.Now().UnixMilli()})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.node.Apply(ctx, cmd, AcksAll); err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrShutdown) {
		s.cfg.Logger.Warn("housekeeping", "error", err)
	}
}
