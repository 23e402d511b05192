package brokertest_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minibroker/minibroker/broker/brokertest"
)

// TestKafkaConsumerGroupInATest is TestKafkaClusterInATest with a Kafka
// consumer group: franz-go joins group "billing", processes each poll and
// then commits it (kgo.DisableAutoCommit, CommitUncommittedOffsets:
// at-least-once). The leader, which is also the group coordinator, is
// killed mid-stream; the consumer finds the new coordinator, rejoins and
// resumes from its last commit. Midway the first consumer crashes (closes
// without committing its last poll) and a second one takes over from the
// group's committed offsets. Every record is processed at least once.
//
// It uses consumer groups over the Kafka protocol (FindCoordinator,
// JoinGroup, OffsetCommit...).
func TestKafkaConsumerGroupInATest(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	createKafkaTopic(t, ctx, c.KafkaAddrs(), "orders", 3)

	const batches, perBatch = 100, 20
	stream := startOrderStream(t, ctx, c.KafkaAddrs(), "orders", batches, perBatch)

	newMember := func() *kgo.Client {
		t.Helper()
		m, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaAddrs()...), kgo.ConsumeTopics("orders"),
			kgo.ConsumerGroup("billing"), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond), fastFailover)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	commit := func(m *kgo.Client) func(context.Context) error {
		return func(ctx context.Context) error { return m.CommitUncommittedOffsets(ctx) }
	}

	// The first member processes half of the stream, committing after each
	// poll, then crashes with its last poll processed but not committed.
	first := newMember()
	firstSeen := processOrders(ctx, first, batches*perBatch/2, nil, true, commit(first))

	// Mid-stream: kill the leader, which coordinates the group too.
	stream.waitBatches(t, batches/3)
	leader := c.WaitLeader()
	c.Kill(leader)
	t.Logf("killed the leader n%d after %d batches", leader+1, stream.sent())

	seen := <-firstSeen
	first.Close() // auto-commit is off: the last poll stays uncommitted
	t.Logf("the first member crashed after processing %d orders", len(seen))

	// A second member takes over from the group's committed offsets.
	second := newMember()
	defer second.Close()
	processed := processOrders(ctx, second, batches*perBatch, seen, false, commit(second))
	if err := stream.wait(); err != nil {
		t.Fatalf("producer: %v", err)
	}
	checkEveryOrder(t, <-processed, batches*perBatch)

	c.Restart(leader)
	c.VerifyReplicas()
}
