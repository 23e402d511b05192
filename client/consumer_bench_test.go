package client

import (
	"context"
	"testing"

	"github.com/minibroker/minibroker/internal/wire"
)

// Consumer throughput against the in-process fake (which encodes every
// fetch answer anew, in the same process: a share of the time is the
// fake's), next to a baseline: the same records read by back-to-back
// Fetch round trips on one connection, decoded and dropped (no prefetch,
// conversion or group work).
//
//	go test -run XXX -bench Consume -benchmem ./client

// consumeSetup fills partitions of "t" with n records of benchValueSize
// bytes in all, and starts a group coordinator.
func consumeSetup(b *testing.B, parts, n int) (*fakeBroker, *Client) {
	fb := newFakeBroker(b, "n1")
	newFakeCoord(fb)
	val := make([]byte, benchValueSize)
	logs := make([][]wire.Record, parts)
	for p := range logs {
		logs[p] = make([]wire.Record, 0, n/parts+1)
	}
	for i := range n {
		p := i % parts
		logs[p] = append(logs[p], wire.Record{Offset: int64(len(logs[p])), Timestamp: 1, Value: val})
	}
	fb.mu.Lock()
	fb.topics["t"] = logs
	fb.mu.Unlock()
	cl, err := New(Config{Brokers: []string{fb.addr}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cl.Close() })
	return fb, cl
}

func BenchmarkConsumePoll(b *testing.B) {
	for _, parts := range []int{1, 3} {
		b.Run(map[int]string{1: "partitions=1", 3: "partitions=3"}[parts], func(b *testing.B) {
			_, cl := consumeSetup(b, parts, b.N)
			c, err := cl.Consumer(ConsumerConfig{Group: "g", Topics: []string{"t"}})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			b.SetBytes(benchValueSize)
			b.ReportAllocs()
			b.ResetTimer()
			for got := 0; got < b.N; {
				recs, err := c.Poll(ctx) // auto-commit at every Poll
				if err != nil {
					b.Fatal(err)
				}
				got += len(recs)
			}
		})
	}
}

func BenchmarkBaselineRawFetch(b *testing.B) {
	_, cl := consumeSetup(b, 1, b.N)
	ctx := context.Background()
	c, err := cl.leaderConn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchValueSize)
	b.ReportAllocs()
	b.ResetTimer()
	for off := int64(0); off < int64(b.N); {
		req := &wire.FetchRequest{Topic: "t", Offset: off, MaxBytes: DefaultFetchMaxBytes}
		resp := new(wire.FetchResponse)
		if err := c.roundTrip(ctx, wire.Fetch, req, resp, 0); err != nil {
			b.Fatal(err)
		}
		off += int64(len(resp.Records))
	}
}
