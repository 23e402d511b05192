package broker

import (
	"context"
	"fmt"

	"github.com/minibroker/minibroker/internal/wire"
	"github.com/minibroker/minibroker/replication"
)

// createTopic creates a topic through Raft (leader only).
func (b *Broker) createTopic(ctx context.Context, req *wire.CreateTopicRequest) wire.CreateTopicResponse {
	cfg := replication.TopicConfig{
		RetentionBytes: max(req.Config.RetentionBytes, 0), // negative: no limit
		RetentionMs:    max(req.Config.RetentionMs, 0),
		SegmentBytes:   req.Config.SegmentBytes,
	}
	err := b.store.CreateTopic(ctx, req.Name, req.Partitions, cfg)
	return wire.CreateTopicResponse{ErrorCode: codeOf(err), ErrorMessage: b.errText(err)}
}

// deleteTopic deletes a topic through Raft (leader only).
func (b *Broker) deleteTopic(ctx context.Context, req *wire.DeleteTopicRequest) wire.DeleteTopicResponse {
	err := b.store.DeleteTopic(ctx, req.Name)
	return wire.DeleteTopicResponse{ErrorCode: codeOf(err), ErrorMessage: b.errText(err)}
}

// errText is an error's message for a response; a NotLeader error names
// the leader's client address so a client can redirect.
func (b *Broker) errText(err error) string {
	if err == nil {
		return ""
	}
	if codeOf(err) == wire.CodeNotLeader {
		if id, addr := b.leaderClientAddr(); addr != "" {
			return fmt.Sprintf("not the leader; the leader is %s at %s", id, addr)
		}
	}
	return err.Error()
}

// joinCluster adds a node as a voter and records its client address. Both
// steps are idempotent, so a node may ask again after a restart.
func (b *Broker) joinCluster(ctx context.Context, req *wire.JoinClusterRequest) wire.JoinClusterResponse {
	fail := func(err error) wire.JoinClusterResponse {
		resp := wire.JoinClusterResponse{ErrorCode: codeOf(err), ErrorMessage: b.errText(err)}
		resp.LeaderID, resp.LeaderAddr = b.leaderClientAddr()
		return resp
	}
	if req.ID == "" || req.RaftAddr == "" || req.ClientAddr == "" {
		return fail(wire.Err(wire.CodeMalformed, "JoinCluster needs ID, RaftAddr and ClientAddr"))
	}
	if err := b.store.Node().AddVoter(ctx, req.ID, req.RaftAddr); err != nil {
		return fail(err)
	}
	if err := b.store.RegisterNode(ctx, req.ID, req.ClientAddr, req.KafkaAddr); err != nil {
		return fail(err)
	}
	b.logger.Info("node joined", "id", req.ID, "raft_addr", req.RaftAddr, "client_addr", req.ClientAddr, "kafka_addr", req.KafkaAddr)
	return wire.JoinClusterResponse{}
}
