package broker

import (
	"context"
	"fmt"
	"time"
)

// Shutdown stops the broker gracefully, in the manner of net/http's
// Server.Shutdown:
//
//  1. it stops accepting connections, and /readyz answers 503;
//  2. every connection stops reading requests, answers the ones in flight
//     (produce requests wait for their acks; long-poll fetches return at
//     once with what there is) and then closes. Requests a client sent
//     after that point are not read: the client sees the connection close
//     and retries elsewhere;
//  3. if this node is the leader of a cluster with other voters, it hands
//     leadership to the most up-to-date one (Raft leadership transfer) and
//     waits until a new leader is known, so clients find it at once
//     instead of after an election timeout;
//  4. it closes everything as Close does.
//
// Steps 2 and 3 are bounded by ctx: when ctx ends first, Shutdown goes on
// to Close at once and returns ctx's error (wrapped). Otherwise it returns
// Close's result. A failed leadership transfer is logged, not returned:
// the cluster then elects a new leader after its election timeout. It
// blocks until the broker is closed. It is safe to call concurrently with
// itself and Close, and after Close (it then returns Close's result).
func (b *Broker) Shutdown(ctx context.Context) error {
	first := false
	b.drainOnce.Do(func() {
		first = true
		close(b.draining)
	})
	var err error
	if first {
		err = b.drainAndHandOff(ctx)
		close(b.graceful)
	} else {
		select {
		case <-b.graceful:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	cerr := b.Close()
	if err != nil {
		return fmt.Errorf("broker: shutdown: %w", err)
	}
	return cerr
}

// isDraining reports whether Shutdown has begun. It does not block.
func (b *Broker) isDraining() bool {
	select {
	case <-b.draining:
		return true
	default:
		return false
	}
}

// drainAndHandOff runs steps 1-3 of Shutdown. It returns ctx's error if ctx
// ended first, else nil.
func (b *Broker) drainAndHandOff(ctx context.Context) error {
	if b.ctx.Err() != nil {
		return nil // already closed
	}
	b.logger.Info("broker shutting down gracefully")
	b.ln.Close()
	// Interrupt every connection's read: serve sees draining and closes the
	// connection once its requests are answered. A connection accepted
	// after this was refused by acceptLoop (it checks draining under mu).
	b.mu.Lock()
	for c := range b.conns {
		c.nc.SetReadDeadline(time.Now())
	}
	b.mu.Unlock()
	drained := make(chan struct{})
	go func() {
		b.cwg.Wait() // ends at the latest when Close closes the connections
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.handOffLeadership(ctx)
}

// handOffLeadership transfers leadership away if this node leads a
// cluster with other voters, and waits until another leader is known. It
// returns ctx's error if ctx ended first, else nil.
func (b *Broker) handOffLeadership(ctx context.Context) error {
	node := b.store.Node()
	if !node.IsLeader() {
		return nil
	}
	servers, err := node.Servers()
	if err != nil {
		return nil // stopped meanwhile
	}
	if countVoters(servers) < 2 {
		return nil
	}
	start := time.Now()
	if err := node.LeadershipTransfer(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		b.logger.Warn("leadership transfer failed; the cluster will elect a leader after its election timeout", "error", err)
		return nil
	}
	for {
		changed := node.LeaderChanged()
		if id, _ := node.Leader(); id != "" && id != b.id {
			b.logger.Info("leadership transferred", "new_leader", id, "took", time.Since(start))
			return nil
		}
		select {
		case <-changed:
		case <-node.Done():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
