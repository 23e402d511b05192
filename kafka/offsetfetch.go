package kafka

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
)

// handleOffsetFetch returns a group's committed offsets (-1 for a
// partition without one) on the coordinator, after confirming its
// leadership with a quorum (so it never misses an acknowledged commit);
// other nodes answer NOT_COORDINATOR. Null topics (v2+) means every
// committed offset. v8+ (several groups) is not served.
func handleOffsetFetch(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	if code := c.groupCode(auth.OpDescribe, req.Group); code != codeNone {
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = code
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		sl.finish(resp)
		return
	}
	c.async(func() {
		ctx, cancel := context.WithTimeout(c.ctx, groupOpTimeout)
		defer cancel()
		_, active := c.s.groups.hasMembers(req.Group)
		if active && c.s.store.VerifyLeader(ctx) != nil {
			active = false
		}
		sl.finish(offsetFetchResponse(c, req, active))
	})
}

// offsetFetchResponse reads the committed offsets asked for.
func offsetFetchResponse(c *conn, req *kmsg.OffsetFetchRequest, active bool) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	type key struct {
		t string
		p int32
	}
	committed := map[key]offsetMeta{}
	var all []key
	if active {
		for _, o := range c.s.store.FSM().GroupOffsets(req.Group) {
			k := key{o.Topic, o.Partition}
			committed[k] = offsetMeta{o.Offset, o.Metadata}
			all = append(all, k)
		}
	}
	code := codeNone
	if !active {
		code = codeNotCoordinator
		resp.ErrorCode = code
	}
	add := func(topic string, parts []int32) {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = topic
		for _, p := range parts {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, code
			md := ""
			if om, ok := committed[key{topic, p}]; ok {
				rp.Offset, md = om.offset, om.metadata
			}
			rp.Metadata = &md
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if req.Topics == nil && req.Version >= 2 {
		sort.Slice(all, func(i, j int) bool {
			return all[i].t < all[j].t || (all[i].t == all[j].t && all[i].p < all[j].p)
		})
		for i := 0; i < len(all); {
			j := i
			var parts []int32
			for ; j < len(all) && all[j].t == all[i].t; j++ {
				parts = append(parts, all[j].p)
			}
			if c.topicAllowed(auth.OpDescribe, all[i].t) {
				add(all[i].t, parts)
			}
			i = j
		}
	} else {
		for _, t := range req.Topics {
			add(t.Topic, t.Partitions)
			if !c.topicAllowed(auth.OpDescribe, t.Topic) {
				rt := &resp.Topics[len(resp.Topics)-1]
				for i := range rt.Partitions {
					rt.Partitions[i].Offset, rt.Partitions[i].ErrorCode = -1, codeTopicAuthorizationFailed
					md := ""
					rt.Partitions[i].Metadata = &md
				}
			}
		}
	}
	return resp
}

type offsetMeta struct {
	offset   int64
	metadata string
}
