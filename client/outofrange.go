package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/minibroker/minibroker/internal/wire"
)

// A node that lags the leader (a follower after a failover, a node just
// restarted) answers a fetch "out of range" for offsets it has not applied
// yet. Resetting a position on its word would deliver committed records
// again (or skip records, with reset to latest), so the Consumer and the
// Reader check every such answer with the leader: only the range the
// leader confirms decides.

// errNodeBehind marks an out-of-range answer for an offset the leader has:
// the node asked is behind. Errors carrying it also match ErrNotLeader,
// so they are retriable.
var errNodeBehind = errors.New("the node asked has not applied that offset yet")

// checkOutOfRange is called after a node answered a fetch of
// topic/partition at off with err, matching ErrOffsetOutOfRange, and resp.
// It asks the leader for the partition's range (see ListOffsets) and
// returns an *OffsetOutOfRangeError with the leader's range if off is
// outside it; an error matching errNodeBehind and ErrNotLeader if off is
// within it; or, if the leader could not be asked, an error that does not
// match ErrOffsetOutOfRange (nothing is known to be out of range). It
// blocks for the two ListOffsets.
func (cl *Client) checkOutOfRange(ctx context.Context, topic string, partition int32, off int64, resp *wire.FetchResponse, err error) error {
	start, end, lerr := cl.leaderRange(ctx, topic, partition)
	switch {
	case lerr != nil:
		return fmt.Errorf("out of range on one node (range [%d, %d]); the leader could not confirm: %w",
			resp.StartOffset, resp.HighWatermark, lerr)
	case off < start || off > end:
		return &OffsetOutOfRangeError{Topic: topic, Partition: partition, Offset: off,
			StartOffset: start, HighWatermark: end, Err: err}
	}
	return fmt.Errorf("offset %d is within the leader's range [%d, %d] (the node's high-water mark is %d): %w: %w",
		off, start, end, resp.HighWatermark, errNodeBehind, ErrNotLeader)
}

// leaderRange returns a partition's first stored offset and high-water
// mark as the leader has them (see ListOffsets). Blocks; errors as
// ListOffsets.
func (cl *Client) leaderRange(ctx context.Context, topic string, partition int32) (start, end int64, err error) {
	if start, err = cl.ListOffsets(ctx, topic, partition, Earliest); err != nil {
		return 0, 0, err
	}
	if end, err = cl.ListOffsets(ctx, topic, partition, Latest); err != nil {
		return 0, 0, err
	}
	return start, end, nil
}
