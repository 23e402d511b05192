package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/minibroker/minibroker/replication"
)

// A restarted node re-applies the entries of its Raft log only once it
// learns how far they are committed (from a leader, or by winning an
// election). Until then its state machine lags what it had before the
// restart: it may not know a topic that exists. Such a node does not
// answer reads from its state machine (Metadata); clients ask another
// node or retry.

// markReplayTarget records the last index of the local Raft log at start,
// and the last one of those raft hands to the FSM: the node has caught up
// once raft has applied the first and the FSM the second.
func (b *Broker) markReplayTarget() {
	b.replayTo = b.store.Node().Stats().LastLogIndex
	fsmTo, err := b.store.Node().LastFSMEntryIndex()
	if err != nil {
		b.logger.Warn("reading the raft log's last entries; replay is judged by raft's applied index only", "error", err)
	}
	b.replayFSMTo = fsmTo
}

// replayed reports whether the node has applied everything its Raft log
// held at start. Once true it stays true. Safe for concurrent use.
func (b *Broker) replayed() bool {
	if b.caughtUp.Load() {
		return true
	}
	// raft's applied index counts entries handed to the FSM goroutine,
	// before their effects are visible; the FSM's own index tells when they
	// are (it never reaches a trailing no-op, which raft applies itself).
	if b.store.Node().AppliedIndex() < b.replayTo || b.store.FSM().AppliedIndex() < b.replayFSMTo {
		return false
	}
	b.caughtUp.Store(true)
	return true
}

// waitReplayed blocks until replayed or ctx ends.
func (b *Broker) waitReplayed(ctx context.Context) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !b.replayed() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// errReplaying is the answer of a node that has not replayed its log yet.
func (b *Broker) errReplaying() error {
	return fmt.Errorf("%w: this node restarted and is re-applying its log; ask another node or retry", replication.ErrNotLeader)
}
