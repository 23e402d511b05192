package client

import (
	"context"
	"testing"

	"github.com/minibroker/minibroker/internal/wire"
)

// Producer throughput against an in-process fake that answers produce
// requests without storing them, with and without idempotence, next to a
// baseline: the same records in hand-built 64 KiB batches sent one
// request at a time over one connection (no partitioning, callbacks,
// buffering or pipelining).
//
//	go test -run XXX -bench . -benchmem ./client

const benchValueSize = 100

func benchSetup(b *testing.B) *Client {
	fb := newFakeBroker(b, "n1")
	fb.addTopic("t", 1)
	fb.mu.Lock()
	fb.discard = true
	fb.mu.Unlock()
	cl, err := New(Config{Brokers: []string{fb.addr}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cl.Close() })
	return cl
}

// idempotenceModes are the sub-benchmarks of the producer benchmarks:
// the fake answers InitProducer once per partition and then every produce
// request alike, so the difference is the client's own cost.
var idempotenceModes = []struct {
	name string
	mode Idempotence
}{{"idempotence=on", IdempotenceOn}, {"idempotence=off", IdempotenceOff}}

func BenchmarkProduceAsync(b *testing.B) {
	for _, m := range idempotenceModes {
		b.Run(m.name, func(b *testing.B) {
			cl := benchSetup(b)
			p := cl.Producer(ProducerConfig{Idempotence: m.mode})
			defer p.Close()
			val := make([]byte, benchValueSize)
			b.SetBytes(benchValueSize)
			b.ReportAllocs()
			for b.Loop() {
				p.ProduceAsync(Message{Topic: "t", Value: val}, nil)
			}
			if err := p.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func BenchmarkProduceAsyncParallel(b *testing.B) {
	for _, m := range idempotenceModes {
		b.Run(m.name, func(b *testing.B) {
			cl := benchSetup(b)
			p := cl.Producer(ProducerConfig{Idempotence: m.mode})
			defer p.Close()
			val := make([]byte, benchValueSize)
			b.SetBytes(benchValueSize)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p.ProduceAsync(Message{Topic: "t", Value: val}, nil)
				}
			})
			if err := p.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func BenchmarkBaselineRawBatches(b *testing.B) {
	cl := benchSetup(b)
	ctx := context.Background()
	c, err := cl.leaderConn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	val := make([]byte, benchValueSize)
	const perBatch = DefaultBatchBytes / (benchValueSize + recordOverhead)
	recs := make([]wire.Record, 0, perBatch)
	flush := func() {
		req := &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll, TimeoutMs: 30000, Records: recs}
		if err := c.roundTrip(ctx, wire.Produce, req, new(wire.ProduceResponse), 0); err != nil {
			b.Fatal(err)
		}
		recs = recs[:0]
	}
	b.SetBytes(benchValueSize)
	b.ReportAllocs()
	for b.Loop() {
		recs = append(recs, wire.Record{Value: val})
		if len(recs) == perBatch {
			flush()
		}
	}
	if len(recs) > 0 {
		flush()
	}
}
