package broker

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// callPeer sends one request to another broker's client address and
// decodes the response into resp. It dials a fresh connection each time:
// brokers talk to each other over the client protocol only to join, which
// is rare. With TLS it presents this node's certificate (Config.PeerTLS;
// see dialPeer); else, with authentication on, it logs in first
// (authenticatePeer). It blocks until the answer, an error, or the end of
// ctx.
func (b *Broker) callPeer(ctx context.Context, addr string, key wire.APIKey, req any, resp any) error {
	nc, err := b.dialPeer(ctx, addr)
	if err != nil {
		return fmt.Errorf("broker: dial %s: %w", addr, err)
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	} else {
		nc.SetDeadline(time.Now().Add(30 * time.Second))
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	br := bufio.NewReader(nc)
	if err := b.authenticatePeer(nc, br); err != nil {
		return fmt.Errorf("broker: log in to %s: %w", addr, err)
	}
	frame, err := wire.EncodeRequest(nil, wire.RequestHeader{APIKey: key, CorrelationID: 1}, req)
	if err != nil {
		return err
	}
	if _, err := nc.Write(frame); err != nil {
		return fmt.Errorf("broker: send to %s: %w", addr, err)
	}
	payload, err := wire.ReadFrame(br, wire.DefaultMaxFrame, nil)
	if err != nil {
		return fmt.Errorf("broker: read from %s: %w", addr, err)
	}
	_, body, err := wire.DecodeResponseHeader(payload)
	if err != nil {
		return err
	}
	return wire.DecodeBody(body, resp)
}

// join asks the members at addrs, in turn, to add this node, following
// NotLeader redirects, until one succeeds or ctx ends.
func (b *Broker) join(ctx context.Context, addrs []string) error {
	req := &wire.JoinClusterRequest{ID: b.id, RaftAddr: b.store.Node().RaftAddr(), ClientAddr: b.addr, KafkaAddr: b.kafkaAddr}
	backoff := 50 * time.Millisecond
	var lastErr error
	for {
		for _, addr := range addrs {
			for hops := 0; addr != "" && hops < 3; hops++ {
				var resp wire.JoinClusterResponse
				err := b.callPeer(ctx, addr, wire.JoinCluster, req, &resp)
				if err == nil {
					err = resp.Err()
				}
				if err == nil {
					return nil
				}
				lastErr = err
				if resp.ErrorCode != wire.CodeNotLeader || resp.LeaderAddr == addr {
					break
				}
				addr = resp.LeaderAddr // redirect to the leader
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: joining %v: %v", ErrStartTimeout, addrs, lastErr)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}
