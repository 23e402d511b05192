package tests

import (
	"context"
	"crypto/tls"
	"sync"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
)

// BenchmarkSecurity measures produce (acks=all, 100-byte messages,
// batching, 3 nodes) and consume (a Reader over one partition) with TLS on
// every link (clients and Raft, mutual TLS between nodes) beside
// plaintext, in the same run:
//
//	go test -run=^$ -bench Security -benchtime=3s ./tests
func BenchmarkSecurity(b *testing.B) {
	modes := []struct {
		name string
		mod  func(b *testing.B, dir string) (func(int, *broker.Config), *tls.Config)
	}{
		{"plaintext", func(*testing.B, string) (func(int, *broker.Config), *tls.Config) {
			return func(int, *broker.Config) {}, nil
		}},
		{"tls", func(b *testing.B, dir string) (func(int, *broker.Config), *tls.Config) {
			return brokertest.TLS(b, dir), brokertest.ClientTLS(b, dir, "")
		}},
	}
	for _, m := range modes {
		secured := func(b *testing.B) *client.Client {
			mod, tcfg := m.mod(b, b.TempDir())
			c := brokertest.NewCluster(b, 3, mod, func(_ int, cfg *broker.Config) {
				cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
			})
			cl, err := client.New(client.Config{Brokers: c.Addrs(), TLS: tcfg})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { cl.Close() })
			if err := cl.CreateTopic(context.Background(), "bench", client.TopicConfig{Partitions: 1}); err != nil {
				b.Fatal(err)
			}
			return cl
		}
		b.Run("produce/"+m.name, func(b *testing.B) {
			cl := secured(b)
			p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll, MaxInFlight: benchInFlight})
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
		b.Run("consume/"+m.name, func(b *testing.B) {
			const total = 100_000
			cl := secured(b)
			fill(b, cl, total)
			b.SetBytes(100)
			b.ResetTimer()
			cpu0 := cpuTime()
			readBench(b, cl, total)
			reportCPU(b, cpu0, b.N)
		})
	}
}
