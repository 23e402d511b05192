package bench_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/bench"
)

// newTarget starts a one-node broker with topic "t" (partitions as
// given) and returns a Target for it and an admin client.
func newTarget(t *testing.T, partitions int32) (*bench.Minibroker, *client.Client) {
	t.Helper()
	b := brokertest.NewBroker(t)
	cl, err := client.New(client.Config{Brokers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if err := cl.CreateTopic(context.Background(), "t", client.TopicConfig{Partitions: partitions}); err != nil {
		t.Fatal(err)
	}
	return &bench.Minibroker{Client: client.Config{Brokers: []string{b.Addr()}}}, cl
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// stored returns the sum of the high-water marks of topic t's partitions.
func stored(t *testing.T, cl *client.Client, partitions int32) int64 {
	t.Helper()
	var n int64
	for p := int32(0); p < partitions; p++ {
		hw, err := cl.ListOffsets(context.Background(), "t", p, client.Latest)
		if err != nil {
			t.Fatal(err)
		}
		n += hw
	}
	return n
}

func TestProduceCountStoresEveryMessage(t *testing.T) {
	target, cl := newTarget(t, 2)
	res, err := bench.Produce(testCtx(t), target, "t", bench.ProduceConfig{Count: 3001, Producers: 2, Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != 3001 || res.Errors != 0 || res.Bytes != 3001*64 {
		t.Fatalf("result %+v: want 3001 messages of 64 bytes, no errors", res)
	}
	if res.Latency.Count != 3001 || res.Latency.P50Ms <= 0 || res.Latency.MaxMs < res.Latency.P99Ms {
		t.Fatalf("latency %+v", res.Latency)
	}
	if res.MsgsPerSec <= 0 || res.Seconds <= 0 {
		t.Fatalf("throughput %+v", res)
	}
	if n := stored(t, cl, 2); n != 3001 {
		t.Fatalf("%d messages stored, want 3001", n)
	}
}

func TestProduceErrorsAreCounted(t *testing.T) {
	target, _ := newTarget(t, 1)
	target.ProducerConfig.Retries = -1
	// A value over the broker's 1 MiB record limit fails every message.
	res, err := bench.Produce(testCtx(t), target, "t", bench.ProduceConfig{Count: 3, Size: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != 0 || res.Errors != 3 || !strings.Contains(res.FirstError, "exceeds") {
		t.Fatalf("result %+v: want 3 errors", res)
	}
}

func TestProduceUnknownTopic(t *testing.T) {
	target, _ := newTarget(t, 1)
	_, err := bench.Produce(testCtx(t), target, "nope", bench.ProduceConfig{Count: 1})
	if !errors.Is(err, client.ErrUnknownTopic) {
		t.Fatalf("err %v: want ErrUnknownTopic", err)
	}
}

func TestProduceReportsProgress(t *testing.T) {
	target, _ := newTarget(t, 1)
	var reports []bench.Progress
	var mu sync.Mutex
	res, err := bench.Produce(testCtx(t), target, "t", bench.ProduceConfig{
		Count: 150, Rate: 500, ProgressInterval: 20 * time.Millisecond,
		Progress: func(p bench.Progress) { mu.Lock(); reports = append(reports, p); mu.Unlock() },
	})
	if err != nil || res.Messages != 150 {
		t.Fatalf("result %+v, %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) == 0 {
		t.Fatal("no progress reported")
	}
	last := reports[len(reports)-1]
	if last.Workload != "produce" || last.Messages <= 0 || last.Messages > 150 || !strings.Contains(last.String(), "msgs/s") {
		t.Fatalf("last report %+v (%s)", last, last)
	}
	// At 500 msgs/s, 150 messages take at least 298ms (the first goes at once).
	if res.Seconds < 0.29 {
		t.Fatalf("%.3fs: the rate was not held", res.Seconds)
	}
}

func TestProduceDuration(t *testing.T) {
	target, cl := newTarget(t, 1)
	res, err := bench.Produce(testCtx(t), target, "t", bench.ProduceConfig{Duration: 200 * time.Millisecond, MaxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages == 0 || res.Errors != 0 || res.Seconds < 0.15 {
		t.Fatalf("result %+v", res)
	}
	if n := stored(t, cl, 1); n != res.Messages {
		t.Fatalf("%d stored, %d acknowledged", n, res.Messages)
	}
}

func TestConsumeCommitsEveryPoll(t *testing.T) {
	target, cl := newTarget(t, 2)
	ctx := testCtx(t)
	if _, err := bench.Produce(ctx, target, "t", bench.ProduceConfig{Count: 2000}); err != nil {
		t.Fatal(err)
	}
	target.CommitEveryPoll = true
	res, err := bench.Consume(ctx, target, "t", "g", bench.ConsumeConfig{Count: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages < 2000 || res.Errors != 0 || res.Latency.Count != res.Messages || res.Latency.P50Ms <= 0 {
		t.Fatalf("result %+v", res)
	}
	d, err := cl.DescribeGroup(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	for _, o := range d.Offsets {
		committed += o.Committed
	}
	if committed != 2000 {
		t.Fatalf("group committed %d in all (%+v), want 2000", committed, d.Offsets)
	}
}

func TestConsumeDurationWithTwoMembers(t *testing.T) {
	target, _ := newTarget(t, 2)
	ctx := testCtx(t)
	if _, err := bench.Produce(ctx, target, "t", bench.ProduceConfig{Count: 500}); err != nil {
		t.Fatal(err)
	}
	res, err := bench.Consume(ctx, target, "t", "g2", bench.ConsumeConfig{Duration: 300 * time.Millisecond, Consumers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages < 500 || res.Errors != 0 {
		t.Fatalf("result %+v: want the 500 messages", res)
	}
}

func TestEndToEnd(t *testing.T) {
	target, _ := newTarget(t, 1)
	res, err := bench.EndToEnd(testCtx(t), target, "t", "e2e", bench.E2EConfig{Rate: 1000, Count: 300})
	if err != nil {
		t.Fatal(err)
	}
	if res.Workload != "e2e" || res.Messages < 300 || res.Errors != 0 || res.Latency.Count != res.Messages {
		t.Fatalf("result %+v", res)
	}
	if res.Latency.P50Ms <= 0 || res.Latency.P50Ms > res.Latency.MaxMs {
		t.Fatalf("latency %+v", res.Latency)
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	var target fakeTarget
	for name, err := range map[string]error{
		"produce without count": func() error { _, err := bench.Produce(ctx, &target, "t", bench.ProduceConfig{}); return err }(),
		"negative size": func() error {
			_, err := bench.Produce(ctx, &target, "t", bench.ProduceConfig{Count: 1, Size: -1})
			return err
		}(),
		"consume without count": func() error { _, err := bench.Consume(ctx, &target, "t", "g", bench.ConsumeConfig{}); return err }(),
		"e2e without rate": func() error {
			_, err := bench.EndToEnd(ctx, &target, "t", "g", bench.E2EConfig{Count: 1})
			return err
		}(),
		"e2e too small": func() error {
			_, err := bench.EndToEnd(ctx, &target, "t", "g", bench.E2EConfig{Count: 1, Rate: 1, Size: 4})
			return err
		}(),
	} {
		if !errors.Is(err, bench.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestResultJSON(t *testing.T) {
	res := bench.Result{Workload: "produce", Messages: 10, MsgsPerSec: 5, Latency: bench.Latency{P99Ms: 1.5}}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"msgs_per_sec":5`, `"p99_ms":1.5`, `"workload":"produce"`, `"mb_per_sec"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	var text strings.Builder
	if err := res.WriteText(&text); err != nil || !strings.Contains(text.String(), "5 msgs/s") {
		t.Fatalf("text %q, %v", text.String(), err)
	}
}

// TestMaxInFlightBoundsOutstanding checks the window against a fake
// producer that acknowledges in its own time.
func TestMaxInFlightBoundsOutstanding(t *testing.T) {
	for _, window := range []int{1, 7} {
		target := &fakeTarget{}
		res, err := bench.Produce(testCtx(t), target, "t", bench.ProduceConfig{Count: 500, MaxInFlight: window, Producers: 2})
		if err != nil || res.Messages != 500 {
			t.Fatalf("window %d: %+v, %v", window, res, err)
		}
		if got := target.maxOutstanding.Load(); got > int64(2*window) || got < 1 {
			t.Fatalf("window %d, 2 producers: up to %d outstanding", window, got)
		}
	}
}

func TestStamp(t *testing.T) {
	v := make([]byte, bench.StampSize)
	now := time.Now()
	bench.Stamp(v, now)
	short := make([]byte, bench.StampSize-1)
	bench.Stamp(short, now) // no room: left alone
	for _, b := range short {
		if b != 0 {
			t.Fatal("a short value was written to")
		}
	}
	if string(v[:3]) != "mbb" {
		t.Fatalf("stamp %x", v)
	}
}

// fakeTarget acknowledges each message from a goroutine of its own after
// the next Send (or Close), and records the most messages outstanding.
type fakeTarget struct {
	outstanding, maxOutstanding atomic.Int64
}

func (f *fakeTarget) Producer(context.Context, string) (bench.Producer, error) {
	return &fakeProducer{f: f}, nil
}

func (f *fakeTarget) Consumer(context.Context, string, string) (bench.Consumer, error) {
	return nil, errors.New("fake: no consumer")
}

type fakeProducer struct {
	f  *fakeTarget
	wg sync.WaitGroup
}

func (p *fakeProducer) Send(_ []byte, done func(error)) {
	n := p.f.outstanding.Add(1)
	for {
		m := p.f.maxOutstanding.Load()
		if n <= m || p.f.maxOutstanding.CompareAndSwap(m, n) {
			break
		}
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.f.outstanding.Add(-1)
		done(nil)
	}()
}

func (p *fakeProducer) Close() error { p.wg.Wait(); return nil }
