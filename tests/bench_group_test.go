package tests

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
)

// BenchmarkGroupConsume: one group consumer (3 in-process brokers,
// 100-byte messages, one partition) with a commit per Poll: auto-commit at
// every Poll (the default) and a synchronous manual Commit per batch.
// Baseline in the same run: a Reader fetching the same partition without
// a group or commits.
//
//	go test -run=^$ -bench GroupConsume -benchtime=1000000x ./tests
func BenchmarkGroupConsume(b *testing.B) {
	const total = 200_000
	c := benchCluster(b)
	cl := benchClient(b, c)
	fill(b, cl, total)
	groups := 0
	consume := func(b *testing.B, manual bool) {
		read := 0
		start := time.Now()
		for read < b.N {
			groups++
			cons, err := cl.Consumer(client.ConsumerConfig{Group: fmt.Sprint("bench-", groups), Topics: []string{"bench"},
				ManualCommit: manual, FetchMaxBytes: 4 << 20})
			if err != nil {
				b.Fatal(err)
			}
			for pass := 0; pass < total && read < b.N; {
				recs, err := cons.Poll(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if manual {
					if err := cons.Commit(context.Background(), recs...); err != nil {
						b.Fatal(err)
					}
				}
				pass += len(recs)
				read += len(recs)
			}
			b.StopTimer()
			if err := cons.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(read)/time.Since(start).Seconds(), "msgs/s")
	}
	b.Run("autocommit", func(b *testing.B) { consume(b, false) })
	b.Run("manual-commit", func(b *testing.B) { consume(b, true) })
	b.Run("baseline-reader", func(b *testing.B) { readBench(b, cl, total) })
}
