package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// leaderView is what the node knows about leadership at one moment.
type leaderView struct {
	id, addr string // the known leader; empty while none is known
	self     bool   // this node is the leader
	ready    bool   // self, and the barrier of this leadership completed
}

// leadership holds the node's published leadership view. Only the
// watchLeadership goroutine writes it; anyone may read it.
type leadership struct {
	mu        sync.Mutex    // guards view, readyTerm and changed
	view      leaderView    // the current view
	readyTerm uint64        // the term in which view.ready became true
	changed   chan struct{} // closed and replaced whenever view changes
}

func (l *leadership) init() { l.changed = make(chan struct{}) }

// publish installs v and wakes everyone waiting on the previous channel if
// anything changed.
func (l *leadership) publish(v leaderView, readyTerm uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v == l.view && readyTerm == l.readyTerm {
		return
	}
	l.view, l.readyTerm = v, readyTerm
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *leadership) get() (leaderView, uint64, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.view, l.readyTerm, l.changed
}

// Leader returns the ID and raft address of the leader this node knows of,
// or empty strings while none is known. It does not block.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// Term is the current Raft term as this node knows it. It does not block.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// IsLeader reports whether this node is the raft leader right now. A new
// leader may not yet have applied all earlier entries; see IsReady. It does
// not block.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// IsReady reports whether this node is the leader and its FSM has applied
// every entry committed before its leadership began (a raft barrier issued
// for the current term completed). Only a ready leader should serve reads
// or requests that depend on FSM state. It does not block.
func (n *Node) IsReady() bool {
	v, term, _ := n.lead.get()
	return v.ready && n.raft.State() == raft.Leader && n.raft.CurrentTerm() == term
}

// LeaderChanged returns a channel that is closed at the next change of the
// leadership view: a different leader (or none), this node gaining or losing
// leadership, or becoming ready. Call it again after each wake-up. Nothing
// needs to be drained. When the node stops, the channel current at that
// moment is closed one last time; channels obtained later never close, so
// select on Done as well. It does not block.
func (n *Node) LeaderChanged() <-chan struct{} {
	_, _, ch := n.lead.get()
	return ch
}

// WaitLeader blocks until a leader is known and returns its ID and raft
// address. If this node is the leader, it also waits until it is ready (see
// IsReady). It returns ErrShutdown if the node stops first, or an error
// wrapping ctx's error if ctx ends first. It is safe for concurrent use.
func (n *Node) WaitLeader(ctx context.Context) (id, addr string, err error) {
	for {
		v, _, changed := n.lead.get()
		// A leader other than this node, or this node once ready. (Raft may
		// briefly name this node while it is not leader any more.)
		if v.id != "" && (v.ready || (!v.self && v.id != n.cfg.ID)) {
			return v.id, v.addr, nil
		}
		select {
		case <-changed:
		case <-n.stopping:
			return "", "", ErrShutdown
		case <-ctx.Done():
			return "", "", fmt.Errorf("replication: wait for leader: %w", ctx.Err())
		}
	}
}

// VerifyLeader confirms with a quorum that this node is still the leader
// and that its FSM has applied everything committed before it became
// leader (the ready state of IsReady). After it returns nil, reads of the
// FSM reflect every write acknowledged before VerifyLeader was called: a
// linearizable read. It blocks for a round trip to the followers, and, on a
// leader that is not ready yet, until it is. It is safe for concurrent use.
//
// Errors: *NotLeaderError (ErrNotLeader) if this node is not the leader or
// loses leadership meanwhile; ErrShutdown; an error wrapping ctx's error.
func (n *Node) VerifyLeader(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("replication: verify leader: %w", err)
		}
		_, _, changed := n.lead.get()
		if err := n.checkLeader(); err != nil {
			return err
		}
		_, term, _ := n.lead.get()
		if !n.IsReady() {
			select { // wait for the barrier (or a change of leader)
			case <-changed:
				continue
			case <-n.stopping:
				return ErrShutdown
			case <-ctx.Done():
				return fmt.Errorf("replication: verify leader: %w", ctx.Err())
			}
		}
		select {
		case err := <-waitFuture(n.raft.VerifyLeader()):
			switch {
			case err == nil:
			case errors.Is(err, raft.ErrRaftShutdown):
				return ErrShutdown
			case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
				return n.notLeader()
			default:
				return fmt.Errorf("replication: verify leader: %w", err)
			}
		case <-n.stopping:
			return ErrShutdown
		case <-ctx.Done():
			return fmt.Errorf("replication: verify leader: %w", ctx.Err())
		}
		// A quorum confirmed this node as leader. If that was in the term
		// whose barrier made it ready, the FSM has everything committed
		// before; if the term moved on meanwhile, check again.
		if _, now, _ := n.lead.get(); now == term && n.IsReady() {
			return nil
		}
	}
}

// awaitReady blocks until this node is the ready leader (see IsReady: its
// FSM has applied everything committed before its term began) and returns
// the term in which it is. Use readyIn(term) after reading FSM state to
// make sure the node was ready throughout. It is safe for concurrent use.
//
// Errors: *NotLeaderError (ErrNotLeader) if this node is not the leader or
// stops being it while waiting; ErrShutdown; ErrTimeout wrapping ctx's
// error if ctx ends first (nothing was handed to raft: safe to retry).
func (n *Node) awaitReady(ctx context.Context) (uint64, error) {
	for {
		_, _, changed := n.lead.get()
		if err := n.checkLeader(); err != nil {
			return 0, err
		}
		if v, term, _ := n.lead.get(); v.ready && n.IsReady() {
			return term, nil
		}
		select {
		case <-changed:
		case <-n.stopping:
			return 0, ErrShutdown
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: the new leader has not applied its predecessors' entries yet: %w", ErrTimeout, ctx.Err())
		}
	}
}

// readyIn reports whether this node is the ready leader in term still.
func (n *Node) readyIn(term uint64) bool {
	_, t, _ := n.lead.get()
	return t == term && n.IsReady()
}

// barrierResult reports the end of a barrier issued in term.
type barrierResult struct {
	term uint64
	err  error
}

// watchLeadership owns n.lead. It recomputes the view from raft whenever
// raft reports a state or leader change, this node's leadership flips, a
// barrier completes, or a resync tick fires. Raft delivers observations
// without blocking and drops them when the buffer is full; LeaderCh keeps
// the latest value; the tick bounds the staleness left by any dropped
// observation. When this node becomes leader it issues a barrier for the
// term and marks itself ready once the barrier has completed in that same
// term. It returns when the node starts stopping.
func (n *Node) watchLeadership() {
	defer close(n.watchDone)
	obsCh := make(chan raft.Observation, 64)
	obs := raft.NewObserver(obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	n.raft.RegisterObserver(obs)
	defer n.raft.DeregisterObserver(obs)
	tick := time.NewTicker(max(n.cfg.HeartbeatTimeout, 50*time.Millisecond))
	defer tick.Stop()

	barriers := make(chan barrierResult, 1)
	var (
		barrierTerm  uint64 // term of the barrier in flight or done; 0 = none
		barrierRetry bool   // the barrier of barrierTerm failed; retry on tick
		readyTerm    uint64 // term whose barrier completed; 0 = none
	)
	for {
		// Bracket the state with two term reads: if both agree, this
		// node was leader in exactly that term.
		term := n.raft.CurrentTerm()
		leader := n.raft.State() == raft.Leader
		stable := term == n.raft.CurrentTerm()
		if leader && stable && barrierTerm != term {
			barrierTerm = term
			go n.barrier(term, barriers)
		}
		v := leaderView{self: leader}
		v.id, v.addr = n.Leader()
		v.ready = leader && stable && readyTerm == term
		if !v.ready {
			readyTerm = 0
		}
		n.lead.publish(v, readyTerm)

		select {
		case <-n.stopping:
			n.lead.publish(leaderView{}, 0)
			return
		case <-obsCh:
		case <-n.raft.LeaderCh():
		case <-tick.C:
			if barrierRetry {
				barrierTerm, barrierRetry = 0, false
			}
		case r := <-barriers:
			switch {
			case r.err == nil && r.term == n.raft.CurrentTerm():
				readyTerm = r.term
			case r.err != nil && r.term == barrierTerm:
				// E.g. a leadership transfer is in progress. Retrying at
				// once could spin; the next tick retries if still leader.
				n.logger.Debug("replication: leader barrier failed", "term", r.term, "err", r.err)
				barrierRetry = true
			}
		}
	}
}

// barrier waits until every entry before a new barrier entry is applied,
// then reports to results unless the node is stopping.
func (n *Node) barrier(term uint64, results chan<- barrierResult) {
	f := n.raft.Barrier(0)
	var err error
	select {
	case err = <-waitFuture(f):
	case <-n.stopping:
		return
	}
	select {
	case results <- barrierResult{term: term, err: err}:
	case <-n.stopping:
	}
}
