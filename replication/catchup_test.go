package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mlog "github.com/minibroker/minibroker/log"
)

// TestFollowerCatchesUpUnderWrites: a follower far behind (its raft log
// long compacted away on the leader) must catch up through InstallSnapshot
// while writes go on and the leader keeps taking snapshots. Streaming a big
// snapshot takes long; newer snapshots must not remove the one being
// streamed (SnapshotStore keeps open ones), or the follower never catches
// up. In CI it is a few MB with small segments and a snapshot every 256 KiB;
// with MINIBROKER_SOAK=1 the follower is 512 MiB behind (logged: bytes and
// time to catch up).
func TestFollowerCatchesUpUnderWrites(t *testing.T) {
	behind, segment, snapBytes, value := int64(4<<20), int64(64<<10), int64(256<<10), 1024
	soak := os.Getenv("MINIBROKER_SOAK") == "1"
	if soak {
		behind, segment, snapBytes, value = 512<<20, 16<<20, 32<<20, 16<<10
	}
	const parts = 2
	c := newStoreCluster(t, 3, func(cfg *Config) {
		if soak { // raft's default timeouts: minutes of full load on 2 cores
			cfg.Node.HeartbeatTimeout, cfg.Node.ElectionTimeout = time.Second, time.Second
			cfg.Node.LeaderLeaseTimeout = 500 * time.Millisecond
		}
		cfg.SnapshotBytes = snapBytes
		cfg.TrailingBytes = snapBytes / 4
		cfg.Node.SnapshotThreshold = 64
		cfg.Node.TrailingLogs = 64
		cfg.Node.SnapshotInterval = 50 * time.Millisecond
	})
	lead := c.waitLeader()
	mustCreate(t, c.stores[lead], "t", parts, TopicConfig{SegmentBytes: segment})
	follower := (lead + 1) % 3
	c.kill(follower)

	var running []*Store
	for _, s := range c.stores {
		if s != nil {
			running = append(running, s)
		}
	}
	w := startWriters(t, running, "t", parts, value)
	deadline := time.Now().Add(30 * time.Minute)
	for w.bytes.Load() < behind {
		if err := w.failed(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("wrote only %d bytes", w.bytes.Load())
		}
		time.Sleep(10 * time.Millisecond) // polling the writers' progress
	}
	lead = c.waitLeader()
	ln := c.stores[lead].Node()
	if ln.Stats().LastSnapshotIndex == 0 {
		t.Fatal("the leader took no snapshot")
	}
	written := w.bytes.Load()
	start := time.Now()
	s := c.start(follower)
	stateDir := s.FSM().liveStateDir()
	// Caught up: the follower has applied what the leader had committed
	// when it started, while writes go on.
	target := ln.Stats().CommitIndex
	catchUp := 10 * time.Second
	if behind > 64<<20 {
		catchUp = 30 * time.Minute
	}
	for s.Node().AppliedIndex() < target {
		if err := w.failed(); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > catchUp {
			t.Fatalf("the follower applied %d of %d within %v", s.Node().AppliedIndex(), target, catchUp)
		}
		time.Sleep(10 * time.Millisecond) // polling the follower's progress
	}
	took := time.Since(start)
	during := w.bytes.Load() - written
	w.stop()
	if s.FSM().liveStateDir() == stateDir {
		t.Fatal("the follower caught up without installing a snapshot")
	}
	t.Logf("follower %d bytes behind caught up in %v through InstallSnapshot while %d more bytes were written",
		written, took.Round(time.Millisecond), during)
	sameData(t, c, "t", parts)
}

// sameData waits until every running node has the same offsets as the
// leader in every partition of topic, then compares their bytes chunk by
// chunk (waitSame reads whole partitions on every poll: too slow for
// hundreds of MB).
func sameData(t *testing.T, c *storeCluster, topic string, parts int32) {
	t.Helper()
	ref := c.stores[c.waitLeader()].FSM()
	for p := range parts {
		start, end, err := ref.Offsets(topic, p)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("offsets [%d, %d) of %s/%d on every node", start, end, topic, p), func() bool {
			for _, s := range c.stores {
				if s == nil {
					continue
				}
				if s2, e2, err := s.FSM().Offsets(topic, p); err != nil || s2 != start || e2 != end {
					return false
				}
			}
			return true
		})
		for off := start; off < end; {
			want, err := ref.Read(topic, p, off, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range c.stores {
				if s == nil {
					continue
				}
				got, err := s.FSM().Read(topic, p, off, 1<<20)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("n%d differs from the leader in %s/%d at offset %d (%v)", i+1, topic, p, off, err)
				}
			}
			for buf := want; len(buf) > 0; {
				b, rest, err := mlog.ParseBatch(buf)
				if err != nil {
					t.Fatal(err)
				}
				off, buf = b.NextOffset(), rest
			}
		}
	}
}

// writers append batches of 16 records of value bytes each to every
// partition of a topic, with acks=all, through whichever of stores leads,
// until stopped.
type writers struct {
	bytes atomic.Int64 // record bytes acknowledged
	err   atomic.Pointer[error]
	done  chan struct{}
	wg    sync.WaitGroup
}

func startWriters(t *testing.T, stores []*Store, topic string, parts int32, value int) *writers {
	w := &writers{done: make(chan struct{})}
	recs := make([]mlog.Record, 16)
	for i := range recs {
		v := make([]byte, value)
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		recs[i] = mlog.Record{Timestamp: 1000, Value: v}
	}
	batch, err := mlog.AppendBatch(nil, recs, 0)
	if err != nil {
		t.Fatal(err)
	}
	for p := range parts {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			s := stores[0]
			for {
				select {
				case <-w.done:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), testWait)
				_, err := s.Append(ctx, topic, p, batch, AcksAll)
				cancel()
				switch {
				case err == nil:
					w.bytes.Add(int64(len(batch)))
				case errors.Is(err, ErrShutdown):
					return
				case errors.Is(err, ErrNotLeader):
					for _, o := range stores {
						if o.Node().IsReady() {
							s = o
						}
					}
					time.Sleep(10 * time.Millisecond) // pacing retries during an election
				case errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrTimeout):
				default:
					err = fmt.Errorf("append to %s/%d: %w", topic, p, err)
					w.err.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	t.Cleanup(w.stop)
	return w
}

func (w *writers) failed() error {
	if p := w.err.Load(); p != nil {
		return *p
	}
	return nil
}

// stop stops the writers and waits for them. It is idempotent.
func (w *writers) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	w.wg.Wait()
}
