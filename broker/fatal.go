package broker

import (
	"context"
	"fmt"
	"time"
)

// A broker whose replication stops on a fatal local error (its state
// machine could not apply a committed entry: disk full, an I/O error)
// cannot take part in the cluster any more: it would neither commit nor
// apply anything. Left serving, it answers every client with "no leader"
// or "shutting down", and clients that reach it first stall although the
// rest of the cluster has elected a new leader. So the broker closes
// itself, as Kafka's broker halts on an unrecoverable log error: clients
// fail over at once, and `minibroker serve` exits non-zero for a
// supervisor to restart it once the cause is fixed. Nothing committed is
// lost: the entry that failed was not recorded as applied, so a restart
// applies it again.

// watchFatal shuts b down when its Raft node stops on a fatal error. It
// runs on its own goroutine, outside b.wg (Close waits for b.wg), and
// returns when b is closed or after shutting it down.
func (b *Broker) watchFatal() {
	node := b.store.Node()
	select {
	case <-b.ctx.Done():
		return
	case <-node.Done():
	}
	err := node.Err()
	if err == nil {
		return // stopped by Close
	}
	b.fatalMu.Lock()
	b.fatal = fmt.Errorf("%w: %w", ErrStopped, err)
	b.fatalMu.Unlock()
	b.logger.Error("broker stopping: replication stopped on a fatal error; restart this node once the cause is fixed", "error", err)
	// Shutdown rather than Close: requests in flight get their answers
	// (errors, as nothing commits here any more) before connections close.
	ctx, cancel := context.WithTimeout(context.Background(), fatalDrain)
	defer cancel()
	_ = b.Shutdown(ctx)
}

// fatalDrain bounds how long a broker that stops itself waits for the
// requests in flight.
const fatalDrain = 5 * time.Second

// Done returns a channel that is closed once the broker is closed: by
// Close or Shutdown, or by the broker itself after a fatal error (then
// Err says why). It does not block and is safe for concurrent use.
func (b *Broker) Done() <-chan struct{} { return b.done }

// Err returns the error that made the broker close itself, wrapping
// ErrStopped and the cause (e.g. syscall.ENOSPC); nil if it is running or
// was closed by Close or Shutdown. It does not block and is safe for
// concurrent use.
func (b *Broker) Err() error {
	b.fatalMu.Lock()
	defer b.fatalMu.Unlock()
	return b.fatal
}
