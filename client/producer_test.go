package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// producerSetup starts a fake with topic "t" of n partitions, a client
// and a producer with cfg (RetryBackoff 1ms unless set).
func producerSetup(t *testing.T, n int, cfg ProducerConfig) (*fakeBroker, *Client, *Producer) {
	t.Helper()
	fb := newFakeBroker(t, "n1")
	fb.addTopic("t", n)
	cl := newTestClient(t, Config{Brokers: []string{fb.addr}})
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = time.Millisecond
	}
	p := cl.Producer(cfg)
	t.Cleanup(func() { _ = p.Close() })
	return fb, cl, p
}

// outcomes collects ProduceAsync callbacks.
type outcomes struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	res   []Result
	errs  []error
	calls atomic.Int64
}

func (o *outcomes) callback() func(Result, error) {
	o.wg.Add(1)
	return func(r Result, err error) {
		o.mu.Lock()
		o.res = append(o.res, r)
		o.errs = append(o.errs, err)
		o.mu.Unlock()
		o.calls.Add(1)
		o.wg.Done()
	}
}

func TestProduceAcksAllReturnsOffsets(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{})
	ctx := testCtx(t)
	for i := range 10 {
		res, err := p.Produce(ctx, Message{Topic: "t", Value: fmt.Appendf(nil, "v%d", i)})
		if err != nil || res != (Result{Topic: "t", Partition: 0, Offset: int64(i)}) {
			t.Fatalf("Produce %d = %+v, %v", i, res, err)
		}
	}
	recs := fb.records("t", 0)
	for i, r := range recs {
		if string(r.Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("record %d = %q", i, r.Value)
		}
	}
}

func TestProduceAcksLeaderHasNoOffset(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{Acks: AcksLeader})
	var acks atomic.Int32
	fb.setHook(onlyAPI(wire.Produce, func(r *fakeReq) bool {
		var req wire.ProduceRequest
		r.decode(&req)
		acks.Store(int32(req.Acks))
		return false
	}))
	res, err := p.Produce(testCtx(t), Message{Topic: "t", Value: []byte("v")})
	if err != nil || res.Offset != -1 || acks.Load() != int32(wire.AcksLeader) {
		t.Fatalf("Produce = %+v, %v (acks on the wire %d)", res, err, acks.Load())
	}
}

func TestProduceAcksNoneReturnsWhenWritten(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{Acks: AcksNone})
	fb.setHook(onlyAPI(wire.Produce, fb.hold)) // never answered until the end
	res, err := p.Produce(testCtx(t), Message{Topic: "t", Value: []byte("v")})
	if err != nil || res.Offset != -1 {
		t.Fatalf("Produce = %+v, %v", res, err)
	}
	for _, r := range fb.takeHeld(1) {
		r.serve() // the answer only frees the in-flight slot
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if len(fb.records("t", 0)) != 1 {
		t.Fatal("record not stored")
	}
}

func TestBatchingBySize(t *testing.T) {
	// Each message costs 100 + recordOverhead = 124 bytes: 8 fit in 1000.
	fb, _, p := producerSetup(t, 1, ProducerConfig{BatchBytes: 1000, Linger: time.Hour})
	var o outcomes
	for i := range 100 {
		p.ProduceAsync(Message{Topic: "t", Value: bytes.Repeat([]byte{byte(i)}, 100)}, o.callback())
	}
	// The 12 full batches go without waiting for the (hour-long) linger.
	fb.waitFor("12 full batches", func() bool { return fb.count(wire.Produce) == 12 })
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	want := []int{8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 4}
	if got := fb.produceSizes(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("records per request = %v, want %v", got, want)
	}
	if o.calls.Load() != 100 {
		t.Fatalf("%d callbacks after Flush, want 100", o.calls.Load())
	}
	for i, r := range fb.records("t", 0) {
		if r.Value[0] != byte(i) {
			t.Fatalf("record %d holds message %d: order lost", i, r.Value[0])
		}
	}
}

func TestBatchingByLinger(t *testing.T) {
	const linger = 300 * time.Millisecond
	fb, _, p := producerSetup(t, 1, ProducerConfig{Linger: linger})
	var o outcomes
	start := time.Now()
	for range 10 {
		p.ProduceAsync(Message{Topic: "t", Value: []byte("small")}, o.callback())
	}
	o.wg.Wait()
	if elapsed := time.Since(start); elapsed < linger {
		t.Fatalf("a partial batch went after %v, before Linger (%v)", elapsed, linger)
	}
	if got := fb.produceSizes(); fmt.Sprint(got) != "[10]" {
		t.Fatalf("records per request = %v, want one batch of 10", got)
	}
}

func TestProducePipelinesUpToMaxInFlightInOrder(t *testing.T) {
	// BatchBytes 1: every message is a batch of its own.
	fb, _, p := producerSetup(t, 1, ProducerConfig{BatchBytes: 1, Linger: -1, MaxInFlight: 4})
	fb.setHook(onlyAPI(wire.Produce, fb.hold))
	const n = 20
	var wg sync.WaitGroup
	results := make([]Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		p.ProduceAsync(Message{Topic: "t", Value: []byte{byte(i)}}, func(r Result, err error) {
			results[i], errs[i] = r, err
			wg.Done()
		})
	}
	held := fb.takeHeld(4)
	if c := fb.count(wire.Produce); c != 4 {
		t.Fatalf("%d requests in flight, MaxInFlight is 4", c)
	}
	fb.setHook(nil)
	serveProducesInOrder(held)
	wg.Wait()
	for i, r := range fb.records("t", 0) {
		if r.Value[0] != byte(i) {
			t.Fatalf("record %d holds message %d: order lost", i, r.Value[0])
		}
	}
	for i := range n {
		if errs[i] != nil || results[i].Offset != int64(i) {
			t.Fatalf("message %d: %+v, %v; want offset %d", i, results[i], errs[i], i)
		}
	}
}

func TestFlushWaitsForCallbacks(t *testing.T) {
	fb, _, p := producerSetup(t, 3, ProducerConfig{Linger: time.Hour})
	var o outcomes
	for i := range 50 {
		p.ProduceAsync(Message{Topic: "t", Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")}, o.callback())
	}
	if fb.count(wire.Produce) != 0 {
		t.Fatal("sent before Flush despite an hour of linger")
	}
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if c := o.calls.Load(); c != 50 {
		t.Fatalf("%d callbacks had run when Flush returned, want 50", c)
	}
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatalf("Flush with nothing buffered: %v", err)
	}
}

func TestCloseDeliversBufferedThenRejects(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{Linger: time.Hour})
	var o outcomes
	for range 20 {
		p.ProduceAsync(Message{Topic: "t", Value: []byte("v")}, o.callback())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if o.calls.Load() != 20 || len(fb.records("t", 0)) != 20 {
		t.Fatalf("after Close: %d callbacks, %d records; want 20, 20", o.calls.Load(), len(fb.records("t", 0)))
	}
	for _, err := range o.errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Produce(testCtx(t), Message{Topic: "t"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Produce after Close: %v", err)
	}
	done := make(chan error, 1)
	p.ProduceAsync(Message{Topic: "t"}, func(_ Result, err error) { done <- err })
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("ProduceAsync after Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestClientCloseFailsBufferedMessages(t *testing.T) {
	_, cl, p := producerSetup(t, 1, ProducerConfig{Linger: time.Hour})
	var o outcomes
	for range 5 {
		p.ProduceAsync(Message{Topic: "t", Value: []byte("v")}, o.callback())
	}
	_ = cl.Close()
	if o.calls.Load() != 5 {
		t.Fatalf("%d callbacks when Client.Close returned, want 5", o.calls.Load())
	}
	for _, err := range o.errs {
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("buffered message at Client.Close: %v, want ErrClosed", err)
		}
	}
	_ = p.Close()
}

func TestProduceContextCancel(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{})
	fb.setHook(onlyAPI(wire.Produce, fb.hold))
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, err := p.Produce(ctx, Message{Topic: "t", Value: []byte("v")})
		errc <- err
	}()
	held := fb.takeHeld(1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Produce: %v", err)
	}
	for _, r := range held {
		r.serve()
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if len(fb.records("t", 0)) != 1 {
		t.Fatal("the message was still to be written after its Produce was cancelled")
	}
}

func TestProduceBlocksWhenBufferFull(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{MaxBufferedBytes: minMaxFrame, Linger: -1})
	fb.setHook(onlyAPI(wire.Produce, fb.hold))
	big := make([]byte, 500_000)
	var o outcomes
	p.ProduceAsync(Message{Topic: "t", Value: big}, o.callback())
	p.ProduceAsync(Message{Topic: "t", Value: big}, o.callback())
	held := fb.takeHeld(2) // both in flight, unanswered: the buffer is full
	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Produce(ctx, Message{Topic: "t", Value: big}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Produce into a full buffer: %v, want DeadlineExceeded", err)
	}
	fb.setHook(nil)
	serveProducesInOrder(held)
	if _, err := p.Produce(testCtx(t), Message{Topic: "t", Value: big}); err != nil {
		t.Fatalf("Produce once space was freed: %v", err)
	}
	o.wg.Wait()
}

func TestMessageTooLargeRejectedClientSide(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{})
	ctx := testCtx(t)
	half := make([]byte, wire.DefaultMaxMessage/2)
	tooBig := []Message{
		{Topic: "t", Value: make([]byte, wire.DefaultMaxMessage+1)},
		{Topic: "t", Key: half, Value: half, Headers: []Header{{Key: "h"}}},
	}
	for _, m := range tooBig {
		if _, err := p.Produce(ctx, m); !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("oversized Produce: %v, want ErrMessageTooLarge", err)
		}
		done := make(chan error, 1)
		p.ProduceAsync(m, func(_ Result, err error) { done <- err })
		if err := <-done; !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("oversized ProduceAsync: %v", err)
		}
	}
	if n := fb.count(wire.Produce); n != 0 {
		t.Fatalf("%d oversized produce requests reached the broker", n)
	}
	if _, err := p.Produce(ctx, Message{Topic: "t", Key: half, Value: half}); err != nil {
		t.Fatalf("a message of exactly the limit: %v", err)
	}
}

func TestProduceUnknownTopic(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{})
	if _, err := p.Produce(testCtx(t), Message{Topic: "nope", Value: []byte("v")}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("Produce to an unknown topic: %v", err)
	}
	if fb.count(wire.Produce) != 0 {
		t.Fatal("a request was sent for an unknown topic")
	}
}

func TestInvalidProducerConfigFailsCalls(t *testing.T) {
	_, _, p := producerSetup(t, 1, ProducerConfig{MaxInFlight: -1})
	if _, err := p.Produce(testCtx(t), Message{Topic: "t"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Produce: %v", err)
	}
	done := make(chan error, 1)
	p.ProduceAsync(Message{Topic: "t"}, func(_ Result, err error) { done <- err })
	if err := <-done; !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("ProduceAsync: %v", err)
	}
	if err := p.Flush(testCtx(t)); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Flush: %v", err)
	}
}
