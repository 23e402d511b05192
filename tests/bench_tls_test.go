package tests

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
)

// securityModes are BenchmarkSecurity's variants: TLS on every link
// (clients and Raft, mutual TLS between nodes), SCRAM authentication with
// ACLs enforced, both, or neither.
var securityModes = []struct {
	name       string
	tls, scram bool
}{
	{"plaintext", false, false},
	{"tls", true, false},
	{"scram", false, true},
	{"tls+scram", true, true},
}

// BenchmarkSecurity measures produce (acks=all, 100-byte messages,
// batching, 3 nodes) and consume (a Reader over one partition) with TLS,
// with SCRAM (the client logs in as a user who is no superuser, so every
// request's ACL check runs too), with both, and with neither, in the same
// run:
//
//	go test -run=^$ -bench Security -benchtime=2s ./tests
func BenchmarkSecurity(b *testing.B) {
	for _, m := range securityModes {
		secured := func(b *testing.B) *client.Client {
			dir := b.TempDir()
			mods := []func(int, *broker.Config){func(_ int, cfg *broker.Config) {
				cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
			}}
			var cfg client.Config
			if m.tls {
				mods = append(mods, brokertest.TLS(b, dir))
				cfg.TLS = brokertest.ClientTLS(b, dir, "") // no certificate: the login is SCRAM's, or none
			}
			if m.scram {
				mods = append(mods, brokertest.SCRAM("admin", "admin-pw"))
			}
			c := brokertest.NewCluster(b, 3, mods...)
			cfg.Brokers = c.Addrs()
			ctx := context.Background()
			if m.scram {
				admin := cfg
				admin.User, admin.Password = "admin", "admin-pw"
				acl, err := client.New(admin)
				if err != nil {
					b.Fatal(err)
				}
				defer acl.Close()
				if err := acl.CreateTopic(ctx, "bench", client.TopicConfig{Partitions: 1}); err != nil {
					b.Fatal(err)
				}
				if err := acl.CreateUser(ctx, "bench", "bench-pw", client.UserOptions{}); err != nil {
					b.Fatal(err)
				}
				for _, op := range []client.ACLOperation{client.ACLRead, client.ACLWrite} {
					if err := acl.CreateACLs(ctx, client.ACL{Principal: "User:bench", Resource: client.ACLTopic, Name: "bench", Operation: op}); err != nil {
						b.Fatal(err)
					}
				}
				cfg.User, cfg.Password = "bench", "bench-pw"
			}
			cl, err := client.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { cl.Close() })
			if !m.scram {
				if err := cl.CreateTopic(ctx, "bench", client.TopicConfig{Partitions: 1}); err != nil {
					b.Fatal(err)
				}
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
