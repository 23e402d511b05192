package broker

import (
	"context"
	"fmt"

	"github.com/minibroker/minibroker/internal/wire"
	"github.com/minibroker/minibroker/replication"
)

// Request handlers of CommitOffsets and FetchOffsets. Commits do not pass
// through the coordinator goroutine: they are fenced where they are
// applied (the FSM checks generation, membership and ownership), so they
// are exact even while a rebalance is being proposed.

// maxCommitMetadata bounds the metadata string of one committed offset
// (Kafka's default limit).
const maxCommitMetadata = 4096

// commitOffsets serves a CommitOffsets through Raft.
func (b *Broker) commitOffsets(ctx context.Context, req *wire.CommitOffsetsRequest) wire.CommitOffsetsResponse {
	cmd := replication.CommitOffsetsCmd{Group: req.Group, MemberID: req.MemberID, Generation: req.Generation}
	for _, o := range req.Offsets {
		if len(o.Metadata) > maxCommitMetadata {
			err := wire.Err(wire.CodeInvalidGroup, fmt.Sprintf("commit metadata of %d bytes for %s/%d exceeds %d", len(o.Metadata), o.Topic, o.Partition, maxCommitMetadata))
			return wire.CommitOffsetsResponse{ErrorCode: codeOf(err), ErrorMessage: err.Error()}
		}
		cmd.Offsets = append(cmd.Offsets, replication.OffsetCommit{
			Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, Metadata: o.Metadata,
		})
	}
	if len(cmd.Offsets) == 0 {
		return wire.CommitOffsetsResponse{}
	}
	errs, err := b.store.CommitOffsets(ctx, cmd)
	if err != nil {
		return wire.CommitOffsetsResponse{ErrorCode: codeOf(err), ErrorMessage: b.errText(err)}
	}
	resp := wire.CommitOffsetsResponse{Results: make([]wire.PartitionResult, len(req.Offsets))}
	for i, o := range req.Offsets {
		r := wire.PartitionResult{Topic: o.Topic, Partition: o.Partition}
		if i < len(errs) && errs[i] != nil {
			r.ErrorCode, r.ErrorMessage = codeOf(errs[i]), errs[i].Error()
		}
		resp.Results[i] = r
	}
	return resp
}

// fetchOffsets serves a FetchOffsets: after confirming leadership with a
// quorum, so that no commit acknowledged before the request is missing.
func (b *Broker) fetchOffsets(ctx context.Context, req *wire.FetchOffsetsRequest) wire.FetchOffsetsResponse {
	if err := b.store.VerifyLeader(ctx); err != nil {
		return wire.FetchOffsetsResponse{ErrorCode: codeOf(err), ErrorMessage: b.errText(err)}
	}
	fsm := b.store.FSM()
	var resp wire.FetchOffsetsResponse
	if len(req.Partitions) == 0 {
		for _, o := range fsm.GroupOffsets(req.Group) {
			resp.Offsets = append(resp.Offsets, wire.PartitionOffset{
				Topic: o.Topic, Partition: o.Partition, Offset: o.Offset, Metadata: o.Metadata,
			})
		}
		return resp
	}
	for _, tp := range req.Partitions {
		for _, p := range tp.Partitions {
			po := wire.PartitionOffset{Topic: tp.Topic, Partition: p, Offset: wire.NoOffset}
			if co, ok := fsm.CommittedOffset(req.Group, tp.Topic, p); ok {
				po.Offset, po.Metadata = co.Offset, co.Metadata
			}
			resp.Offsets = append(resp.Offsets, po)
		}
	}
	return resp
}
