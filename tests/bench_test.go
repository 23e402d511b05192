package tests

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	mlog "github.com/minibroker/minibroker/log"
	"github.com/minibroker/minibroker/replication"
)

// Benchmarks of the whole path, each with its baseline in the same run:
//
//	go test -run=^$ -bench . -benchtime=5s ./tests
//
// BenchmarkProduce:      client → 3 in-process brokers, acks=all, 100-byte
//                        messages, batching, idempotent (the default) and
//                        not; baseline: raw raft Apply of the same bytes on
//                        a no-op state machine, 3 nodes. Also reports the
//                        process's CPU time per message (cpu-µs/msg).
// BenchmarkProduceOne:   one acks=all message in flight (latency, p50/p99);
//                        baseline: one raw raft Apply in flight.
// BenchmarkFetch:        a Reader fetching one partition; baseline: reading
//                        and decoding the same batches from a log directly.

// benchCluster starts 3 brokers with production Raft timeouts: short test
// timeouts only add elections under benchmark load.
func benchCluster(b *testing.B) *brokertest.Cluster {
	return brokertest.NewCluster(b, 3, func(_ int, c *broker.Config) {
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
	})
}

func benchClient(b *testing.B, c *brokertest.Cluster) *client.Client {
	cl, err := client.New(client.Config{Brokers: c.Addrs()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	if err := cl.CreateTopic(context.Background(), "bench", client.TopicConfig{Partitions: 1}); err != nil {
		b.Fatal(err)
	}
	return cl
}

var value100 = make([]byte, 100)

// benchInFlight is the producer's MaxInFlight in BenchmarkProduce.
var benchInFlight = 64

func BenchmarkProduce(b *testing.B) {
	for _, mode := range []struct {
		name string
		idem client.Idempotence
	}{{"client", client.IdempotenceOn}, {"client-no-idempotence", client.IdempotenceOff}} {
		b.Run(mode.name, func(b *testing.B) {
			cl := benchClient(b, benchCluster(b))
			p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll, MaxInFlight: benchInFlight, Idempotence: mode.idem})
			defer p.Close()
			var wg sync.WaitGroup
			var errOnce sync.Once
			var firstErr error
			b.SetBytes(100)
			b.ResetTimer()
			start := time.Now()
			cpu0 := cpuTime()
			wg.Add(b.N)
			for i := 0; i < b.N; i++ {
				p.ProduceAsync(client.Message{Topic: "bench", Value: value100}, func(_ client.Result, err error) {
					if err != nil {
						errOnce.Do(func() { firstErr = err })
					}
					wg.Done()
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			reportCPU(b, cpu0, b.N)
			if firstErr != nil {
				b.Fatal(firstErr)
			}
		})
	}
	b.Run("baseline-raft", func(b *testing.B) {
		// The client sends batches of up to 64 KiB, benchInFlight in
		// flight: raw raft gets entries of that size, as many in flight.
		const perEntry = 64 << 10 / 110
		nodes := rawRaftCluster(b)
		entry := make([]byte, perEntry*110)
		b.SetBytes(100)
		b.ResetTimer()
		start := time.Now()
		entries := (b.N + perEntry - 1) / perEntry
		cpu0 := cpuTime()
		parallel(b, benchInFlight, entries, func() error {
			_, err := nodes[0].Apply(context.Background(), entry, replication.AcksAll)
			return err
		})
		b.ReportMetric(float64(entries*perEntry)/time.Since(start).Seconds(), "msgs/s")
		reportCPU(b, cpu0, entries*perEntry)
	})
}

// cpuTime is the CPU time (user and system) the process has used: on a
// machine shared with other work, CPU per message is steadier than
// messages per second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU microseconds per message since
// cpu0 (every node and the client run in this process).
func reportCPU(b *testing.B, cpu0 time.Duration, msgs int) {
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Microsecond)/float64(msgs), "cpu-µs/msg")
}

func BenchmarkProduceOne(b *testing.B) {
	b.Run("client", func(b *testing.B) {
		cl := benchClient(b, benchCluster(b))
		p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll})
		defer p.Close()
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if _, err := p.Produce(context.Background(), client.Message{Topic: "bench", Value: value100}); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		reportLatency(b, lat)
	})
	b.Run("baseline-raft", func(b *testing.B) {
		nodes := rawRaftCluster(b)
		entry := make([]byte, 160)
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if _, err := nodes[0].Apply(context.Background(), entry, replication.AcksAll); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		reportLatency(b, lat)
	})
}

func BenchmarkFetch(b *testing.B) {
	const total = 200_000
	b.Run("client", func(b *testing.B) {
		cl := benchClient(b, benchCluster(b))
		fill(b, cl, total)
		b.ResetTimer()
		readBench(b, cl, total)
	})
	b.Run("baseline-log", func(b *testing.B) {
		l, err := mlog.Open(filepath.Join(b.TempDir(), "p"), mlog.Config{})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		recs := make([]mlog.Record, 500)
		for i := range recs {
			recs[i] = mlog.Record{Timestamp: 1, Value: value100}
		}
		for n := 0; n < total; n += len(recs) {
			batch, _ := mlog.AppendBatch(nil, recs, 0)
			if _, err := l.Append(batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		read := 0
		start := time.Now()
		var out []mlog.Record
		for read < b.N {
			for off := int64(0); off < total && read < b.N; {
				buf, err := l.Read(off, 4<<20)
				if err != nil {
					b.Fatal(err)
				}
				for len(buf) > 0 {
					batch, rest, err := mlog.ParseBatch(buf)
					if err != nil {
						b.Fatal(err)
					}
					if out, err = batch.Records(out[:0]); err != nil {
						b.Fatal(err)
					}
					read += len(out)
					off, buf = batch.NextOffset(), rest
				}
			}
		}
		b.ReportMetric(float64(read)/time.Since(start).Seconds(), "msgs/s")
	})
}

// readBench reads b.N records of partition 0 of "bench" (total records,
// read again from the start as often as needed) with a Reader, and
// reports msgs/s.
func readBench(b *testing.B, cl *client.Client, total int64) {
	read := 0
	start := time.Now()
	for read < b.N {
		r := cl.Reader(client.ReaderConfig{Topic: "bench", Partition: 0, Offset: 0, MaxBytes: 4 << 20})
		for r.Offset() < total && read < b.N {
			recs, err := r.Fetch(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			read += len(recs)
		}
	}
	b.ReportMetric(float64(read)/time.Since(start).Seconds(), "msgs/s")
}

// fill produces n 100-byte messages to partition 0 of "bench".
func fill(b *testing.B, cl *client.Client, n int) {
	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll})
	defer p.Close()
	for i := 0; i < n; i++ {
		p.ProduceAsync(client.Message{Topic: "bench", Value: value100}, func(_ client.Result, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := p.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// parallel runs n calls of op over inflight goroutines.
func parallel(b *testing.B, inflight, n int, op func() error) {
	jobs := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	var wg sync.WaitGroup
	errs := make(chan error, inflight)
	for g := 0; g < inflight; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if err := op(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// rawRaftCluster starts 3 replication.Nodes with a state machine that does
// nothing: what raft and its bbolt log cost on their own.
func rawRaftCluster(b *testing.B) []*replication.Node {
	nodes := make([]*replication.Node, 3)
	for i := range nodes {
		n, err := replication.NewNode(replication.NodeConfig{
			ID: fmt.Sprintf("r%d", i), RaftAddr: "127.0.0.1:0", DataDir: b.TempDir(), Bootstrap: i == 0,
		}, noopFSM{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		nodes[i] = n
	}
	b.Cleanup(func() {
		for _, n := range nodes {
			n.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, _, err := nodes[0].WaitLeader(ctx); err != nil {
		b.Fatal(err)
	}
	for _, n := range nodes[1:] {
		if err := nodes[0].AddVoter(ctx, n.ID(), n.RaftAddr()); err != nil {
			b.Fatal(err)
		}
	}
	return nodes
}

type noopFSM struct{}

func (noopFSM) Apply(*raft.Log) any                 { return nil }
func (noopFSM) ApplyBatch(l []*raft.Log) []any      { return make([]any, len(l)) }
func (noopFSM) Snapshot() (raft.FSMSnapshot, error) { return noopSnap{}, nil }
func (noopFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type noopSnap struct{}

func (noopSnap) Persist(s raft.SnapshotSink) error { return s.Close() }
func (noopSnap) Release()                          {}
