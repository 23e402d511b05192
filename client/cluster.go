package client

import (
	"context"
	"fmt"

	"github.com/minibroker/minibroker/internal/wire"
)

// ClusterStatus is the Raft cluster as one node (the leader, see
// Client.ClusterStatus) sees it.
type ClusterStatus struct {
	// AnsweredBy is the id of the node that answered.
	AnsweredBy string
	// LeaderID is the leader that node knows of ("" while none is known).
	LeaderID string
	// The answering node's Raft state: its current term, the highest log
	// index it knows committed, the highest applied to its state machine,
	// and the last index in its log.
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
	LastLogIndex uint64
	// Nodes are the members of the Raft configuration, sorted by ID.
	Nodes []NodeStatus
}

// NodeStatus is one member of the cluster's Raft configuration.
type NodeStatus struct {
	ID string
	// Addr is the node's client address (host:port); empty if it has not
	// registered one.
	Addr string
	// RaftAddr is the address of its Raft transport.
	RaftAddr string
	// Voter is true for a voting member, false for a non-voter (it
	// replicates but does not count towards a quorum).
	Voter bool
	// Leader is true for the leader.
	Leader bool
	// KafkaAddr is the node's Kafka listener address; empty if it serves
	// none or has not registered.
	KafkaAddr string
	// Num is the node's numeric id, its broker id for Kafka clients; 0 if
	// it has not registered.
	Num int32
}

// Leader returns the status of the leader and true, or false while no
// leader is known.
func (s ClusterStatus) Leader() (NodeStatus, bool) {
	for _, n := range s.Nodes {
		if n.Leader {
			return n, true
		}
	}
	return NodeStatus{}, false
}

// ClusterStatus asks the leader for the cluster's Raft configuration and
// state. It blocks until answered, retrying retriable errors (no leader
// during an election, a lost connection) with backoff while ctx allows.
// Errors: ErrClosed, ctx's error, or the last retriable error (such as
// ErrNoLeader). Safe for concurrent use.
func (cl *Client) ClusterStatus(ctx context.Context) (ClusterStatus, error) {
	resp := new(wire.DescribeClusterResponse)
	// Any node answers DescribeCluster; if the node this client took for
	// the leader answers that another one leads, learn the new leader and
	// ask it (once).
	for attempt := 0; ; attempt++ {
		err := cl.do(ctx, leaderRead, wire.DescribeCluster, &wire.DescribeClusterRequest{}, resp, cl.cfg.RequestTimeout)
		if err != nil {
			return ClusterStatus{}, fmt.Errorf("minibroker: cluster status: %w", err)
		}
		if resp.LeaderID == "" || resp.LeaderID == resp.NodeID || attempt == 1 {
			break
		}
		if addr := leaderAddrIn(resp); addr != "" {
			cl.redirect(resp.LeaderID, addr) // the answer names the leader's address
		} else if err := cl.refreshMetadata(ctx); err != nil {
			break // keep this node's view
		}
	}
	return clusterStatusOf(resp), nil
}

// clusterStatusOf is a DescribeCluster answer as a ClusterStatus.
func clusterStatusOf(resp *wire.DescribeClusterResponse) ClusterStatus {
	st := ClusterStatus{
		AnsweredBy: resp.NodeID, LeaderID: resp.LeaderID, Term: resp.Term, CommitIndex: resp.CommitIndex,
		AppliedIndex: resp.AppliedIndex, LastLogIndex: resp.LastLogIndex,
		Nodes: make([]NodeStatus, 0, len(resp.Nodes)),
	}
	for _, n := range resp.Nodes {
		st.Nodes = append(st.Nodes, NodeStatus{ID: n.ID, Addr: n.Addr, RaftAddr: n.RaftAddr, Voter: n.Voter, Leader: n.Leader,
			KafkaAddr: n.KafkaAddr, Num: n.Num})
	}
	return st
}

// RemoveNode asks the leader to remove node id from the cluster: from the
// Raft configuration and from the registered client addresses, so clients
// stop being sent to it. Use it to retire a node for good (its id is not
// to be used again); a node that is only down for a while needs nothing.
// A removed node that still runs stays out of the cluster; stop it. The
// leader may remove itself: it steps down and the others elect a new
// leader. The cluster's last voter cannot be removed (ErrMalformed).
//
// It blocks until the change is committed, following leader changes and
// retrying retriable errors with backoff while ctx allows. Errors:
// ErrUnknownNode for an id not in the cluster, ErrClosed, ctx's error, or
// the last retriable error. If an attempt's outcome was unknown (lost
// connection, leadership lost), the error also matches ErrOutcomeUnknown:
// an ErrUnknownNode may then mean this call's own earlier attempt removed
// it. Safe for concurrent use.
func (cl *Client) RemoveNode(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("minibroker: remove node: empty id: %w", ErrMalformed)
	}
	err := cl.do(ctx, leaderWrite, wire.RemoveNode, &wire.RemoveNodeRequest{ID: id}, new(wire.RemoveNodeResponse), cl.cfg.RequestTimeout)
	if err != nil {
		return fmt.Errorf("minibroker: remove node %q: %w", id, err)
	}
	return nil
}

// leaderAddrIn returns the client address resp gives for its leader, or "".
func leaderAddrIn(resp *wire.DescribeClusterResponse) string {
	for _, n := range resp.Nodes {
		if n.ID == resp.LeaderID {
			return n.Addr
		}
	}
	return ""
}
