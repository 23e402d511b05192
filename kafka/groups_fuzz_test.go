package kafka

import (
	"testing"

	"github.com/minibroker/minibroker/replication"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzDecodeConsumer: the consumer protocol's metadata and assignment
// bytes come from clients as they are; decoding them for the admin view
// never panics, and what reaches a KafkaGroupCmd is always valid (no
// partition twice, none negative, no empty topic), so a leader member's
// bad assignment cannot get the group's record refused.
func FuzzDecodeConsumer(f *testing.F) {
	md := kmsg.NewConsumerMemberMetadata()
	md.Version, md.Topics = 1, []string{"a", "b"}
	as := kmsg.NewConsumerMemberAssignment()
	as.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: "a", Partitions: []int32{0, 2}}}
	f.Add(md.AppendTo(nil), as.AppendTo(nil), as.AppendTo(nil))
	f.Add([]byte{0, 3, 0, 0, 0, 1}, []byte{0, 0, 0xff}, []byte{})
	f.Fuzz(func(t *testing.T, metadata, assign1, assign2 []byte) {
		var ms []replication.GroupMember
		for i, a := range [][]byte{assign1, assign2} {
			topics, tps := decodeConsumer(metadata, a)
			ms = append(ms, replication.GroupMember{ID: string(rune('a' + i)), Topics: topics, Assignment: tps,
				SessionTimeoutMs: 1, RebalanceTimeoutMs: 1, Metadata: metadata, AssignmentBytes: a})
		}
		dropOverlaps(ms)
		cmd := replication.KafkaGroupCmd{Group: "g", Generation: 1, ProtocolType: "consumer", Protocol: "range", Leader: "a", Members: ms}
		if _, err := replication.ValidateKafkaGroup(&cmd); err != nil {
			t.Fatalf("decoded members refused: %v", err)
		}
	})
}
