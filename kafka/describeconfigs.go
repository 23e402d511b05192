package kafka

import (
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	mlog "github.com/minibroker/minibroker/log"
)

// handleDescribeConfigs describes topics (retention.ms, retention.bytes,
// segment.bytes, cleanup.policy) and this broker (the limits and defaults
// it has), read-only: there is no AlterConfigs. A broker resource names
// this node's Kafka id or "" (the cluster default); another node's id is
// INVALID_REQUEST (ask that node, as Kafka wants).
func handleDescribeConfigs(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, r := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = r.ResourceType, r.ResourceName
		if code := c.describeConfigsCode(r); code != codeNone {
			rr.ErrorCode = code
			resp.Resources = append(resp.Resources, rr)
			continue
		}
		entries, err := c.s.configEntries(r)
		if err != nil {
			rr.ErrorCode, rr.ErrorMessage = codeOf(err), errMessage(err)
			resp.Resources = append(resp.Resources, rr)
			continue
		}
		want := map[string]bool{}
		for _, n := range r.ConfigNames {
			want[n] = true
		}
		for _, e := range entries {
			if r.ConfigNames != nil && !want[e.name] {
				continue
			}
			rc := kmsg.NewDescribeConfigsResponseResourceConfig()
			v := e.value
			rc.Name, rc.Value, rc.ReadOnly, rc.IsDefault = e.name, &v, true, e.isDefault
			rc.Source = kmsg.ConfigSourceDefaultConfig
			if !e.isDefault {
				rc.Source = kmsg.ConfigSourceDynamicTopicConfig
				if r.ResourceType == kmsg.ConfigResourceTypeBroker {
					rc.Source = kmsg.ConfigSourceStaticBrokerConfig
				}
			}
			rc.ConfigType = kmsg.ConfigTypeString
			if e.long {
				rc.ConfigType = kmsg.ConfigTypeLong
			}
			rr.Configs = append(rr.Configs, rc)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	sl.finish(resp)
}

// configEntries lists one resource's configs.
func (s *Server) configEntries(r kmsg.DescribeConfigsRequestResource) ([]topicConfigEntry, error) {
	switch r.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		t, ok := s.store.FSM().Topic(r.ResourceName)
		if !ok {
			return nil, kerr(codeUnknownTopicOrPartition, fmt.Sprintf("topic %q does not exist", r.ResourceName))
		}
		return topicConfigEntries(t.Config), nil
	case kmsg.ConfigResourceTypeBroker:
		self, _ := s.store.FSM().NodeNum(s.cfg.NodeID)
		if r.ResourceName != "" && r.ResourceName != strconv.Itoa(int(self)) {
			return nil, kerr(codeInvalidRequest, fmt.Sprintf("broker %q: this is broker %d; ask that broker", r.ResourceName, self))
		}
		b := func(v bool) string { return strconv.FormatBool(v) }
		n := func(v int64) string { return strconv.FormatInt(v, 10) }
		return []topicConfigEntry{
			{"auto.create.topics.enable", b(s.cfg.AutoCreateTopics), !s.cfg.AutoCreateTopics, false},
			{"broker.id", n(int64(self)), false, true},
			{"log.retention.bytes", "-1", true, true},
			{"log.retention.ms", "-1", true, true},
			{"log.segment.bytes", n(mlog.DefaultSegmentBytes), true, true},
			{"message.max.bytes", n(int64(s.cfg.MaxMessageBytes)), s.cfg.MaxMessageBytes == DefaultMaxMessageBytes, true},
			{"num.partitions", n(int64(s.cfg.DefaultPartitions)), s.cfg.DefaultPartitions == DefaultDefaultPartitions, true},
			{"socket.request.max.bytes", n(int64(s.cfg.MaxFrameBytes)), s.cfg.MaxFrameBytes == DefaultMaxFrameBytes, true},
		}, nil
	}
	return nil, kerr(codeInvalidRequest, fmt.Sprintf("resource type %d: only topics (2) and brokers (4) are described", r.ResourceType))
}
