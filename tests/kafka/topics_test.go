package kafka

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createTopic creates topic with kadm (replication factor -1: the
// broker's default) and waits until every node lists it.
func createTopic(t *testing.T, c *cluster, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	res, err := adm.CreateTopic(ctxFor(t), partitions, -1, nil, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("kadm create topic %s: %v", topic, err)
	}
	waitTopic(t, c, topic, partitions)
}

// deleteTopic deletes topic with kadm and waits until no node lists it.
func deleteTopic(t *testing.T, c *cluster, adm *kadm.Client, topic string) {
	t.Helper()
	res, err := adm.DeleteTopic(ctxFor(t), topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("kadm delete topic %s: %v", topic, err)
	}
	waitTopicGone(t, c, topic)
}

// waitTopic waits until the metadata of every node lists topic with its
// partitions, each with a leader: a topic created through one node reaches
// the others a little later (as in Kafka), and the client tests ask any
// of them.
func waitTopic(t *testing.T, c *cluster, topic string, partitions int32) {
	t.Helper()
	eventually(t, "topic "+topic+" on every node", func() error {
		return eachNode(t, c, func(addr string, md *kmsg.MetadataResponse) error {
			for _, mt := range md.Topics {
				if mt.Topic == nil || *mt.Topic != topic {
					continue
				}
				if mt.ErrorCode != 0 || len(mt.Partitions) != int(partitions) {
					return fmt.Errorf("%s: error code %d, %d partitions", addr, mt.ErrorCode, len(mt.Partitions))
				}
				for _, p := range mt.Partitions {
					if p.ErrorCode != 0 || p.Leader < 0 {
						return fmt.Errorf("%s: partition %d: error code %d, leader %d", addr, p.Partition, p.ErrorCode, p.Leader)
					}
				}
				return nil
			}
			return fmt.Errorf("%s: not listed", addr)
		})
	})
}

// waitTopicGone waits until no node's metadata lists topic.
func waitTopicGone(t *testing.T, c *cluster, topic string) {
	t.Helper()
	eventually(t, "topic "+topic+" gone from every node", func() error {
		return eachNode(t, c, func(addr string, md *kmsg.MetadataResponse) error {
			for _, mt := range md.Topics {
				if mt.Topic != nil && *mt.Topic == topic {
					return fmt.Errorf("%s: still listed", addr)
				}
			}
			return nil
		})
	})
}

// eachNode sends a Metadata request for all topics to every node (not to
// whichever node a client picks) and calls check with each answer.
func eachNode(t *testing.T, c *cluster, check func(addr string, md *kmsg.MetadataResponse) error) error {
	for _, addr := range c.kafka {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		resp, err := cl.SeedBrokers()[0].Request(ctx, kmsg.NewPtrMetadataRequest())
		cancel()
		cl.Close()
		if err != nil {
			return fmt.Errorf("%s: metadata: %w", addr, err)
		}
		if err := check(addr, resp.(*kmsg.MetadataResponse)); err != nil {
			return err
		}
	}
	return nil
}
