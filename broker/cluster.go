package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/minibroker/minibroker/internal/wire"
	"github.com/minibroker/minibroker/replication"
)

// describeCluster answers with this node's view of the Raft cluster: the
// members of the latest configuration it knows (with their registered
// client addresses), the leader it knows and its own Raft indexes. Any
// node answers; the client asks the leader.
func (b *Broker) describeCluster() wire.DescribeClusterResponse {
	node := b.store.Node()
	servers, err := node.Servers()
	if err != nil {
		return wire.DescribeClusterResponse{ErrorCode: codeOf(err), ErrorMessage: err.Error()}
	}
	st := node.Stats()
	leaderID, _ := node.Leader()
	resp := wire.DescribeClusterResponse{
		NodeID: b.id, LeaderID: leaderID, Term: st.Term, CommitIndex: st.CommitIndex,
		AppliedIndex: st.AppliedIndex, LastLogIndex: st.LastLogIndex,
	}
	nodes := map[string]replication.NodeAddr{}
	for _, n := range b.store.FSM().Nodes() {
		nodes[n.ID] = n
	}
	for _, s := range servers {
		n := nodes[s.ID]
		num, _ := b.store.FSM().NodeNum(s.ID)
		resp.Nodes = append(resp.Nodes, wire.ClusterNode{
			ID: s.ID, Addr: n.Addr, RaftAddr: s.Addr, Voter: s.Voter, Leader: s.ID == leaderID,
			KafkaAddr: n.KafkaAddr, Num: num,
		})
	}
	slices.SortFunc(resp.Nodes, func(a, b wire.ClusterNode) int { return strings.Compare(a.ID, b.ID) })
	return resp
}

// removeNode removes a node from the Raft configuration and forgets its
// client address (leader only). Both steps are idempotent, so a retry
// after an unknown outcome completes what the first attempt began; an id
// that is in neither is CodeUnknownNode. The last voter cannot be removed.
// Removing the leader itself is allowed: it forgets its own address first,
// then leaves the configuration and steps down; the others elect a new
// leader.
func (b *Broker) removeNode(ctx context.Context, req *wire.RemoveNodeRequest) wire.RemoveNodeResponse {
	fail := func(err error) wire.RemoveNodeResponse {
		resp := wire.RemoveNodeResponse{ErrorCode: codeOf(err), ErrorMessage: b.errText(err)}
		resp.LeaderID, resp.LeaderAddr = b.leaderClientAddr()
		return resp
	}
	if req.ID == "" {
		return fail(wire.Err(wire.CodeMalformed, "RemoveNode needs an ID"))
	}
	node := b.store.Node()
	if !node.IsReady() {
		return fail(fmt.Errorf("remove node %s: %w", req.ID, replication.ErrNotLeader))
	}
	servers, err := node.Servers()
	if err != nil {
		return fail(err)
	}
	member := slices.ContainsFunc(servers, func(s replication.Server) bool { return s.ID == req.ID })
	voters := countVoters(servers)
	_, registered := b.registeredAddr(req.ID)
	switch {
	case !member && !registered:
		return fail(wire.Err(wire.CodeUnknownNode, fmt.Sprintf("node %q is not in the cluster", req.ID)))
	case member && voters == 1 && isVoter(servers, req.ID):
		return fail(wire.Err(wire.CodeMalformed, fmt.Sprintf("node %q is the only voter; it cannot be removed", req.ID)))
	}
	unregister := func() error {
		if !registered {
			return nil
		}
		return b.store.RegisterNode(ctx, req.ID, "", "")
	}
	if req.ID == b.id {
		// After leaving the configuration this node cannot commit anything,
		// so it forgets its address first, and stops its registrar from
		// registering it again meanwhile.
		b.leaving.Store(true)
		if err := unregister(); err != nil {
			b.leaving.Store(false)
			return fail(err)
		}
		if err := node.RemoveServer(ctx, req.ID); err != nil {
			// Refused, or outcome unknown: the registrar may register this
			// node again while it is still a member.
			b.leaving.Store(false)
			return fail(err)
		}
	} else {
		if err := node.RemoveServer(ctx, req.ID); err != nil {
			return fail(err)
		}
		if err := unregister(); err != nil {
			return fail(err)
		}
	}
	b.logger.Info("node removed", "id", req.ID)
	return wire.RemoveNodeResponse{}
}

// countVoters returns how many of servers vote.
func countVoters(servers []replication.Server) int {
	n := 0
	for _, s := range servers {
		if s.Voter {
			n++
		}
	}
	return n
}

func isVoter(servers []replication.Server, id string) bool {
	for _, s := range servers {
		if s.ID == id {
			return s.Voter
		}
	}
	return false
}

// registeredAddr returns node id's registered client address, if any.
func (b *Broker) registeredAddr(id string) (string, bool) {
	n, ok := b.registeredNode(id)
	return n.Addr, ok
}

// registeredNode returns what the cluster has registered for node id.
func (b *Broker) registeredNode(id string) (replication.NodeAddr, bool) {
	for _, n := range b.store.FSM().Nodes() {
		if n.ID == id {
			return n, true
		}
	}
	return replication.NodeAddr{}, false
}

// isMember reports whether this node is in the latest Raft configuration
// it knows. A node removed from the cluster learns that (best effort) from
// the leader's last replication to it.
func (b *Broker) isMember() bool {
	_, member := b.selfInConfig()
	return member
}

// selfInConfig returns the Raft address the latest configuration this
// node knows records for it, and whether it is in that configuration.
func (b *Broker) selfInConfig() (raftAddr string, member bool) {
	servers, err := b.store.Node().Servers()
	if err != nil {
		return "", false
	}
	for _, s := range servers {
		if s.ID == b.id {
			return s.Addr, true
		}
	}
	return "", false
}
