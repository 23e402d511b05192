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

// Authentication's cost, beside no authentication in the same run:
//
//	go test -run=^$ -bench 'Auth' -benchtime=2s ./tests
//
// BenchmarkAuthConnect: a new Client per iteration (dial, log in, fetch
// metadata: what every CLI invocation does), with auth none, and with
// SCRAM-SHA-256 and SCRAM-SHA-512 (4096 PBKDF2 iterations on the client,
// once per Client: its later connections reuse the derived keys; the
// broker only computes HMACs).
// BenchmarkAuthProduce and BenchmarkAuthFetch: steady state on one
// logged-in connection, none vs SCRAM: authentication happens once per
// connection, so they should not differ.

// authModes are the benchmarks' variants: a name, the cluster mod and the
// client's login.
var authModes = []struct {
	name string
	mod  func(int, *broker.Config)
	user string
	mech string
}{
	{"none", func(int, *broker.Config) {}, "", ""},
	{"scram-sha-256", brokertest.SCRAM("admin", "admin-pw"), "admin", client.MechSCRAMSHA256},
	{"scram-sha-512", brokertest.SCRAM("admin", "admin-pw"), "admin", client.MechSCRAMSHA512},
}

func authBenchCluster(b *testing.B, mod func(int, *broker.Config)) *brokertest.Cluster {
	return brokertest.NewCluster(b, 1, mod, func(_ int, c *broker.Config) {
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
	})
}

func authClientConfig(c *brokertest.Cluster, user, mech string) client.Config {
	cfg := client.Config{Brokers: c.Addrs(), Mechanism: mech}
	if user != "" {
		cfg.User, cfg.Password = user, "admin-pw"
	}
	return cfg
}

func BenchmarkAuthConnect(b *testing.B) {
	for _, m := range authModes {
		b.Run(m.name, func(b *testing.B) {
			c := authBenchCluster(b, m.mod)
			cfg := authClientConfig(c, m.user, m.mech)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cl, err := client.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				cl.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/connect")
		})
	}
}

func BenchmarkAuthProduce(b *testing.B) {
	for _, m := range authModes[:2] {
		b.Run(m.name, func(b *testing.B) {
			c := authBenchCluster(b, m.mod)
			cl, err := client.New(authClientConfig(c, m.user, m.mech))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			if err := cl.CreateTopic(context.Background(), "bench", client.TopicConfig{Partitions: 1}); err != nil {
				b.Fatal(err)
			}
			p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll, MaxInFlight: benchInFlight})
			defer p.Close()
			var wg sync.WaitGroup
			var errOnce sync.Once
			var firstErr error
			b.SetBytes(100)
			b.ResetTimer()
			start := time.Now()
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
			if firstErr != nil {
				b.Fatal(firstErr)
			}
		})
	}
}

func BenchmarkAuthFetch(b *testing.B) {
	const total = 100_000
	for _, m := range authModes[:2] {
		b.Run(m.name, func(b *testing.B) {
			c := authBenchCluster(b, m.mod)
			cl, err := client.New(authClientConfig(c, m.user, m.mech))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			if err := cl.CreateTopic(context.Background(), "bench", client.TopicConfig{Partitions: 1}); err != nil {
				b.Fatal(err)
			}
			fill(b, cl, total)
			b.ResetTimer()
			readBench(b, cl, total)
		})
	}
}
