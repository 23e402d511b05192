package replication

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"
)

// Server is one member of the raft configuration.
type Server struct {
	ID    string
	Addr  string // raft address
	Voter bool   // false for non-voters and servers being promoted
}

// AddVoter adds server id at raft address addr as a voter, or updates its
// address if it is already a member. It is a no-op if id is already a voter
// at addr. It must run on the leader. It blocks until the configuration
// change is committed or ctx ends; the new server catches up afterwards.
// Raft takes one change at a time and only a timeout for queueing it, so
// while another change is pending only ctx's deadline (not a cancellation)
// ends the wait.
//
// Errors: *NotLeaderError (ErrNotLeader); ErrShutdown; ErrTimeout if raft
// did not take the change before ctx's deadline (another change was still
// pending); ErrOutcomeUnknown if the change was handed to raft but ctx
// ended or leadership was lost before it committed.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	if id == "" || addr == "" {
		return fmt.Errorf("replication: add voter: id %q and address %q must not be empty", id, addr)
	}
	if err := n.checkLeader(); err != nil {
		return err
	}
	servers, err := n.Servers()
	if err != nil {
		return err
	}
	for _, s := range servers {
		if s.ID == id && s.Addr == addr && s.Voter {
			return nil
		}
	}
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return fmt.Errorf("replication: add voter: %w", err)
	}
	f := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	return n.await(ctx, "add voter", f)
}

// RemoveServer removes server id from the configuration. It is a no-op if id
// is not a member. It must run on the leader; removing the leader itself
// makes it step down (it keeps running, outside the configuration, until
// closed). It blocks until the change is committed or ctx ends. Errors are
// those of AddVoter.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if err := n.checkLeader(); err != nil {
		return err
	}
	servers, err := n.Servers()
	if err != nil {
		return err
	}
	member := false
	for _, s := range servers {
		member = member || s.ID == id
	}
	if !member {
		return nil
	}
	timeout, err := enqueueTimeout(ctx)
	if err != nil {
		return fmt.Errorf("replication: remove server: %w", err)
	}
	f := n.raft.RemoveServer(raft.ServerID(id), 0, timeout)
	return n.await(ctx, "remove server", f)
}

// Servers returns the latest raft configuration this node knows, which may
// not be committed yet. It does not block. It returns ErrShutdown after
// Close.
func (n *Node) Servers() ([]Server, error) {
	if n.isStopping() {
		return nil, ErrShutdown
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, n.raftErr("get configuration", err, false)
	}
	cfg := f.Configuration()
	out := make([]Server, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		out = append(out, Server{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return out, nil
}

// LeadershipTransfer hands leadership to the most up-to-date voter, e.g.
// before a graceful shutdown. It must run on the leader. It blocks until
// this node has stepped down, raft gives up (after about ElectionTimeout),
// or ctx ends. While the transfer runs, Apply on this node returns
// *NotLeaderError.
//
// Errors: *NotLeaderError (ErrNotLeader); ErrShutdown; ErrTimeout if
// another transfer is still queued; ErrOutcomeUnknown if ctx ended first;
// otherwise raft's wrapped error (e.g. no other voter).
func (n *Node) LeadershipTransfer(ctx context.Context) error {
	if err := n.checkLeader(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("replication: leadership transfer: %w", err)
	}
	return n.await(ctx, "leadership transfer", n.raft.LeadershipTransfer())
}

// await waits for a raft future with ctx and the node's shutdown.
func (n *Node) await(ctx context.Context, op string, f raft.Future) error {
	if !pending(f) {
		return n.raftErr(op, f.Error(), false)
	}
	select {
	case err := <-waitFuture(f):
		if err != nil {
			return n.raftErr(op, err, true)
		}
		return nil
	case <-ctx.Done():
		return n.unknown(op, ctx.Err())
	case <-n.stopping:
		return n.unknown(op, ErrShutdown)
	}
}
