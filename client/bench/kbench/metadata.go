package kbench

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kmsgMetadata is a Metadata request for one topic, not creating it.
func kmsgMetadata(topic string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, t)
	return req
}

// CreateTopic creates topic with partitions partitions (replication
// factor -1: the broker's default) on the cluster at brokers, through
// CreateTopics. A topic that exists already is not an error. It blocks
// until the broker answers or ctx ends.
func CreateTopic(ctx context.Context, brokers []string, topic string, partitions int32) (created bool, err error) {
	return (&Kafka{Brokers: brokers}).CreateTopic(ctx, topic, partitions)
}

// CreateTopic is the function CreateTopic on k's brokers, with k's TLS.
func (k *Kafka) CreateTopic(ctx context.Context, topic string, partitions int32) (created bool, err error) {
	cl, err := kgo.NewClient(k.base()...)
	if err != nil {
		return false, err
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30_000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = topic, partitions, -1
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return false, fmt.Errorf("create topic %q: %w", topic, err)
	}
	for _, rt := range resp.Topics {
		switch err := kerr.ErrorForCode(rt.ErrorCode); {
		case err == nil:
			created = true
		case errors.Is(err, kerr.TopicAlreadyExists):
		default:
			msg := ""
			if rt.ErrorMessage != nil {
				msg = ": " + *rt.ErrorMessage
			}
			return false, fmt.Errorf("create topic %q: %w%s", topic, err, msg)
		}
	}
	return created, nil
}
