package fault

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
)

// localConsumer is a group member in the test process: it polls, records
// each delivery in the checker, then commits partition by partition and
// remembers the acknowledged commits. freeze parks it between batches.
type localConsumer struct {
	t      *testing.T
	cl     *client.Client
	c      *client.Consumer
	cancel context.CancelFunc // ends the Poll in progress: freeze
	parked chan struct{}      // closed when the loop has stopped
	err    error              // the loop's error; read after parked is closed
	once   sync.Once          // reports err once

	mu      sync.Mutex        // guards the fields below
	commits map[int32]int64   // acknowledged commits (next offset to read)
	first   map[int32]int64   // first offset delivered per partition
	errs    map[string]string // commit errors by kind, for the log
}

func startLocalConsumer(t *testing.T, ck *check.Checker, brokers []string, group, topic string) *localConsumer {
	t.Helper()
	cl, err := client.New(client.Config{Brokers: brokers, DialTimeout: time.Second, RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cl.Consumer(client.ConsumerConfig{Group: group, Topics: []string{topic}, ManualCommit: true,
		SessionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond, MaxPollInterval: 20 * time.Second,
		FetchMaxWait: 100 * time.Millisecond, MaxPollRecords: 50})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	lc := &localConsumer{t: t, cl: cl, c: c, cancel: cancel, parked: make(chan struct{}),
		commits: map[int32]int64{}, first: map[int32]int64{}, errs: map[string]string{}}
	go func() {
		defer close(lc.parked)
		for {
			recs, err := c.Poll(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				lc.err = err
				return
			}
			byPart := map[int32][]client.Record{}
			lc.mu.Lock()
			for _, r := range recs {
				ck.Delivered(check.Delivery{Group: group, Topic: topic, Partition: r.Partition, Offset: r.Offset, Value: r.Value})
				if _, ok := lc.first[r.Partition]; !ok {
					lc.first[r.Partition] = r.Offset
				}
				byPart[r.Partition] = append(byPart[r.Partition], r)
			}
			lc.mu.Unlock()
			for p, rs := range byPart {
				err := lc.commit(rs)
				lc.mu.Lock()
				if err == nil {
					lc.commits[p] = max(lc.commits[p], rs[len(rs)-1].Offset+1)
				} else {
					lc.errs[kindOf(err)] = err.Error()
				}
				lc.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		lc.freeze()
		cl.Close()
	})
	return lc
}

func (lc *localConsumer) commit(rs []client.Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return lc.c.Commit(ctx, rs...)
}

// kindOf names a commit error's kind.
func kindOf(err error) string {
	switch {
	case errors.Is(err, client.ErrCommitFenced):
		return "fenced"
	case errors.Is(err, client.ErrRebalanceInProgress):
		return "rebalance"
	case errors.Is(err, client.ErrOutcomeUnknown):
		return "unknown"
	}
	return "other"
}

// freeze stops the consumer after the batch in progress is committed (or
// its commit failed) and waits until it is parked; it stays a member (its
// heartbeats go on) until closed. It fails the test if the loop had
// stopped with an error. Idempotent.
func (lc *localConsumer) freeze() {
	lc.cancel()
	<-lc.parked
	lc.once.Do(func() {
		if lc.err != nil {
			lc.t.Errorf("consumer: %v", lc.err)
		}
	})
}

// close freezes the consumer and leaves the group.
func (lc *localConsumer) close() {
	lc.freeze()
	if err := lc.c.Close(); err != nil {
		lc.t.Logf("consumer close: %v", err)
	}
}

// ackedCommits returns the acknowledged commits so far.
func (lc *localConsumer) ackedCommits() map[int32]int64 {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	out := make(map[int32]int64, len(lc.commits))
	for p, o := range lc.commits {
		out[p] = o
	}
	return out
}

// firstDelivered returns the first offset delivered per partition.
func (lc *localConsumer) firstDelivered() map[int32]int64 {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	out := make(map[int32]int64, len(lc.first))
	for p, o := range lc.first {
		out[p] = o
	}
	return out
}

// committedOffsets reads group's committed offsets of topic from the
// cluster (-1: none), retrying until it answers.
func committedOffsets(t *testing.T, cl *client.Client, group, topic string) map[int32]int64 {
	t.Helper()
	var d client.GroupDescription
	waitFor(t, "the group's committed offsets", 30*time.Second, func() bool {
		var err error
		d, err = within(3*time.Second, func(ctx context.Context) (client.GroupDescription, error) {
			return cl.DescribeGroup(ctx, group)
		})
		return err == nil
	})
	out := map[int32]int64{}
	for _, o := range d.Offsets {
		if o.Topic == topic {
			out[o.Partition] = o.Committed
		}
	}
	return out
}
