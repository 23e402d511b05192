package client

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// firstN returns a hook that applies f to the first n requests of API
// key and lets the rest through to the default handler.
func firstN(key wire.APIKey, n int64, f func(r *fakeReq)) func(r *fakeReq) bool {
	var seen atomic.Int64
	return onlyAPI(key, func(r *fakeReq) bool {
		if seen.Add(1) > n {
			return false
		}
		f(r)
		return true
	})
}

// dropThenReply is a hook for produce requests: the first is dropped with
// its connection (its outcome unknown to the producer), every later one
// is answered with code.
func dropThenReply(code wire.Code) func(r *fakeReq) bool {
	var seen atomic.Int64
	return onlyAPI(wire.Produce, func(r *fakeReq) bool {
		if seen.Add(1) == 1 {
			r.drop()
		} else {
			r.replyCode(code)
		}
		return true
	})
}

func TestProduceRetriesRetriableErrors(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{})
	fb.setHook(firstN(wire.Produce, 2, func(r *fakeReq) { r.replyCode(wire.CodeTooManyInFlight) }))
	res, err := p.Produce(testCtx(t), Message{Topic: "t", Value: []byte("v")})
	if err != nil || res.Offset != 0 {
		t.Fatalf("Produce = %+v, %v", res, err)
	}
	if fb.count(wire.Produce) != 3 || len(fb.records("t", 0)) != 1 {
		t.Fatalf("%d requests, %d records; want 3, 1", fb.count(wire.Produce), len(fb.records("t", 0)))
	}
}

func TestProduceRetriesAfterDroppedConnection(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{})
	fb.setHook(firstN(wire.Produce, 1, (*fakeReq).drop))
	res, err := p.Produce(testCtx(t), Message{Topic: "t", Value: []byte("v")})
	if err != nil || res.Offset != 0 {
		t.Fatalf("Produce = %+v, %v", res, err)
	}
	if fb.connCount() != 2 {
		t.Fatalf("connections = %d, want 2 (a reconnect)", fb.connCount())
	}
}

func TestProduceRetryAfterOutcomeUnknownDuplicates(t *testing.T) {
	// The first attempt is stored, but the answer says the outcome is
	// unknown: the retry stores the message again (at-least-once without
	// idempotence; see TestIdempotentRetryAfterOutcomeUnknownStoresOnce).
	fb, _, p := producerSetup(t, 1, ProducerConfig{Idempotence: IdempotenceOff})
	fb.setHook(firstN(wire.Produce, 1, func(r *fakeReq) {
		r.applyProduce()
		r.replyCode(wire.CodeOutcomeUnknown)
	}))
	res, err := p.Produce(testCtx(t), Message{Topic: "t", Value: []byte("v")})
	if err != nil || res.Offset != 1 {
		t.Fatalf("Produce = %+v, %v; want offset 1 (the duplicate)", res, err)
	}
	if n := len(fb.records("t", 0)); n != 2 {
		t.Fatalf("%d records stored, want 2", n)
	}
}

func TestProduceGivesUpAfterRetries(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{Retries: 2})
	fb.setHook(onlyAPI(wire.Produce, func(r *fakeReq) bool { r.replyCode(wire.CodeNoLeader); return true }))
	_, err := p.Produce(testCtx(t), Message{Topic: "t", Value: []byte("v")})
	if !errors.Is(err, ErrNoLeader) || !IsRetriable(err) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("Produce = %v, want a retriable ErrNoLeader with a known outcome", err)
	}
	if n := fb.count(wire.Produce); n != 3 {
		t.Fatalf("%d requests, want 3 (1 + 2 retries)", n)
	}
}

func TestProduceNoRetries(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{Retries: -1})
	fb.setHook(onlyAPI(wire.Produce, func(r *fakeReq) bool { r.replyCode(wire.CodeNoLeader); return true }))
	if _, err := p.Produce(testCtx(t), Message{Topic: "t"}); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Produce = %v", err)
	}
	if n := fb.count(wire.Produce); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestProduceFinalErrorReportsEarlierUnknownOutcome(t *testing.T) {
	// Attempt 1 is lost with the connection (it may have been stored);
	// attempt 2 is refused. The error says both.
	fb, _, p := producerSetup(t, 1, ProducerConfig{Retries: 1})
	fb.setHook(dropThenReply(wire.CodeNotLeader))
	_, err := p.Produce(testCtx(t), Message{Topic: "t"})
	if !errors.Is(err, ErrNotLeader) || !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("Produce = %v, want ErrNotLeader and ErrOutcomeUnknown", err)
	}
}

func TestProduceNonRetriableFailsAtOnce(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{})
	fb.setHook(onlyAPI(wire.Produce, func(r *fakeReq) bool { r.replyCode(wire.CodeUnknownTopic); return true }))
	var o outcomes
	for range 3 {
		p.ProduceAsync(Message{Topic: "t", Value: []byte("v")}, o.callback())
	}
	o.wg.Wait()
	for _, err := range o.errs {
		var se *ServerError
		if !errors.Is(err, ErrUnknownTopic) || IsRetriable(err) || !errors.As(err, &se) || se.Code != wire.CodeUnknownTopic {
			t.Fatalf("callback error %v, want a ServerError matching ErrUnknownTopic", err)
		}
	}
	// However the three were batched (one batch, or more when the sender
	// took the first before the others were queued), each record was
	// sent once: no retries.
	sent := 0
	for _, n := range fb.produceSizes() {
		sent += n
	}
	if sent != 3 {
		t.Fatalf("requests carried %v records, want 3 in all (no retries)", fb.produceSizes())
	}
}

func TestProduceBacksOffWhileNoLeader(t *testing.T) {
	// The cluster has no leader for a while: metadata names none. The
	// producer keeps asking with backoff and succeeds once one is named.
	fb := newFakeBroker(t, "n1")
	fb.addTopic("t", 1)
	cl := newTestClient(t, Config{Brokers: []string{fb.addr}})
	p := cl.Producer(ProducerConfig{RetryBackoff: 10 * time.Millisecond})
	defer p.Close()
	fb.setMeta("", fb.nodes)
	fb.setHook(firstN(wire.Produce, 1, func(r *fakeReq) { r.replyCode(wire.CodeNoLeader) }))

	done := make(chan error, 1)
	p.ProduceAsync(Message{Topic: "t", Value: []byte("v")}, func(_ Result, err error) { done <- err })
	fb.waitFor("a metadata refresh without a leader", func() bool { return fb.count(wire.Metadata) >= 3 })
	if fb.count(wire.Produce) != 1 {
		t.Fatal("produced again while no leader was known")
	}
	fb.setMeta("n1", fb.nodes)
	if err := <-done; err != nil {
		t.Fatalf("Produce after the election: %v", err)
	}
}
