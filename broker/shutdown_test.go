package broker_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/internal/wire"
)

func TestShutdownSingleNode(t *testing.T) {
	b := brokertest.NewBroker(t)
	raw := dialRaw(t, b.Addr())
	var ct wire.CreateTopicResponse
	raw.call(wire.CreateTopic, &wire.CreateTopicRequest{Name: "t", Partitions: 1}, &ct)
	// A long poll in flight when Shutdown begins is answered at once.
	fetch := raw.send(wire.Fetch, 0, &wire.FetchRequest{Topic: "t", Offset: 0, MaxBytes: 1 << 20, MaxWaitMs: 60_000})
	// The connection reads requests in order: once the Metadata request
	// sent after it is answered, the fetch has been read and is waiting.
	md := raw.send(wire.Metadata, 0, &wire.MetadataRequest{})
	var mr wire.MetadataResponse
	if id, err := raw.recv(&mr); err != nil || id != md {
		t.Fatalf("metadata: id %d (want %d), %v", id, md, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown of a single node = %v", err)
	}
	var fr wire.FetchResponse
	id, err := raw.recv(&fr)
	if err != nil || id != fetch || fr.ErrorCode != wire.CodeNone || len(fr.Records) != 0 {
		t.Fatalf("long poll during Shutdown: id %d (want %d), %+v, %v", id, fetch, fr, err)
	}
	if !raw.closed() {
		t.Fatal("connection still open after Shutdown")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close after Shutdown = %v", err)
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown = %v", err)
	}
}

// TestShutdownLeaderWhileProducing shuts the leader down gracefully while
// producers send acks=all messages: every Produce call succeeds (the
// client retries at the new leader), nothing is lost, and leadership has
// been handed over by the time Shutdown returns, with no wait for an
// election timeout.
func TestShutdownLeaderWhileProducing(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	cl, err := client.New(client.Config{Brokers: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.CreateTopic(ctx, "t", client.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll})
	defer p.Close()

	const producers, perProducer, shutdownAt = 4, 150, 200
	var (
		sent  atomic.Int64
		stop  = make(chan struct{}) // closed to stop early after a failure
		wg    sync.WaitGroup
		errMu sync.Mutex
		errs  []error
		acked sync.Map
	)
	for g := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				select {
				case <-stop:
					return
				default:
				}
				v := fmt.Sprintf("p%d-%04d", g, i)
				if _, err := p.Produce(ctx, client.Message{Topic: "t", Key: []byte(v), Value: []byte(v)}); err != nil {
					errMu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", v, err))
					errMu.Unlock()
					continue
				}
				acked.Store(v, true)
				sent.Add(1)
			}
		}()
	}
	waitFor(t, "producers under way", func() bool { return sent.Load() >= shutdownAt })
	lead := c.WaitLeader()
	oldID := c.Broker(lead).ID()
	start := time.Now()
	c.Shutdown(lead)
	took := time.Since(start)
	handedOver := false
	for i := range c.Len() {
		if b := c.Broker(i); b != nil {
			if id, _ := b.Leader(); id != "" && id != oldID {
				handedOver = true
			}
		}
	}
	if !handedOver {
		t.Error("no node knows a new leader when Shutdown returns: leadership was not handed over")
	}
	newLead := c.WaitLeader()
	t.Logf("Shutdown took %v; new leader %s ready %v after Shutdown began", took, c.Broker(newLead).ID(), time.Since(start))
	wg.Wait()
	close(stop)
	if len(errs) > 0 {
		t.Fatalf("%d Produce calls failed, first: %v", len(errs), errs[0])
	}
	if n := sent.Load(); n != producers*perProducer {
		t.Fatalf("%d acked, want %d", n, producers*perProducer)
	}
	seen := map[string]int{}
	for part := int32(0); part < 2; part++ {
		r := cl.Reader(client.ReaderConfig{Topic: "t", Partition: part, Offset: 0})
		end, err := cl.ListOffsets(ctx, "t", part, client.Latest)
		if err != nil {
			t.Fatal(err)
		}
		for r.Offset() < end {
			recs, err := r.Fetch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range recs {
				seen[string(rec.Value)]++
			}
		}
	}
	lost := 0
	acked.Range(func(k, _ any) bool {
		if seen[k.(string)] == 0 {
			lost++
		}
		return true
	})
	if lost > 0 {
		t.Fatalf("%d acknowledged messages lost", lost)
	}
	c.VerifyReplicas()
}
