package client

import (
	"context"
	"fmt"

	"github.com/minibroker/minibroker/internal/wire"
)

// Group states reported by ListGroups and DescribeGroup.
const (
	GroupStateEmpty       = wire.GroupEmpty       // no members (committed offsets may remain)
	GroupStateStable      = wire.GroupStable      // members own their assignment
	GroupStateRebalancing = wire.GroupRebalancing // waiting for members to rejoin
)

// GroupSummary is one consumer group as ListGroups reports it.
type GroupSummary struct {
	Group      string
	State      string // GroupStateEmpty, GroupStateStable or GroupStateRebalancing
	Generation int32
	Members    int
	// ProtocolType is "" for a native group and the Kafka protocol type
	// (usually "consumer") for a group of Kafka clients.
	ProtocolType string
}

// GroupDescription is a consumer group's members, assignment and offsets.
type GroupDescription struct {
	Group      string
	State      string // GroupStateEmpty, GroupStateStable or GroupStateRebalancing
	Generation int32
	Strategy   string // native: the assignor; Kafka: the protocol (assignor) chosen
	// ProtocolType is "" for a native group and the Kafka protocol type
	// (usually "consumer") for a group of Kafka clients.
	ProtocolType string
	Members      []GroupMember
	// Offsets covers every partition of the subscribed topics and every
	// partition with a committed offset.
	Offsets []GroupOffset
}

// GroupMember is one member of a consumer group.
type GroupMember struct {
	MemberID   string
	ClientID   string
	ClientHost string
	Topics     []string         // its subscription
	Assignment []TopicPartition // sorted
}

// GroupOffset is a group's position in one partition.
type GroupOffset struct {
	Topic     string
	Partition int32
	// Committed is the next offset the group will process, or -1 if it
	// has committed none.
	Committed     int64
	HighWatermark int64
	// Lag is HighWatermark minus Committed (minus the partition's start
	// offset when nothing was committed): how many records the group has
	// yet to process.
	Lag int64
}

// PartitionOffset is an offset of one partition.
type PartitionOffset struct {
	Topic     string
	Partition int32
	Offset    int64
}

// ListGroups returns the cluster's consumer groups, sorted by name. It
// asks the leader, following leader changes and retrying retriable
// failures while ctx allows; it blocks until answered. Errors: ErrClosed,
// ctx's error, or the last retriable error. Safe for concurrent use.
func (cl *Client) ListGroups(ctx context.Context) ([]GroupSummary, error) {
	resp := new(wire.ListGroupsResponse)
	if err := cl.do(ctx, leaderRead, wire.ListGroups, &wire.ListGroupsRequest{}, resp, cl.cfg.RequestTimeout); err != nil {
		return nil, fmt.Errorf("minibroker: list groups: %w", err)
	}
	out := make([]GroupSummary, len(resp.Groups))
	for i, g := range resp.Groups {
		out[i] = GroupSummary{Group: g.Group, State: g.State, Generation: g.Generation, Members: int(g.Members), ProtocolType: g.ProtocolType}
	}
	return out, nil
}

// DescribeGroup returns group's state, members with their assignments,
// and committed offsets with lag. Blocking and retries are as for
// ListGroups. Errors: ErrUnknownGroup, ErrClosed, ctx's error, or the
// last retriable error. Safe for concurrent use.
func (cl *Client) DescribeGroup(ctx context.Context, group string) (GroupDescription, error) {
	resp := new(wire.DescribeGroupResponse)
	if err := cl.do(ctx, leaderRead, wire.DescribeGroup, &wire.DescribeGroupRequest{Group: group}, resp, cl.cfg.RequestTimeout); err != nil {
		return GroupDescription{}, fmt.Errorf("minibroker: describe group %q: %w", group, err)
	}
	d := GroupDescription{
		Group:        resp.Group,
		State:        resp.State,
		Generation:   resp.Generation,
		Strategy:     resp.Strategy,
		ProtocolType: resp.ProtocolType,
		Members:      make([]GroupMember, len(resp.Members)),
		Offsets:      make([]GroupOffset, len(resp.Offsets)),
	}
	for i, m := range resp.Members {
		d.Members[i] = GroupMember{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			Topics: m.Topics, Assignment: flattenTPs(m.Assignment)}
	}
	for i, o := range resp.Offsets {
		d.Offsets[i] = GroupOffset{Topic: o.Topic, Partition: o.Partition, Committed: o.Committed,
			HighWatermark: o.HighWatermark, Lag: o.Lag}
	}
	return d, nil
}

// ResetGroupOffsets sets group's committed offsets of topic's partitions
// (all of them if none are given), also backwards: to each partition's
// first stored offset (Earliest), its high-water mark (Latest), or offset
// (AtOffset; offset is ignored otherwise). It returns the offsets set.
// Only a group without members can be reset: stop its consumers first.
// Blocking and retries are as for CreateTopic. Errors: ErrGroupNotEmpty,
// ErrUnknownTopic, ErrUnknownPartition, ErrOffsetOutOfRange,
// ErrInvalidConfig for another OffsetSpec (checked before sending),
// ErrClosed, ctx's error, or the last retriable error (matching
// ErrOutcomeUnknown too if an attempt's outcome was unknown; a reset is
// safe to repeat). Safe for concurrent use.
func (cl *Client) ResetGroupOffsets(ctx context.Context, group, topic string, to OffsetSpec, offset int64, partitions ...int32) ([]PartitionOffset, error) {
	req := &wire.ResetOffsetsRequest{Group: group, Topic: topic, Partitions: partitions}
	switch to {
	case Earliest:
		req.To = wire.ResetEarliest
	case Latest:
		req.To = wire.ResetLatest
	case AtOffset:
		req.To, req.Offset = wire.ResetTo, offset
	default:
		return nil, fmt.Errorf("minibroker: reset offsets of group %q: unknown OffsetSpec %d: %w", group, to, ErrInvalidConfig)
	}
	resp := new(wire.ResetOffsetsResponse)
	if err := cl.do(ctx, leaderWrite, wire.ResetOffsets, req, resp, cl.cfg.RequestTimeout); err != nil {
		return nil, fmt.Errorf("minibroker: reset offsets of group %q on %q: %w", group, topic, err)
	}
	out := make([]PartitionOffset, len(resp.Offsets))
	for i, o := range resp.Offsets {
		out[i] = PartitionOffset{Topic: o.Topic, Partition: o.Partition, Offset: o.Offset}
	}
	return out, nil
}

// DeleteGroup deletes group and its committed offsets. Only a group
// without members can be deleted. Blocking and retries are as for
// CreateTopic. Errors: ErrGroupNotEmpty, ErrUnknownGroup (possibly
// deleted by this call's own earlier attempt when the error also matches
// ErrOutcomeUnknown), ErrClosed, ctx's error, or the last retriable
// error. Safe for concurrent use.
func (cl *Client) DeleteGroup(ctx context.Context, group string) error {
	err := cl.do(ctx, leaderWrite, wire.DeleteGroup, &wire.DeleteGroupRequest{Group: group},
		new(wire.DeleteGroupResponse), cl.cfg.RequestTimeout)
	if err != nil {
		return fmt.Errorf("minibroker: delete group %q: %w", group, err)
	}
	return nil
}
