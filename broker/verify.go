package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// Replica verification: the leader proposes a digest entry (ProposeDigest);
// every node answers with the digest it took when it applied that entry
// (ReplicaDigest). See replication.Store.ProposeDigest.

const (
	// defaultDigestWait is how long ReplicaDigest waits for this node to
	// apply the asked index when the request names no timeout.
	defaultDigestWait = 10 * time.Second
	// maxDigestWait caps the wait a request may ask for.
	maxDigestWait = time.Minute
)

// proposeDigest makes the leader replicate a digest entry and answers with
// its Raft index. A follower answers CodeNotLeader with the leader's client
// address.
func (b *Broker) proposeDigest(ctx context.Context, _ *wire.ProposeDigestRequest) wire.ProposeDigestResponse {
	index, err := b.store.ProposeDigest(ctx)
	if err != nil {
		resp := wire.ProposeDigestResponse{ErrorCode: codeOf(err), ErrorMessage: b.errText(err)}
		resp.LeaderID, resp.LeaderAddr = b.leaderClientAddr()
		return resp
	}
	return wire.ProposeDigestResponse{Index: index}
}

// replicaDigest answers with this node's digest at req.Index, waiting (up
// to the request's timeout) until the node has applied it.
func (b *Broker) replicaDigest(ctx context.Context, req *wire.ReplicaDigestRequest) wire.ReplicaDigestResponse {
	wait := defaultDigestWait
	if req.TimeoutMs > 0 {
		wait = min(time.Duration(req.TimeoutMs)*time.Millisecond, maxDigestWait)
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	d, err := b.store.DigestAt(ctx, req.Index)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("index %d not applied within %v: %w", req.Index, wait, err)
		}
		return wire.ReplicaDigestResponse{ErrorCode: codeOf(err), ErrorMessage: err.Error(), NodeID: b.id, Index: req.Index}
	}
	resp := wire.ReplicaDigestResponse{NodeID: b.id, Index: d.Index, Meta: d.Meta,
		Partitions: make([]wire.PartitionDigest, len(d.Partitions))}
	for i, p := range d.Partitions {
		resp.Partitions[i] = wire.PartitionDigest{Topic: p.Topic, Partition: p.Partition,
			StartOffset: p.StartOffset, NextOffset: p.NextOffset, Sum: p.Sum}
	}
	return resp
}
