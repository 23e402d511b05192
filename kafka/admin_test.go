package kafka_test

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/broker"
)

func createTopics(t *testing.T, k *kconn, validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) []kmsg.CreateTopicsResponseTopic {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(5)
	req.TimeoutMillis, req.ValidateOnly, req.Topics = 10000, validateOnly, topics
	return k.do(req).(*kmsg.CreateTopicsResponse).Topics
}

func topicReq(name string, partitions int32, rf int16, configs ...string) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	for i := 0; i+1 < len(configs); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = configs[i], strp(configs[i+1])
		rt.Configs = append(rt.Configs, c)
	}
	return rt
}

func metadata(t *testing.T, k *kconn, version int16, topics ...string) *kmsg.MetadataResponse {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(version)
	if topics != nil {
		req.Topics = []kmsg.MetadataRequestTopic{}
	}
	for _, n := range topics {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = strp(n)
		req.Topics = append(req.Topics, mt)
	}
	req.AllowAutoTopicCreation = true
	return k.do(req).(*kmsg.MetadataResponse)
}

func TestCreateTopics(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	got := createTopics(t, k, false,
		topicReq("ok", 3, 1, "retention.ms", "60000", "segment.bytes", "1048576", "cleanup.policy", "delete"),
		topicReq("default", -1, -1),
		topicReq("bad name!", 1, -1),
		topicReq("rf2", 1, 2),
		topicReq("rf0", 1, 0),
		topicReq("parts0", 0, -1),
		topicReq("unknown-config", 1, -1, "compression.type", "gzip"),
		topicReq("compact", 1, -1, "cleanup.policy", "compact"),
		topicReq("bad-value", 1, -1, "retention.ms", "soon"),
	)
	want := map[string]int16{"ok": 0, "default": 0, "bad name!": 17, "rf2": 38, "rf0": 38, "parts0": 37,
		"unknown-config": 40, "compact": 40, "bad-value": 40}
	for _, r := range got {
		if r.ErrorCode != want[r.Topic] {
			t.Errorf("%s: error %d (%v), want %d", r.Topic, r.ErrorCode, deref(r.ErrorMessage), want[r.Topic])
		}
		if r.Topic == "ok" && (r.NumPartitions != 3 || r.ReplicationFactor != 1) {
			t.Errorf("ok: %d partitions, replication factor %d", r.NumPartitions, r.ReplicationFactor)
		}
	}
	if r := createTopics(t, k, false, topicReq("ok", 1, -1)); r[0].ErrorCode != 36 {
		t.Fatalf("again: error %d, want 36 (TOPIC_ALREADY_EXISTS)", r[0].ErrorCode)
	}
	if r := createTopics(t, k, true, topicReq("validate-only", 1, -1)); r[0].ErrorCode != 0 {
		t.Fatalf("validate only: error %d", r[0].ErrorCode)
	}
	m := metadata(t, k, 12)
	names := map[string]int{}
	for _, mt := range m.Topics {
		names[*mt.Topic] = len(mt.Partitions)
	}
	if len(names) != 2 || names["ok"] != 3 || names["default"] != 1 {
		t.Fatalf("topics after create: %v", names)
	}
	// The configs are described as given.
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.SetVersion(4)
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "ok"
	req.Resources = append(req.Resources, r)
	cfg := map[string]string{}
	res := k.do(req).(*kmsg.DescribeConfigsResponse).Resources[0]
	for _, c := range res.Configs {
		cfg[c.Name] = deref(c.Value)
	}
	if res.ErrorCode != 0 || cfg["retention.ms"] != "60000" || cfg["segment.bytes"] != "1048576" || cfg["retention.bytes"] != "-1" || cfg["cleanup.policy"] != "delete" {
		t.Fatalf("describe: error %d, configs %v", res.ErrorCode, cfg)
	}
}

func TestDeleteTopics(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "gone", 1)
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.SetVersion(5)
	req.TimeoutMillis, req.TopicNames = 10000, []string{"gone", "never"}
	resp := k.do(req).(*kmsg.DeleteTopicsResponse)
	if resp.Topics[0].ErrorCode != 0 || resp.Topics[1].ErrorCode != 3 {
		t.Fatalf("delete: %d, %d", resp.Topics[0].ErrorCode, resp.Topics[1].ErrorCode)
	}
	if m := metadata(t, k, 12, "gone"); m.Topics[0].ErrorCode != 3 {
		t.Fatalf("metadata after delete: error %d", m.Topics[0].ErrorCode)
	}
}

func TestDescribeConfigsBroker(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	m := metadata(t, k, 12)
	self := strconv.Itoa(int(m.Brokers[0].NodeID))
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.SetVersion(1)
	for _, name := range []string{self, "", "9999"} {
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, name
		req.Resources = append(req.Resources, r)
	}
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, "nope"
	req.Resources = append(req.Resources, r)
	res := k.do(req).(*kmsg.DescribeConfigsResponse).Resources
	cfg := map[string]string{}
	for _, c := range res[0].Configs {
		cfg[c.Name] = deref(c.Value)
	}
	if res[0].ErrorCode != 0 || cfg["broker.id"] != self || cfg["auto.create.topics.enable"] != "false" || cfg["message.max.bytes"] == "" {
		t.Fatalf("broker %s: error %d, %v", self, res[0].ErrorCode, cfg)
	}
	if res[1].ErrorCode != 0 || res[2].ErrorCode != 42 || res[3].ErrorCode != 3 {
		t.Fatalf("errors %d %d %d, want 0 42 3", res[1].ErrorCode, res[2].ErrorCode, res[3].ErrorCode)
	}
}

func TestMetadata(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "m1", 2)
	for _, v := range []int16{0, 1, 4, 9, 12} {
		m := metadata(t, k, v, "m1", "missing")
		if len(m.Brokers) != 1 || m.Brokers[0].Host != "127.0.0.1" || m.Brokers[0].NodeID != 1 {
			t.Fatalf("v%d brokers %+v", v, m.Brokers)
		}
		if v >= 1 && m.ControllerID != 1 {
			t.Fatalf("v%d controller %d", v, m.ControllerID)
		}
		if len(m.Topics) != 2 || m.Topics[0].ErrorCode != 0 || len(m.Topics[0].Partitions) != 2 || m.Topics[1].ErrorCode != 3 {
			t.Fatalf("v%d topics %+v", v, m.Topics)
		}
		p := m.Topics[0].Partitions[1]
		if p.Partition != 1 || p.Leader != 1 || len(p.Replicas) != 1 || p.Replicas[0] != 1 || len(p.ISR) != 1 {
			t.Fatalf("v%d partition %+v", v, p)
		}
		if v >= 7 && p.LeaderEpoch < 1 {
			t.Fatalf("v%d leader epoch %d", v, p.LeaderEpoch)
		}
		if v >= 10 && m.Topics[0].TopicID == ([16]byte{}) {
			t.Fatalf("v%d: zero topic id", v)
		}
	}
	// Topic ids are stable; a topic created again gets another.
	id := metadata(t, k, 12, "m1").Topics[0].TopicID
	if again := metadata(t, k, 12, "m1").Topics[0].TopicID; again != id {
		t.Fatal("topic id changed")
	}
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.SetVersion(4)
	del.TopicNames = []string{"m1"}
	k.do(del)
	createTopic(t, k, "m1", 2)
	if again := metadata(t, k, 12, "m1").Topics[0].TopicID; again == id {
		t.Fatal("a topic created again has the old topic id")
	}
	// Metadata v0: an empty list means all topics; v1+: an empty list
	// means none.
	if m := metadata(t, k, 0, []string{}...); len(m.Topics) != 1 {
		t.Fatalf("v0 all topics: %d", len(m.Topics))
	}
	if m := metadata(t, k, 12, []string{}...); len(m.Topics) != 0 {
		t.Fatalf("v12 empty list: %d topics", len(m.Topics))
	}
	// Auto-creation is off by default.
	if m := metadata(t, k, 12, "auto"); m.Topics[0].ErrorCode != 3 {
		t.Fatalf("auto-create off: error %d", m.Topics[0].ErrorCode)
	}
}

func TestMetadataAutoCreate(t *testing.T) {
	b := newBroker(t, func(_ int, cfg *broker.Config) { cfg.AutoCreateTopics = true })
	k := dial(t, b.KafkaAddr())
	if m := metadata(t, k, 12, "auto"); m.Topics[0].ErrorCode != 0 || len(m.Topics[0].Partitions) != 1 {
		t.Fatalf("auto-create: %+v", m.Topics[0])
	}
	// Not when the client says no (v4+), and never for a bad name.
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	for _, n := range []string{"no-auto", "bad/name"} {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = strp(n)
		req.Topics = append(req.Topics, mt)
	}
	m := k.do(req).(*kmsg.MetadataResponse)
	if m.Topics[0].ErrorCode != 3 || m.Topics[1].ErrorCode != 17 {
		t.Fatalf("errors %d, %d; want 3, 17", m.Topics[0].ErrorCode, m.Topics[1].ErrorCode)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
