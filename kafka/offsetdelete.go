package kafka

import (
	"context"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/replication"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleOffsetDelete deletes some of a group's committed offsets through
// Raft. A partition of a topic a member subscribes to is kept
// (GROUP_SUBSCRIBED_TO_TOPIC); a group with members whose subscriptions
// are not the consumer protocol's is refused (NON_EMPTY_GROUP); an
// unknown group is GROUP_ID_NOT_FOUND.
func handleOffsetDelete(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	var topics []string
	for _, t := range req.Topics {
		topics = append(topics, t.Topic)
	}
	_, active := c.s.groups.hasMembers(req.Group)
	subscribed, opaque := c.s.groups.subscribed(req.Group, topics)
	known := false
	for _, n := range c.s.store.FSM().GroupNames() {
		known = known || n == req.Group
	}
	switch {
	case c.groupCode(auth.OpDelete, req.Group) != codeNone:
		resp.ErrorCode = codeGroupAuthorizationFailed
	case !active:
		resp.ErrorCode = codeNotCoordinator
	case replication.ValidateGroupName(req.Group) != nil:
		resp.ErrorCode = codeInvalidGroupID
	case opaque:
		resp.ErrorCode = codeNonEmptyGroup
	case !known:
		resp.ErrorCode = codeGroupIDNotFound
	}
	if resp.ErrorCode != codeNone {
		sl.finish(resp)
		return
	}
	cmd := replication.DeleteOffsetsCmd{Group: req.Group}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		tp := replication.TopicPartitions{Topic: t.Topic}
		_, topicErr := c.s.store.FSM().Topic(t.Topic)
		readable := c.topicAllowed(auth.OpRead, t.Topic)
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case !readable:
				rp.ErrorCode = codeTopicAuthorizationFailed
			case subscribed[t.Topic]:
				rp.ErrorCode = codeGroupSubscribedToTopic
			case !topicErr:
				rp.ErrorCode = codeUnknownTopicOrPartition
			default:
				tp.Partitions = append(tp.Partitions, p.Partition)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(tp.Partitions) > 0 {
			cmd.Partitions = append(cmd.Partitions, tp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(cmd.Partitions) == 0 {
		sl.finish(resp)
		return
	}
	c.async(func() {
		ctx, cancel := context.WithTimeout(c.ctx, groupOpTimeout)
		defer cancel()
		if err := c.s.store.DeleteOffsets(ctx, cmd); err != nil {
			resp.ErrorCode = groupCode(err)
		}
		sl.finish(resp)
	})
}
