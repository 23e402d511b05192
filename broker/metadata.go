package broker

import (
	"context"

	"github.com/minibroker/minibroker/internal/wire"
)

// metadata answers with this node's view: the nodes and their client
// addresses (registered through Raft), the leader, and the topics asked
// for (all when none are named) with each partition's offsets.
func (b *Broker) metadata(req *wire.MetadataRequest) wire.MetadataResponse {
	f := b.store.FSM()
	var resp wire.MetadataResponse
	if !b.replayed() {
		err := b.errReplaying()
		resp.ErrorCode, resp.ErrorMessage = codeOf(err), b.errText(err)
		return resp
	}
	resp.LeaderID, _ = b.store.Node().Leader()
	for _, n := range f.Nodes() {
		resp.Nodes = append(resp.Nodes, wire.Node{ID: n.ID, Addr: n.Addr})
	}
	names := req.Topics
	if len(names) == 0 {
		for _, t := range f.Topics() {
			names = append(names, t.Name)
		}
	}
	for _, name := range names {
		tm := wire.TopicMetadata{Name: name}
		t, ok := f.Topic(name)
		if !ok {
			tm.ErrorCode = wire.CodeUnknownTopic
			resp.Topics = append(resp.Topics, tm)
			continue
		}
		for p := int32(0); p < t.Partitions; p++ {
			start, end, err := f.Offsets(name, p)
			if err != nil { // deleted meanwhile
				tm.ErrorCode = codeOf(err)
				break
			}
			tm.Partitions = append(tm.Partitions, wire.PartitionMetadata{Partition: p, StartOffset: start, HighWatermark: end})
		}
		resp.Topics = append(resp.Topics, tm)
	}
	return resp
}

// leaderClientAddr returns the leader's id and client address as this node
// knows them ("" when unknown).
func (b *Broker) leaderClientAddr() (id, addr string) {
	id, _ = b.store.Node().Leader()
	if id == "" {
		return "", ""
	}
	for _, n := range b.store.FSM().Nodes() {
		if n.ID == id {
			return id, n.Addr
		}
	}
	return id, ""
}

// listOffsets answers the earliest or latest offset of a partition: from
// this node's state, or, if req.Leader, only on the leader after a quorum
// confirmed it (a linearizable read: nothing committed before the request
// is missing). It blocks for that confirmation.
func (b *Broker) listOffsets(ctx context.Context, req *wire.ListOffsetsRequest) wire.ListOffsetsResponse {
	if req.Leader {
		if err := b.store.VerifyLeader(ctx); err != nil {
			return wire.ListOffsetsResponse{ErrorCode: codeOf(err), ErrorMessage: b.errText(err)}
		}
	}
	start, end, err := b.store.FSM().Offsets(req.Topic, req.Partition)
	if err != nil {
		return wire.ListOffsetsResponse{ErrorCode: codeOf(err), ErrorMessage: err.Error()}
	}
	switch req.Which {
	case wire.Earliest:
		return wire.ListOffsetsResponse{Offset: start}
	case wire.Latest:
		return wire.ListOffsetsResponse{Offset: end}
	}
	return wire.ListOffsetsResponse{ErrorCode: wire.CodeMalformed,
		ErrorMessage: "ListOffsets: Which must be Earliest (-2) or Latest (-1)"}
}
