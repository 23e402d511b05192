package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/replication"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOpTimeout bounds an OffsetCommit, DeleteGroups or OffsetDelete.
const groupOpTimeout = 10 * time.Second

// handleOffsetCommit commits offsets through Raft, fenced by the group's
// membership: the coordinator checks first (REBALANCE_IN_PROGRESS between
// the join phase and the recorded assignment, FENCED_INSTANCE_ID,
// UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION), then Apply checks against the
// replicated group. A commit without a generation (v0, or generation -1
// and no member id) is accepted only while the group has no members.
// Partitions are not checked against assignments (Kafka's are opaque to
// the broker) and offsets may go backward, as in Kafka.
func handleOffsetCommit(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	gen, member := req.Generation, req.MemberID
	if req.Version == 0 {
		gen, member = -1, ""
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	setAll := func(code int16) {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
	}
	if code := c.groupCode(auth.OpRead, req.Group); code != codeNone {
		setAll(code)
		sl.finish(resp)
		return
	}
	inst := deref(req.InstanceID)
	if code := c.s.groups.checkCommit(req.Group, member, inst, gen); code != codeNone {
		setAll(code)
		sl.finish(resp)
		return
	}
	cmd := replication.CommitOffsetsCmd{Group: req.Group, MemberID: member, Generation: gen, Kafka: true, InstanceID: inst}
	type where struct{ t, p int }
	var at []where
	for i, t := range req.Topics {
		readable := c.topicAllowed(auth.OpRead, t.Topic)
		for j, p := range t.Partitions {
			md := deref(p.Metadata)
			if !readable {
				resp.Topics[i].Partitions[j].ErrorCode = codeTopicAuthorizationFailed
				continue
			}
			if len(md) > maxOffsetMetadata {
				resp.Topics[i].Partitions[j].ErrorCode = codeOffsetMetadataTooLarge
				continue
			}
			cmd.Offsets = append(cmd.Offsets, replication.OffsetCommit{Topic: t.Topic, Partition: p.Partition, Offset: p.Offset, Metadata: md})
			at = append(at, where{i, j})
		}
	}
	if len(cmd.Offsets) == 0 {
		sl.finish(resp)
		return
	}
	c.async(func() {
		ctx, cancel := context.WithTimeout(c.ctx, groupOpTimeout)
		defer cancel()
		errs, err := c.s.store.CommitOffsets(ctx, cmd)
		for k, w := range at {
			e := err
			if e == nil {
				e = errs[k]
			}
			resp.Topics[w.t].Partitions[w.p].ErrorCode = groupCode(e)
		}
		sl.finish(resp)
	})
}

// groupCode maps an error of a group operation to its Kafka code: Raft
// trouble means the coordinator moved (NOT_COORDINATOR, which clients
// answer by finding it again), a standalone commit to a group with
// members is UNKNOWN_MEMBER_ID as in Kafka, the rest as codeOf.
func groupCode(err error) int16 {
	switch {
	case err == nil:
		return codeNone
	case errors.Is(err, replication.ErrOutcomeUnknown):
		return codeRequestTimedOut
	case errors.Is(err, replication.ErrNotLeader), errors.Is(err, replication.ErrShutdown),
		errors.Is(err, replication.ErrTimeout), errors.Is(err, context.Canceled):
		return codeNotCoordinator
	case errors.Is(err, replication.ErrGroupNotEmpty):
		return codeUnknownMemberID
	}
	return codeOf(err)
}
