package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/minibroker/minibroker/internal/wire"
)

// NodeStatus asks the node at addr (a client address) for its own view of
// the Raft cluster: its term, commit, applied and last log index, and the
// leader it knows. Unlike ClusterStatus it is not redirected to the
// leader, so a dashboard can show every node's indexes side by side. It
// blocks until the node answers or ctx ends, retrying a lost connection
// once. Errors: ErrClosed, ctx's error, a connection error (the node is
// down). Safe for concurrent use.
func (cl *Client) NodeStatus(ctx context.Context, addr string) (ClusterStatus, error) {
	resp := new(wire.DescribeClusterResponse)
	var err error
	for attempt := 1; attempt <= 2; attempt++ {
		var c *conn
		if c, err = cl.getConn(ctx, addr); err == nil {
			if err = c.roundTrip(ctx, wire.DescribeCluster, &wire.DescribeClusterRequest{}, resp, cl.cfg.RequestTimeout); err == nil {
				err = resp.Err()
			}
		}
		if err == nil || !errors.Is(err, ErrConnectionLost) {
			break
		}
	}
	if err != nil {
		return ClusterStatus{}, fmt.Errorf("minibroker: node status of %s: %w", addr, err)
	}
	return clusterStatusOf(resp), nil
}
