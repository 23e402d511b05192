package kafka_test

import (
	"slices"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/broker/brokertest"
)

// On a 3-node cluster: every node lists every broker with its Kafka
// address and the Raft leader as every partition's leader; a follower
// refuses writes and leader reads with the codes clients refresh metadata
// on, and gives out producer ids by asking the leader.
func TestThreeNodes(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	leader := c.Leader()
	var follower int
	for i := range c.Len() {
		if c.Broker(i) != leader {
			follower = i
			break
		}
	}
	lk := dial(t, leader.KafkaAddr())
	fk := dial(t, c.Broker(follower).KafkaAddr())
	createTopic(t, lk, "three", 2)
	var m *kmsg.MetadataResponse
	waitFor(t, "the follower to list 3 brokers and the topic", func() bool {
		m = metadata(t, fk, 12, "three")
		return len(m.Brokers) == 3 && m.Topics[0].ErrorCode == 0
	})
	var addrs []string
	var leaderNum int32 = -1
	for _, b := range m.Brokers {
		addrs = append(addrs, b.Host+":"+itoa(b.Port))
	}
	slices.Sort(addrs)
	want := c.KafkaAddrs()
	slices.Sort(want)
	if !slices.Equal(addrs, want) {
		t.Fatalf("brokers %v, want %v", addrs, want)
	}
	for _, b := range m.Brokers {
		if b.Host+":"+itoa(b.Port) == leader.KafkaAddr() {
			leaderNum = b.NodeID
		}
	}
	if m.ControllerID != leaderNum {
		t.Fatalf("controller %d, leader's id %d", m.ControllerID, leaderNum)
	}
	for _, p := range m.Topics[0].Partitions {
		if p.Leader != leaderNum || len(p.Replicas) != 3 || len(p.ISR) != 3 {
			t.Fatalf("partition %+v", p)
		}
	}
	if p := produce(t, fk, 11, "three", 0, kafkaBatch(1, -1, -1, -1, "x")); p.ErrorCode != 6 {
		t.Fatalf("produce on a follower: error %d, want 6 (NOT_LEADER_OR_FOLLOWER)", p.ErrorCode)
	}
	if f := fetch(t, fk, 12, "three", 0, 0, 0, 0); f.ErrorCode != 6 {
		t.Fatalf("fetch on a follower: error %d, want 6", f.ErrorCode)
	}
	if r := createTopics(t, fk, false, topicReq("other", 1, -1)); r[0].ErrorCode != 41 {
		t.Fatalf("create on a follower: error %d, want 41 (NOT_CONTROLLER)", r[0].ErrorCode)
	}
	if r := createTopics(t, lk, false, topicReq("rf3", 1, 3)); r[0].ErrorCode != 0 || r[0].ReplicationFactor != 3 {
		t.Fatalf("replication factor 3: %+v", r[0])
	}
	if r := createTopics(t, lk, false, topicReq("rf4", 1, 4)); r[0].ErrorCode != 38 {
		t.Fatalf("replication factor 4: error %d, want 38", r[0].ErrorCode)
	}
	ip := initProducerID(t, fk, nil)
	if ip.ErrorCode != 0 || ip.ProducerID <= 0 {
		t.Fatalf("InitProducerId on a follower: %+v", ip)
	}
	// The producer id works on the leader.
	if p := produce(t, lk, 11, "three", 1, kafkaBatch(1, ip.ProducerID, 0, 0, "y")); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("idempotent produce: %d at %d", p.ErrorCode, p.BaseOffset)
	}
}

func itoa(p int32) string {
	return strconv.Itoa(int(p))
}
