package replication

import (
	"context"
	"fmt"
	"sync"
)

// Comparing replicas. Digests are comparable only at one applied index,
// and writes go on while a cluster is checked, so the index is fixed by
// the log itself: the leader proposes a DigestCmd (Store.ProposeDigest) and
// learns its Raft index N. Every FSM, when it applies that entry, is at
// exactly N and takes its digest right there, inside Apply, before any
// later entry. It keeps the newest few in memory; Store.DigestAt returns
// the one at N once the node has applied N.
//
// Only a live apply is at N. When raft replays an entry after a restart,
// the FSM's durable state may already hold later entries (partition logs
// and metadata are not rolled back to N; retention may have run), so the
// digest would describe something other than N. An entry at or below the
// Raft log's last index when the node started (a replay bound set before
// raft starts), or below what a partition or the metadata already
// records, is therefore noted as "not available" instead: never a wrong
// digest. The verifier simply proposes a new one.

// keptDigests is how many digests an FSM keeps (the newest ones).
const keptDigests = 8

// digestEntry is one CmdDigest's outcome on this replica.
type digestEntry struct {
	index  uint64
	digest Digest
	err    error // ErrDigestUnavailable (wrapped) or the I/O error of taking it
}

// digestBook holds the digests taken by CmdDigest entries and the applied
// index that DigestAt waits for.
type digestBook struct {
	mu          sync.Mutex    // guards every field below
	replayBound uint64        // entries at or below it are replays
	applied     uint64        // the FSM's applied index after its last batch
	entries     []digestEntry // oldest first, at most keptDigests
	waiters     int           // DigestAt calls waiting on changed
	changed     chan struct{} // closed and replaced when applied grows and waiters > 0
}

// noteApplied publishes the FSM's applied index; the FSM goroutine calls it
// after every batch.
func (b *digestBook) noteApplied(index uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if index <= b.applied {
		return
	}
	b.applied = index
	if b.waiters > 0 && b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
}

func (b *digestBook) record(e digestEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.entries) == keptDigests {
		copy(b.entries, b.entries[1:])
		b.entries = b.entries[:keptDigests-1]
	}
	b.entries = append(b.entries, e)
}

// setReplayBound tells the FSM the Raft log's last index at start-up,
// before raft applies anything (NewNode calls it).
func (f *FSM) setReplayBound(index uint64) {
	f.digests.mu.Lock()
	defer f.digests.mu.Unlock()
	f.digests.replayBound = index
}

// applyDigest takes the replica's digest at index (a CmdDigest entry). It
// changes no replicated state and never stops the FSM: a failure to read
// the data is kept as that digest's error. Its response is index, so the
// proposer learns where the digest was taken.
func (f *FSM) applyDigest(index uint64) any {
	e := digestEntry{index: index}
	if reason := f.replayedLocked(index); reason != "" {
		e.err = fmt.Errorf("%w at index %d: %s", ErrDigestUnavailable, index, reason)
	} else {
		// The state is exactly at index: a DigestCmd changes nothing, and
		// every earlier entry is applied (f.applied is not yet advanced
		// within the batch, so set the index explicitly).
		d, err := f.digestLocked()
		d.Index = index
		e.digest, e.err = d, err
	}
	f.digests.record(e)
	return index
}

// replayedLocked says why the FSM's state is not exactly at index (a
// replayed entry), or "" for a live apply. It runs on the FSM goroutine.
func (f *FSM) replayedLocked(index uint64) string {
	f.digests.mu.Lock()
	bound := f.digests.replayBound
	f.digests.mu.Unlock()
	if index <= bound {
		return "replayed after a restart"
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.meta.Index > index {
		return "metadata is ahead"
	}
	for _, p := range f.parts {
		if p.lastIndex > index {
			return "partition data is ahead"
		}
	}
	return ""
}

// digestAt waits until the FSM has applied index and returns the digest its
// CmdDigest entry took. See Store.DigestAt.
func (f *FSM) digestAt(ctx context.Context, index uint64, stopped <-chan struct{}) (Digest, error) {
	b := &f.digests
	b.mu.Lock()
	for b.applied < index {
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		ch := b.changed
		b.waiters++
		b.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-stopped:
			err = ErrShutdown
		case <-ctx.Done():
			err = fmt.Errorf("replication: digest at %d: %w", index, ctx.Err())
		}
		b.mu.Lock()
		b.waiters--
		if err != nil {
			b.mu.Unlock()
			return Digest{}, err
		}
	}
	defer b.mu.Unlock()
	for _, e := range b.entries {
		if e.index == index {
			return e.digest, e.err
		}
	}
	return Digest{}, fmt.Errorf("%w at index %d: no digest entry there, or no longer kept (the node restored a snapshot past it, or took %d newer ones)", ErrDigestUnavailable, index, keptDigests)
}

// ProposeDigest makes every replica take its digest at one Raft index (a
// DigestCmd replicated with AcksAll) and returns that index; then ask each
// node for its digest with DigestAt. It runs on the leader only and blocks
// until the entry is committed and applied here. It is safe for concurrent
// use. Errors: those of Append (*NotLeaderError, ErrOutcomeUnknown,
// ErrShutdown, ErrTimeout, ErrStopped, ctx's error).
func (s *Store) ProposeDigest(ctx context.Context) (uint64, error) {
	resp, err := s.applyCmd(ctx, CmdDigest, &DigestCmd{})
	if err != nil {
		return 0, err
	}
	index, ok := resp.(uint64)
	if !ok {
		return 0, fmt.Errorf("replication: propose digest: unexpected response %T", resp)
	}
	return index, nil
}

// DigestAt returns this node's digest at Raft index index, which must be a
// DigestCmd's (from ProposeDigest on the leader). It blocks until this
// node has applied index or ctx ends; it works on any node and is safe for
// concurrent use. Errors: ErrDigestUnavailable when this node cannot
// vouch for its state at index (it replayed the entry after a restart,
// restored a snapshot past it, no digest was taken there, or it is no
// longer kept); ErrShutdown (also after the FSM stopped); a wrapped I/O
// error reading the partitions; an error wrapping ctx's error.
func (s *Store) DigestAt(ctx context.Context, index uint64) (Digest, error) {
	if index == 0 {
		return Digest{}, fmt.Errorf("%w: index 0", ErrDigestUnavailable)
	}
	return s.fsm.digestAt(ctx, index, s.node.stopping)
}
