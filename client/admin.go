package client

import (
	"context"
	"fmt"

	"github.com/minibroker/minibroker/internal/wire"
)

// TopicConfig is the shape and settings of a new topic. A zero field asks
// for the broker's default; a negative retention means no limit.
type TopicConfig struct {
	// Partitions is the number of partitions. Default 1.
	Partitions int32
	// RetentionBytes is the size per partition above which the oldest
	// segments are deleted.
	RetentionBytes int64
	// RetentionMs is the age in milliseconds after which a segment's
	// records are deleted.
	RetentionMs int64
	// SegmentBytes is the size at which a partition's active segment is
	// rolled over.
	SegmentBytes int64
}

// OffsetSpec selects which offset ListOffsets returns, or to which
// offset ResetGroupOffsets moves a group.
type OffsetSpec int8

const (
	// Earliest is the partition's first stored offset (StartOffset).
	Earliest = OffsetSpec(wire.Earliest)
	// Latest is the partition's high-water mark: the offset the next
	// record will get.
	Latest = OffsetSpec(wire.Latest)
	// AtOffset is an explicit offset, given next to it. Only
	// ResetGroupOffsets takes it.
	AtOffset = OffsetSpec(wire.ResetTo)
)

// CreateTopic creates topic name on the leader. It blocks until the
// cluster has created it or failed, following leader changes and retrying
// retriable errors with backoff while ctx allows.
//
// Errors: ErrTopicExists, ErrInvalidTopicConfig (also for a negative
// partition count, checked before sending), ErrClosed, ctx's error, or
// the last retriable error. If an attempt's outcome was unknown (lost
// connection, leadership lost) the error also matches ErrOutcomeUnknown:
// an ErrTopicExists may then come from this call's own earlier attempt.
// Safe for concurrent use.
func (cl *Client) CreateTopic(ctx context.Context, name string, cfg TopicConfig) error {
	if name == "" {
		return fmt.Errorf("minibroker: create topic: empty name: %w", ErrInvalidTopicConfig)
	}
	if cfg.Partitions < 0 {
		return fmt.Errorf("minibroker: create topic %q: %d partitions: %w", name, cfg.Partitions, ErrInvalidTopicConfig)
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 1
	}
	req := &wire.CreateTopicRequest{
		Name:       name,
		Partitions: cfg.Partitions,
		Config: wire.TopicConfig{
			RetentionBytes: cfg.RetentionBytes,
			RetentionMs:    cfg.RetentionMs,
			SegmentBytes:   cfg.SegmentBytes,
		},
	}
	err := cl.do(ctx, leaderWrite, wire.CreateTopic, req, new(wire.CreateTopicResponse), cl.cfg.RequestTimeout)
	cl.forgetTopic(name)
	if err != nil {
		return fmt.Errorf("minibroker: create topic %q: %w", name, err)
	}
	return nil
}

// DeleteTopic deletes topic name and its data. Blocking, retries and
// errors are as for CreateTopic, with ErrUnknownTopic for a topic that
// does not exist (possibly deleted by this call's own earlier attempt when
// the error also matches ErrOutcomeUnknown). Safe for concurrent use.
func (cl *Client) DeleteTopic(ctx context.Context, name string) error {
	err := cl.do(ctx, leaderWrite, wire.DeleteTopic, &wire.DeleteTopicRequest{Name: name},
		new(wire.DeleteTopicResponse), cl.cfg.RequestTimeout)
	cl.forgetTopic(name)
	if err != nil {
		return fmt.Errorf("minibroker: delete topic %q: %w", name, err)
	}
	return nil
}

// ListOffsets returns a partition's first stored offset (Earliest) or its
// high-water mark (Latest) as the leader has them, after a quorum
// confirmed its leadership: nothing committed before the call is missing
// (a follower may trail by a moment, so the leader answers, as in Kafka).
// It blocks until answered, retrying retriable errors (no leader yet,
// leader changed) while ctx allows. Errors: ErrUnknownTopic,
// ErrUnknownPartition, ErrClosed, ctx's error, or the last retriable
// error. Safe for concurrent use.
func (cl *Client) ListOffsets(ctx context.Context, topic string, partition int32, which OffsetSpec) (int64, error) {
	if which != Earliest && which != Latest {
		return 0, fmt.Errorf("minibroker: list offsets: unknown OffsetSpec %d: %w", which, ErrInvalidConfig)
	}
	req := &wire.ListOffsetsRequest{Topic: topic, Partition: partition, Which: int8(which), Leader: true}
	resp := new(wire.ListOffsetsResponse)
	if err := cl.do(ctx, leaderRead, wire.ListOffsets, req, resp, cl.cfg.RequestTimeout); err != nil {
		return 0, fmt.Errorf("minibroker: list offsets %s/%d: %w", topic, partition, err)
	}
	return resp.Offset, nil
}
