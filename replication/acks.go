package replication

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// Acks is the acknowledgement level of Apply: how far an entry must get
// before Apply returns.
type Acks int8

const (
	// AcksNone returns as soon as raft has accepted the entry into its
	// queue. Nothing is known about its fate: it may never be written.
	AcksNone Acks = 0

	// AcksLeader returns once the leader's raft log store (bolt, fsynced)
	// holds the entry, before any follower has it and before it commits.
	//
	// Loss window: the entry is durable in the leader's raft log only. If
	// the leader dies or is partitioned before a quorum has stored it, a new
	// leader is elected without it, and when the old leader rejoins as a
	// follower the new leader's log overwrites (truncates) it. The write is
	// then lost although it was acknowledged.
	AcksLeader Acks = 1

	// AcksAll returns once a quorum has stored the entry (it is committed)
	// and this leader's FSM has applied it; Apply returns the FSM response.
	// A write acknowledged this way survives any minority of failures.
	AcksAll Acks = -1
)

// String returns "0", "1" or "all", as in Kafka's acks setting.
func (a Acks) String() string {
	switch a {
	case AcksNone:
		return "0"
	case AcksLeader:
		return "1"
	case AcksAll:
		return "all"
	}
	return fmt.Sprintf("Acks(%d)", int8(a))
}

// Apply replicates cmd through raft as a LogCommand entry and waits as far
// as acks asks (see AcksNone, AcksLeader, AcksAll). With AcksAll it returns
// the FSM's response; if that response is an error, it is returned as the
// error instead. With the other levels the response is nil.
//
// Apply blocks until the requested acknowledgement, an error, or the end of
// ctx. Raft's queue honours only a timeout: ctx's deadline bounds the
// hand-over, but a ctx without deadline that is cancelled while raft's
// queue is full is only noticed once raft takes the entry. It is safe for
// concurrent use. Errors:
//   - *NotLeaderError (ErrNotLeader): this node is not the leader, or lost
//     leadership before writing the entry; it was not written.
//   - ErrShutdown: the node is stopping or stopped. If the entry had been
//     handed over, ErrOutcomeUnknown is wrapped too.
//   - ErrTimeout: raft's queue stayed full until the deadline; not written.
//   - ErrOutcomeUnknown: handed over, but leadership was lost or ctx ended
//     before the outcome was known; the entry may still commit.
//   - ctx's error, if ctx ended before the entry was handed over.
//   - a wrapped log-store error if the leader failed to write the entry.
//   - the FSM's error response (AcksAll).
func (n *Node) Apply(ctx context.Context, cmd []byte, acks Acks) (any, error) {
	p, err := n.Submit(ctx, cmd, acks)
	if err != nil {
		return nil, err
	}
	return p.Wait(ctx)
}

// Pending is an entry handed to raft by Submit, whose acknowledgement has
// not been waited for yet. Call Wait exactly once.
type Pending struct {
	n      *Node
	acks   Acks
	f      raft.ApplyFuture
	tok    ackToken
	stored <-chan error
}

// Submit hands cmd to raft and returns without waiting for any
// acknowledgement: Apply is Submit followed by Wait. Entries submitted one
// after another from one goroutine enter the raft log in that order, so a
// caller can pipeline writes and still keep their order. It blocks only
// while raft's queue is full. Its errors are Apply's errors of the
// hand-over: *NotLeaderError, ErrShutdown, ErrTimeout, ctx's error; none of
// them means the entry was written.
func (n *Node) Submit(ctx context.Context, cmd []byte, acks Acks) (*Pending, error) {
	if acks != AcksNone && acks != AcksLeader && acks != AcksAll {
		return nil, fmt.Errorf("replication: apply: unknown acks level %d", int8(acks))
	}
	if err := n.checkLeader(); err != nil {
		return nil, err
	}
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return nil, fmt.Errorf("replication: apply: %w", err)
	}
	p := &Pending{n: n, acks: acks}
	entry := raft.Log{Data: cmd}
	if acks == AcksLeader {
		p.tok = n.store.newToken()
		p.stored = n.store.expect(p.tok)
		entry.Extensions = p.tok[:]
	}
	p.f = n.raft.ApplyLog(entry, timeout)
	if !pending(p.f) {
		if acks == AcksLeader {
			n.store.forget(p.tok)
		}
		return nil, n.raftErr("apply", p.f.Error(), false)
	}
	return p, nil
}

// Wait waits for the acknowledgement that the entry's acks level asks for
// and returns what Apply returns. It blocks until then, an error, or the
// end of ctx (which gives ErrOutcomeUnknown: the entry was handed over).
func (p *Pending) Wait(ctx context.Context) (any, error) {
	switch p.acks {
	case AcksNone:
		return nil, nil
	case AcksLeader:
		defer p.n.store.forget(p.tok)
		return nil, p.n.awaitStored(ctx, p.f, p.stored)
	default:
		return p.n.awaitApplied(ctx, p.f)
	}
}

// awaitStored waits until the leader's log store has written the entry of
// f (stored delivers the result of that write), or until f fails first.
func (n *Node) awaitStored(ctx context.Context, f raft.ApplyFuture, stored <-chan error) error {
	storeErr := func(err error) error {
		if err != nil {
			return fmt.Errorf("replication: apply: leader log store: %w", err)
		}
		return nil
	}
	select {
	case err := <-stored:
		return storeErr(err)
	case err := <-waitFuture(f):
		// The store result is sent before raft resolves the future, so if
		// the entry was stored at all, stored is ready now.
		select {
		case serr := <-stored:
			return storeErr(serr)
		default:
		}
		if err != nil {
			return n.raftErr("apply", err, true)
		}
		return nil // committed, hence stored
	case <-ctx.Done():
		return n.unknown("apply", ctx.Err())
	case <-n.stopping:
		return n.unknown("apply", ErrShutdown)
	}
}

// awaitApplied waits until the entry of f is committed and applied.
func (n *Node) awaitApplied(ctx context.Context, f raft.ApplyFuture) (any, error) {
	select {
	case err := <-waitFuture(f):
		if err != nil {
			return nil, n.raftErr("apply", err, true)
		}
		resp := f.Response()
		if err, ok := resp.(error); ok && err != nil {
			if errors.Is(err, ErrStopped) {
				// Raft applies only committed entries: this one is on a
				// quorum, but this node's state machine failed on it, so
				// its result here is unknown.
				return nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
			}
			return nil, err
		}
		return resp, nil
	case <-ctx.Done():
		return nil, n.unknown("apply", ctx.Err())
	case <-n.stopping:
		return nil, n.unknown("apply", ErrShutdown)
	}
}

// tokenLen is the size of an acks=1 token in raft.Log.Extensions: an 8-byte
// random prefix per Node followed by an 8-byte big-endian counter.
const tokenLen = 16

type ackToken [tokenLen]byte

// ackLogStore wraps the node's raft.LogStore. Raft writes every entry
// through it, on the leader (dispatch) and on followers (AppendEntries).
// After a successful or failed StoreLogs it wakes the Apply call waiting for
// each entry whose Extensions hold one of this node's tokens. Entries with
// foreign tokens (from an earlier leader or an earlier run of this node) or
// with no waiter are ignored. It is safe for concurrent use.
type ackLogStore struct {
	raft.LogStore

	prefix  [8]byte       // random, fixed at creation; tells our tokens apart
	counter atomic.Uint64 // last token number handed out
	waiting atomic.Int64  // len(waiters); lets StoreLogs skip mu when zero

	// fault, when set (by tests), runs before every write; a non-nil error
	// is returned as the write's result and nothing is written.
	fault atomic.Pointer[func([]*raft.Log) error]

	mu      sync.Mutex              // guards waiters
	waiters map[ackToken]chan error // cap 1; receives the StoreLogs result once
}

var _ raft.MonotonicLogStore = (*ackLogStore)(nil)

// IsMonotonic implements raft.MonotonicLogStore for the wrapped store (see
// logCache.IsMonotonic).
func (s *ackLogStore) IsMonotonic() bool { return isMonotonic(s.LogStore) }

func newAckLogStore(inner raft.LogStore) (*ackLogStore, error) {
	s := &ackLogStore{LogStore: inner, waiters: make(map[ackToken]chan error)}
	if _, err := rand.Read(s.prefix[:]); err != nil {
		return nil, fmt.Errorf("replication: token prefix: %w", err)
	}
	return s, nil
}

// newToken returns a token no other entry of this store carries.
func (s *ackLogStore) newToken() ackToken {
	var t ackToken
	copy(t[:8], s.prefix[:])
	binary.BigEndian.PutUint64(t[8:], s.counter.Add(1))
	return t
}

// expect registers a waiter for tok. The channel receives the result of the
// StoreLogs call that writes the entry carrying tok, at most once. The
// caller must call forget(tok) when it stops waiting.
func (s *ackLogStore) expect(tok ackToken) <-chan error {
	ch := make(chan error, 1)
	s.mu.Lock()
	s.waiters[tok] = ch
	s.waiting.Store(int64(len(s.waiters)))
	s.mu.Unlock()
	return ch
}

// forget removes the waiter for tok, if any.
func (s *ackLogStore) forget(tok ackToken) {
	s.mu.Lock()
	delete(s.waiters, tok)
	s.waiting.Store(int64(len(s.waiters)))
	s.mu.Unlock()
}

// StoreLog implements raft.LogStore.
func (s *ackLogStore) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

// StoreLogs implements raft.LogStore: it writes logs to the wrapped store,
// then hands the result to the waiters of the entries that carry tokens.
func (s *ackLogStore) StoreLogs(logs []*raft.Log) error {
	var err error
	if fault := s.fault.Load(); fault != nil {
		err = (*fault)(logs)
	}
	if err == nil {
		err = s.LogStore.StoreLogs(logs)
	}
	if s.waiting.Load() == 0 {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range logs {
		if len(l.Extensions) != tokenLen || [8]byte(l.Extensions[:8]) != s.prefix {
			continue
		}
		tok := ackToken(l.Extensions)
		if ch, ok := s.waiters[tok]; ok {
			ch <- err // never blocks: cap 1, sent once, then removed
			delete(s.waiters, tok)
		}
	}
	s.waiting.Store(int64(len(s.waiters)))
	return err
}
