package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// readerSetup starts a fake with topic "t" (1 partition) holding n
// records with values v0..v(n-1), and a client.
func readerSetup(t *testing.T, n int) (*fakeBroker, *Client, *Producer) {
	t.Helper()
	fb, cl, p := producerSetup(t, 1, ProducerConfig{})
	for i := range n {
		if _, err := p.Produce(testCtx(t), Message{Topic: "t", Value: fmt.Appendf(nil, "v%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	return fb, cl, p
}

func checkValues(t *testing.T, recs []Record, from, to int) {
	t.Helper()
	if len(recs) != to-from {
		t.Fatalf("got %d records, want %d (offsets %d..%d)", len(recs), to-from, from, to-1)
	}
	for i, r := range recs {
		off := from + i
		if r.Offset != int64(off) || string(r.Value) != fmt.Sprintf("v%d", off) || r.Topic != "t" || r.Partition != 0 {
			t.Fatalf("record %d = offset %d value %q", i, r.Offset, r.Value)
		}
	}
}

func TestReaderFetchAdvances(t *testing.T) {
	_, cl, _ := readerSetup(t, 5)
	r := cl.Reader(ReaderConfig{Topic: "t", Offset: StartEarliest, MaxWait: -1})
	if r.Offset() != StartEarliest || r.HighWatermark() != -1 {
		t.Fatalf("before Fetch: offset %d, hwm %d", r.Offset(), r.HighWatermark())
	}
	ctx := testCtx(t)
	recs, err := r.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkValues(t, recs, 0, 5)
	if r.Offset() != 5 || r.HighWatermark() != 5 {
		t.Fatalf("after Fetch: offset %d, hwm %d; want 5, 5", r.Offset(), r.HighWatermark())
	}
	recs, err = r.Fetch(ctx)
	if err != nil || len(recs) != 0 {
		t.Fatalf("Fetch at the end = %d records, %v; want none, nil", len(recs), err)
	}
}

func TestReaderMaxBytes(t *testing.T) {
	_, cl, _ := readerSetup(t, 10)
	// Each value is 2 bytes: 5 bytes of MaxBytes admit 2 records.
	r := cl.Reader(ReaderConfig{Topic: "t", MaxBytes: 5, MaxWait: -1})
	var all []Record
	for len(all) < 10 {
		recs, err := r.Fetch(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 {
			t.Fatalf("Fetch returned %d records, want 2", len(recs))
		}
		all = append(all, recs...)
	}
	checkValues(t, all, 0, 10)
}

func TestReaderLongPoll(t *testing.T) {
	fb, cl, p := readerSetup(t, 2)
	r := cl.Reader(ReaderConfig{Topic: "t", Offset: StartLatest, MaxWait: time.Minute})
	type res struct {
		recs []Record
		err  error
	}
	done := make(chan res, 1)
	go func() {
		recs, err := r.Fetch(testCtx(t))
		done <- res{recs, err}
	}()
	fb.waitFor("a parked fetch", func() bool { return fb.parkedFetches() == 1 })
	if _, err := p.Produce(testCtx(t), Message{Topic: "t", Value: []byte("v2")}); err != nil {
		t.Fatal(err)
	}
	got := <-done // long before the minute of MaxWait
	if got.err != nil {
		t.Fatal(got.err)
	}
	checkValues(t, got.recs, 2, 3)
}

func TestReaderFetchContextCancel(t *testing.T) {
	fb, cl, _ := readerSetup(t, 0)
	r := cl.Reader(ReaderConfig{Topic: "t", MaxWait: time.Minute})
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, err := r.Fetch(ctx)
		errc <- err
	}()
	fb.waitFor("a parked fetch", func() bool { return fb.parkedFetches() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Fetch: %v", err)
	}
	if r.Offset() != 0 {
		t.Fatalf("offset moved to %d", r.Offset())
	}
}

func TestReaderSetOffset(t *testing.T) {
	_, cl, _ := readerSetup(t, 5)
	r := cl.Reader(ReaderConfig{Topic: "t", MaxWait: -1})
	ctx := testCtx(t)
	if err := r.SetOffset(3); err != nil {
		t.Fatal(err)
	}
	recs, err := r.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkValues(t, recs, 3, 5)

	if err := r.SetOffset(StartEarliest); err != nil {
		t.Fatal(err)
	}
	if recs, err = r.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	checkValues(t, recs, 0, 5)

	if err := r.SetOffset(StartLatest); err != nil {
		t.Fatal(err)
	}
	if recs, err = r.Fetch(ctx); err != nil || len(recs) != 0 || r.Offset() != 5 {
		t.Fatalf("Fetch from StartLatest = %d records, %v, offset %d", len(recs), err, r.Offset())
	}
	if err := r.SetOffset(-3); !errors.Is(err, ErrOffsetOutOfRange) || r.Offset() != 5 {
		t.Fatalf("SetOffset(-3) = %v, offset %d", err, r.Offset())
	}
}

func TestReaderOffsetOutOfRange(t *testing.T) {
	_, cl, _ := readerSetup(t, 5)
	r := cl.Reader(ReaderConfig{Topic: "t", Offset: 50, MaxWait: -1})
	_, err := r.Fetch(testCtx(t))
	var oe *OffsetOutOfRangeError
	if !errors.As(err, &oe) || !errors.Is(err, ErrOffsetOutOfRange) || oe.Offset != 50 || oe.HighWatermark != 5 {
		t.Fatalf("Fetch past the end: %v", err)
	}
	if r.Offset() != 50 {
		t.Fatalf("offset moved to %d", r.Offset())
	}
}

func TestReaderRetriesAfterDroppedConnection(t *testing.T) {
	fb, cl, _ := readerSetup(t, 3)
	fb.setHook(firstN(wire.Fetch, 1, (*fakeReq).drop))
	r := cl.Reader(ReaderConfig{Topic: "t", MaxWait: -1})
	recs, err := r.Fetch(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	checkValues(t, recs, 0, 3)
	if fb.connCount() != 2 {
		t.Fatalf("connections = %d, want 2", fb.connCount())
	}
}

func TestRecordHeadersKeysAndTimestampsRoundTrip(t *testing.T) {
	_, cl, p := producerSetup(t, 1, ProducerConfig{})
	ts := time.UnixMilli(1_700_000_000_123)
	msgs := []Message{
		{Topic: "t", Key: []byte{}, Value: nil, Timestamp: ts,
			Headers: []Header{{Key: "trace", Value: []byte("abc")}, {Key: "empty"}}},
		{Topic: "t", Key: nil, Value: []byte("x"), Timestamp: ts.Add(time.Second)},
	}
	for _, m := range msgs {
		if _, err := p.Produce(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := cl.Reader(ReaderConfig{Topic: "t", MaxWait: -1}).Fetch(testCtx(t))
	if err != nil || len(recs) != 2 {
		t.Fatalf("Fetch = %d records, %v", len(recs), err)
	}
	r0, r1 := recs[0], recs[1]
	if r0.Key == nil || len(r0.Key) != 0 || !r0.Timestamp.Equal(ts) || len(r0.Headers) != 2 ||
		r0.Headers[0].Key != "trace" || string(r0.Headers[0].Value) != "abc" || r0.Headers[1].Key != "empty" {
		t.Fatalf("record 0 = %+v", r0)
	}
	if r1.Key != nil || string(r1.Value) != "x" || !r1.Timestamp.Equal(ts.Add(time.Second)) || r1.Headers != nil {
		t.Fatalf("record 1 = %+v", r1)
	}
}
