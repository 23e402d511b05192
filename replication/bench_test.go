package replication

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	mlog "github.com/minibroker/minibroker/log"
)

// Benchmarks: go test -run=^$ -bench . ./replication
//
// BenchmarkAppend measures Store.Append with acks=all on 3 in-process nodes;
// BenchmarkBaselineRaftApply measures raw raft Apply of entries of the same
// size on a no-op FSM, on the same kind of cluster, in the same run. Compare
// records/s between them.

var benchShapes = []struct{ records, inflight int }{
	{1, 1}, {1, 64}, {100, 1}, {100, 64}, {1000, 1}, {1000, 64},
}

func benchBatch(b testing.TB, records int) mlog.Batch {
	recs := make([]mlog.Record, records)
	val := make([]byte, 100)
	for i := range recs {
		recs[i] = mlog.Record{Timestamp: 1, Value: val}
	}
	batch, err := mlog.AppendBatch(nil, recs, 0)
	if err != nil {
		b.Fatal(err)
	}
	return batch
}

// runParallel runs n operations over inflight goroutines and reports
// records/s.
func runParallel(b *testing.B, inflight, records int, op func() error) {
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan struct{}, b.N)
	for i := 0; i < b.N; i++ {
		next <- struct{}{}
	}
	close(next)
	for g := 0; g < inflight; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if err := op(); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	b.ReportMetric(float64(b.N*records)/el.Seconds(), "records/s")
}

func BenchmarkAppend(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("records=%d/inflight=%d", sh.records, sh.inflight), func(b *testing.B) {
			stores := startBenchStores(b, 3)
			lead := stores[0]
			if err := lead.CreateTopic(context.Background(), "bench", 1, TopicConfig{}); err != nil {
				b.Fatal(err)
			}
			batch := benchBatch(b, sh.records)
			b.SetBytes(int64(len(batch)))
			runParallel(b, sh.inflight, sh.records, func() error {
				// Append sets fields in the batch it is given (via the
				// command encoding copy), so sharing one batch is fine.
				_, err := lead.Append(context.Background(), "bench", 0, batch, AcksAll)
				return err
			})
		})
	}
}

type noopFSM struct{}

func (noopFSM) Apply(*raft.Log) any { return nil }
func (noopFSM) ApplyBatch(l []*raft.Log) []any {
	return make([]any, len(l))
}
func (noopFSM) Snapshot() (raft.FSMSnapshot, error) { return noopSnap{}, nil }
func (noopFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type noopSnap struct{}

func (noopSnap) Persist(s raft.SnapshotSink) error { return s.Close() }
func (noopSnap) Release()                          {}

func BenchmarkBaselineRaftApply(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(fmt.Sprintf("records=%d/inflight=%d", sh.records, sh.inflight), func(b *testing.B) {
			nodes := startBenchNodes(b, 3)
			cmd := encodeAppend(&AppendCmd{Topic: "bench", Timestamp: 1, Batch: benchBatch(b, sh.records)})
			var err error
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(cmd)))
			runParallel(b, sh.inflight, sh.records, func() error {
				_, err := nodes[0].Apply(context.Background(), cmd, AcksAll)
				return err
			})
		})
	}
}

// benchNodeConfig uses production timeouts: benchmarks measure the
// steady state, and short timeouts would only add elections under load.
func benchNodeConfig(b *testing.B, i int) NodeConfig {
	return NodeConfig{ID: fmt.Sprintf("n%d", i+1), RaftAddr: "127.0.0.1:0", DataDir: b.TempDir(), Bootstrap: i == 0,
		HeartbeatTimeout: 500 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond, LeaderLeaseTimeout: 250 * time.Millisecond}
}

func startBenchStores(b *testing.B, n int) []*Store {
	stores := make([]*Store, n)
	for i := range stores {
		s, err := Open(Config{Node: benchNodeConfig(b, i)})
		if err != nil {
			b.Fatal(err)
		}
		stores[i] = s
	}
	b.Cleanup(func() {
		for _, s := range stores {
			s.Close()
		}
	})
	waitBenchLeader(b, stores[0].Node(), stores[1:]...)
	return stores
}

func waitBenchLeader(b *testing.B, lead *Node, others ...*Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := lead.WaitLeader(ctx); err != nil {
		b.Fatal(err)
	}
	for _, s := range others {
		if err := lead.AddVoter(ctx, s.Node().ID(), s.Node().RaftAddr()); err != nil {
			b.Fatal(err)
		}
	}
}

func startBenchNodes(b *testing.B, n int) []*Node {
	nodes := make([]*Node, n)
	for i := range nodes {
		nd, err := NewNode(benchNodeConfig(b, i), noopFSM{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		nodes[i] = nd
	}
	b.Cleanup(func() {
		for _, nd := range nodes {
			nd.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := nodes[0].WaitLeader(ctx); err != nil {
		b.Fatal(err)
	}
	for _, nd := range nodes[1:] {
		if err := nodes[0].AddVoter(ctx, nd.ID(), nd.RaftAddr()); err != nil {
			b.Fatal(err)
		}
	}
	return nodes
}

// BenchmarkSnapshot takes a snapshot (Snapshot + Persist into the manifest
// store) of an FSM holding 10 MB and 1 GB of partition data, with the same
// 1 MB appended since the previous snapshot each time (what must be
// fsynced grows with the data written since the last snapshot, which
// SnapshotBytes bounds, never with the data held). The cost is
// O(segments): the two should be within 2x of each other.
func BenchmarkSnapshot(b *testing.B) {
	for _, size := range []int64{10 << 20, 1 << 30} {
		b.Run(fmt.Sprintf("data=%dMB", size>>20), func(b *testing.B) {
			f, err := NewFSM(FSMConfig{Dir: filepath.Join(b.TempDir(), "fsm")})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var idx uint64
			apply := func(t CommandType, body any) any {
				data, err := encodeCommand(t, body)
				if err != nil {
					b.Fatal(err)
				}
				idx++
				return f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data})
			}
			apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 4})
			recs := make([]mlog.Record, 1000)
			for i := range recs {
				recs[i] = mlog.Record{Value: make([]byte, 1000)}
			}
			batch, _ := mlog.AppendBatch(nil, recs, 0)
			appendBytes := func(n int64) {
				for done := int64(0); done < n; done += int64(len(batch)) {
					if r, ok := apply(CmdAppend, &AppendCmd{Topic: "t", Partition: int32(idx % 4), Batch: batch}).(error); ok {
						b.Fatal(r)
					}
				}
			}
			appendBytes(size)
			store, err := NewSnapshotStore(filepath.Join(b.TempDir(), "snaps"), 2, nil)
			if err != nil {
				b.Fatal(err)
			}
			take := func() {
				snap, err := f.Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				sink, err := store.Create(1, idx, 1, raft.Configuration{}, 1, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := snap.Persist(sink); err != nil {
					b.Fatal(err)
				}
				snap.Release()
			}
			take() // the first snapshot fsyncs everything written so far
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				appendBytes(1 << 20)
				b.StartTimer()
				take()
			}
		})
	}
}
