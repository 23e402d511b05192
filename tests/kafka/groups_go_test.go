package kafka

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
)

// saramaHandler is a sarama ConsumerGroupHandler: it processes each
// message into its ledger, marks it, and commits (synchronously) when its
// claim has nothing more buffered; with owners set, it reports each
// session's claims (Setup) and their release (Cleanup).
type saramaHandler struct {
	name  string
	topic string
	l     *ledger
	own   *owners // nil: not tracked
}

func (h *saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	if h.own != nil {
		h.own.assign(h.name, s.GenerationID(), s.Claims()[h.topic])
	}
	return nil
}

func (h *saramaHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	if h.own != nil {
		h.own.release(h.name, s.Claims()[h.topic])
	}
	return nil
}

func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.l.add(m.Partition, m.Offset)
		s.MarkMessage(m, "")
		if len(claim.Messages()) == 0 {
			s.Commit()
		}
	}
	return nil
}

// saramaMember is a sarama ConsumerGroup consuming in a goroutine.
type saramaMember struct {
	cg     sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan struct{}
}

// startSaramaMember starts a member (range balancer, manual commits, from
// the oldest offset); the test's cleanup stops it.
func startSaramaMember(t *testing.T, c *cluster, group string, h *saramaHandler) *saramaMember {
	t.Helper()
	cfg := saramaConfig()
	cfg.ClientID = h.name
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 12 * time.Second
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	cg, err := sarama.NewConsumerGroup(c.kafka, group, cfg)
	if err != nil {
		t.Fatalf("sarama consumer group: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &saramaMember{cg: cg, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{h.topic}, h); err != nil && ctx.Err() == nil {
				t.Logf("%s: consume: %v", h.name, err)
				if errors.Is(err, sarama.ErrClosedConsumerGroup) {
					return
				}
			}
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// stop leaves the group and closes the member; it is idempotent.
func (m *saramaMember) stop() {
	select {
	case <-m.done:
		return
	default:
	}
	m.cancel()
	<-m.done
	m.cg.Close()
}

// testGroupSarama: a sarama ConsumerGroup consumes everything, committing
// after processing.
func testGroupSarama(t *testing.T, c *cluster) {
	adm := newAdmin(t, c)
	topic, group := "grp-sarama", "g-sarama"
	end := groupTopic(t, c, adm, topic, groupParts, groupPerPart)
	l := newLedger()
	m := startSaramaMember(t, c, group, &saramaHandler{name: "sarama", topic: topic, l: l})
	waitProcessed(t, "sarama", l, end)
	waitCommitted(t, adm, group, topic, end)
	m.stop()
	t.Logf("sarama: %d records processed, %d duplicates", l.total(), l.dups())
}

// testGroupSaramaMembers: sarama members 1 -> 3 -> 2 on 6 partitions, as
// testGroupFranzMembers, with each session's claims per generation.
func testGroupSaramaMembers(t *testing.T, c *cluster) {
	adm := newAdmin(t, c)
	topic, group := "grp-sarama-members", "g-sarama-members"
	const parts, per = 6, 10
	end := groupTopic(t, c, adm, topic, parts, per)
	own := newOwners()
	l := newLedger()
	start := func(name string) *saramaMember {
		return startSaramaMember(t, c, group, &saramaHandler{name: name, topic: topic, l: l, own: own})
	}
	settle := func(members int) {
		t.Helper()
		waitProcessed(t, fmt.Sprintf("%d members", members), l, end)
		eventually(t, fmt.Sprintf("%d partitions spread over %d members", parts, members), func() error {
			if !own.settled(parts, members) {
				return fmt.Errorf("not yet")
			}
			return nil
		})
	}
	m0 := start("m0")
	settle(1)
	m1, m2 := start("m1"), start("m2")
	end = produceMore(t, c, topic, parts, per, per)
	settle(3)
	m1.stop()
	end = produceMore(t, c, topic, parts, 2*per, per)
	settle(2)
	waitCommitted(t, adm, group, topic, end)
	m0.stop()
	m2.stop()
	own.check(t)
	t.Logf("sarama 1->3->2: %d records processed, %d duplicates", l.total(), l.dups())
}

// testGroupKafkaGo: a kafka-go Reader with a GroupID (JoinGroup v2,
// SyncGroup/Heartbeat v0) consumes everything: FetchMessage, process,
// CommitMessages.
func testGroupKafkaGo(t *testing.T, c *cluster) {
	adm := newAdmin(t, c)
	topic, group := "grp-kafkago", "g-kafkago"
	end := groupTopic(t, c, adm, topic, groupParts, groupPerPart)
	l := newLedger()
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: c.kafka, GroupID: group, Topic: topic, StartOffset: kafkago.FirstOffset,
		MaxWait: 100 * time.Millisecond, SessionTimeout: 6 * time.Second, HeartbeatInterval: 500 * time.Millisecond,
		RebalanceTimeout: 6 * time.Second, JoinGroupBackoff: 100 * time.Millisecond,
		ReadBackoffMin: 50 * time.Millisecond, ReadBackoffMax: 200 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("kafka-go fetch: %v", err)
				}
				return
			}
			l.add(int32(m.Partition), m.Offset)
			if err := r.CommitMessages(ctx, m); err != nil && ctx.Err() == nil {
				t.Logf("kafka-go commit p%d@%d: %v", m.Partition, m.Offset, err)
			}
		}
	}()
	stop := func() {
		cancel()
		<-done
		r.Close()
	}
	defer func() {
		select {
		case <-done:
		default:
			stop()
		}
	}()
	waitProcessed(t, "kafka-go", l, end)
	waitCommitted(t, adm, group, topic, end)
	stop()
	t.Logf("kafka-go: %d records processed, %d duplicates", l.total(), l.dups())
}
