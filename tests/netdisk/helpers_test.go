package netdisk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
	"github.com/minibroker/minibroker/replication"
)

// waitTimeout bounds every wait for a condition. Passing runs take a small
// fraction of it.
const waitTimeout = 30 * time.Second

// waitUntil polls cond until it holds, failing the test after waitTimeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		<-tick.C
	}
}

// opCtx bounds one client call.
func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// steady is a brokertest config mod with Raft timeouts longer than
// brokertest's (400ms heartbeat and election, 200ms lease), so that these
// tests, which assert on who leads, see no spurious election on a loaded
// 2-core machine under -race. A leader still steps down within about
// 200-400ms of losing its quorum.
func steady(_ int, cfg *broker.Config) {
	cfg.HeartbeatTimeout = 400 * time.Millisecond
	cfg.ElectionTimeout = 400 * time.Millisecond
	cfg.LeaderLeaseTimeout = 200 * time.Millisecond
}

// newClient connects to the cluster through cn (nil: the plain network).
func newClient(t *testing.T, cn *clientNet, timeout time.Duration, addrs ...string) *client.Client {
	t.Helper()
	cfg := client.Config{Brokers: addrs, RequestTimeout: timeout, DialTimeout: time.Second}
	if cn != nil {
		cfg.Dial = cn.Dial
	}
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// createTopic creates a topic and waits until every running node has it.
func createTopic(t *testing.T, c *brokertest.Cluster, name string, parts int32) {
	t.Helper()
	cl := newClient(t, nil, 5*time.Second, c.Addrs()...)
	ctx, cancel := opCtx()
	defer cancel()
	err := cl.CreateTopic(ctx, name, client.TopicConfig{Partitions: parts})
	if err != nil && !(errors.Is(err, client.ErrTopicExists) && errors.Is(err, client.ErrOutcomeUnknown)) {
		t.Fatal(err) // (exists after an attempt with an unknown outcome: that attempt created it)
	}
	for i := range c.Len() {
		if b := c.Broker(i); b != nil {
			waitUntil(t, b.ID()+" to have topic "+name, func() bool {
				_, err := nodeHWMs(b.Addr(), name)
				return err == nil
			})
		}
	}
}

// runner produces distinct values (check.Value(stream, i)) to a topic in a
// goroutine, up to window messages in flight, and records every final
// outcome in the checker.
type runner struct {
	stream   string
	p        *client.Producer
	acks     client.Acks
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	handed   atomic.Int64 // messages handed to the producer so far
	acked    atomic.Int64

	mu        sync.Mutex // guards errs, errSeqs and ackedSeqs
	errs      []error    // final errors, in completion order
	errSeqs   []int64    // errSeqs[i] is the Seq of the message that failed with errs[i]
	ackedSeqs []int64    // Seq of every message acked (acks=0: sent without error)
}

func startRunner(t *testing.T, cl *client.Client, ck *check.Checker, cfg client.ProducerConfig, stream, topic string, window int) *runner {
	return startPacedRunner(t, cl, ck, cfg, stream, topic, window, 0)
}

// startPacedRunner is startRunner handing a message to the producer at
// most every pace: acks=0 completes at once, so without a pace it floods
// the cluster.
func startPacedRunner(t *testing.T, cl *client.Client, ck *check.Checker, cfg client.ProducerConfig, stream, topic string, window int, pace time.Duration) *runner {
	r := &runner{stream: stream, p: cl.Producer(cfg), acks: cfg.Acks, stop: make(chan struct{}), done: make(chan struct{})}
	slots := make(chan struct{}, window)
	var wg sync.WaitGroup
	var tick <-chan time.Time
	if pace > 0 {
		tk := time.NewTicker(pace)
		tick = tk.C
		t.Cleanup(tk.Stop)
	}
	go func() {
		defer close(r.done)
		for i := 0; ; i++ {
			if tick != nil {
				select {
				case <-r.stop:
				case <-tick:
				}
			}
			select {
			case <-r.stop:
				r.p.Close() // delivers what is buffered, or fails it with ErrClosed
				wg.Wait()
				return
			case slots <- struct{}{}:
			}
			v := check.Value(stream, i)
			wg.Add(1)
			r.handed.Store(int64(i + 1))
			r.p.ProduceAsync(client.Message{Topic: topic, Key: v, Value: v}, func(res client.Result, err error) {
				defer wg.Done()
				defer func() { <-slots }()
				out := check.OutcomeOf(err)
				if r.acks == client.AcksNone && err == nil {
					out = check.Unacked
				}
				r.mu.Lock()
				if out == check.Acked {
					r.acked.Add(1)
				}
				if err == nil {
					r.ackedSeqs = append(r.ackedSeqs, int64(i))
				} else {
					r.errs = append(r.errs, err)
					r.errSeqs = append(r.errSeqs, int64(i))
				}
				r.mu.Unlock()
				ck.Produced(check.Attempt{Stream: stream, Seq: int64(i), Topic: topic, Partition: res.Partition,
					Offset: res.Offset, Value: v, Outcome: out})
			})
		}
	}()
	t.Cleanup(func() { r.halt() })
	return r
}

// halt stops producing and waits until every message has its outcome.
// It is idempotent.
func (r *runner) halt() {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
}

// waitAcked waits until the runner has n acked messages.
func (r *runner) waitAcked(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for r.acked.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %d acks on stream %s (have %d); final errors: %q",
				waitTimeout, n, r.stream, r.acked.Load(), firstN(r.finalErrors(), 3))
		}
		<-tick.C
	}
}

// ackedFrom returns the acked messages with Seq >= seq.
func (r *runner) ackedFrom(seq int64) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for _, s := range r.ackedSeqs {
		if s >= seq {
			out = append(out, s)
		}
	}
	return out
}

// missing counts the runner's messages that are not in data: all of them,
// and those acknowledged (acks=0: sent without an error).
func (r *runner) missing(data [][]stored) (all, acked int) {
	have := map[string]bool{}
	for _, recs := range data {
		for _, rec := range recs {
			have[rec.Value] = true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range int(r.handed.Load()) {
		if !have[string(check.Value(r.stream, i))] {
			all++
		}
	}
	for _, s := range r.ackedSeqs {
		if !have[string(check.Value(r.stream, int(s)))] {
			acked++
		}
	}
	return all, acked
}

// failedWith returns the Seqs of the messages whose final error matches
// target.
func (r *runner) failedWith(target error) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for i, e := range r.errs {
		if errors.Is(e, target) {
			out = append(out, r.errSeqs[i])
		}
	}
	return out
}

// finalErrors returns the distinct texts of the runner's final errors.
func (r *runner) finalErrors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.errs {
		if s := e.Error(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// dialNode returns a client that reaches only the broker at addr, so that
// its reads are that node's applied data.
func dialNode(addr string) (*client.Client, error) {
	return client.New(client.Config{Brokers: []string{addr}, Dial: newClientNet(addr).Dial, RequestTimeout: 5 * time.Second})
}

// nodeHWMs returns one node's high-water marks of a topic's partitions.
func nodeHWMs(addr, topic string) ([]int64, error) {
	cl, err := dialNode(addr)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := opCtx()
	defer cancel()
	md, err := cl.Metadata(ctx)
	if err != nil {
		return nil, err
	}
	for _, ti := range md.Topics {
		if ti.Name == topic {
			hwms := make([]int64, len(ti.Partitions))
			for i, p := range ti.Partitions {
				hwms[i] = p.HighWatermark
			}
			return hwms, nil
		}
	}
	return nil, fmt.Errorf("%s: no topic %s", addr, topic)
}

// stored is one record as a node stores it.
type stored struct {
	Offset int64
	Value  string
}

// readNode reads every partition of topic from one node, from offset 0 to
// its high-water mark.
func readNode(addr, topic string) ([][]stored, error) {
	hwms, err := nodeHWMs(addr, topic)
	if err != nil {
		return nil, err
	}
	cl, err := dialNode(addr)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	out := make([][]stored, len(hwms))
	for p, hwm := range hwms {
		r := cl.Reader(client.ReaderConfig{Topic: topic, Partition: int32(p), MaxWait: -1})
		for r.Offset() < hwm {
			ctx, cancel := opCtx()
			recs, err := r.Fetch(ctx)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("%s: fetch %s/%d at %d: %w", addr, topic, p, r.Offset(), err)
			}
			for _, rec := range recs {
				out[p] = append(out[p], stored{rec.Offset, string(rec.Value)})
			}
		}
	}
	return out, nil
}

// waitIdentical waits until every running node of c stores the same
// records (offsets and values) in every partition of topic, then records
// each node's data in ck as the deliveries of a group named after the
// node, so the checker judges every replica. It returns the records.
func waitIdentical(t *testing.T, c *brokertest.Cluster, ck *check.Checker, topic string) [][]stored {
	t.Helper()
	var nodes []*broker.Broker
	for i := range c.Len() {
		if b := c.Broker(i); b != nil {
			nodes = append(nodes, b)
		}
	}
	var data [][][]stored
	same := func() error {
		data = data[:0]
		for _, b := range nodes {
			d, err := readNode(b.Addr(), topic)
			if err != nil {
				return err
			}
			data = append(data, d)
		}
		for i := 1; i < len(data); i++ {
			if !slices.EqualFunc(data[0], data[i], slices.Equal) {
				return fmt.Errorf("%s and %s differ: %s", nodes[0].ID(), nodes[i].ID(), describe(data[0], data[i]))
			}
		}
		return nil
	}
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for err := same(); err != nil; err = same() {
		if time.Now().After(deadline) {
			t.Fatalf("data not identical on every node after %v: %v", waitTimeout, err)
		}
		<-tick.C
	}
	for i, b := range nodes {
		for p, recs := range data[i] {
			for _, r := range recs {
				ck.Delivered(check.Delivery{Group: b.ID(), Topic: topic, Partition: int32(p), Offset: r.Offset, Value: []byte(r.Value)})
			}
		}
	}
	return data[0]
}

// describe summarises how two nodes' data differ.
func describe(a, b [][]stored) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d vs %d partitions", len(a), len(b))
	}
	for p := range a {
		if len(a[p]) != len(b[p]) {
			return fmt.Sprintf("partition %d: %d vs %d records", p, len(a[p]), len(b[p]))
		}
		for i := range a[p] {
			if a[p][i] != b[p][i] {
				return fmt.Sprintf("partition %d record %d: %v vs %v", p, i, a[p][i], b[p][i])
			}
		}
	}
	return "no difference"
}

// acksOK is the number of produce requests with the given acks label ("0",
// "1" or "all") that b answered successfully, from its metrics.
func acksOK(t *testing.T, b *broker.Broker, acks string) float64 {
	t.Helper()
	mfs, err := b.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "minibroker_produce_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var a, code string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "acks":
					a = l.GetValue()
				case "code":
					code = l.GetValue()
				}
			}
			if a == acks && code == "OK" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// otherLeader waits until a running node other than not is the ready
// leader and returns its index.
func otherLeader(t *testing.T, c *brokertest.Cluster, not int) int {
	t.Helper()
	lead := -1
	waitUntil(t, "a new leader", func() bool {
		for i := range c.Len() {
			if b := c.Broker(i); i != not && b != nil && b.IsLeader() {
				lead = i
				return true
			}
		}
		return false
	})
	return lead
}

// logReport ends a test with the checker's verdict.
func logReport(t *testing.T, r check.Report) {
	t.Helper()
	t.Logf("%s", r)
}

// forStores runs test as a subtest per Raft log store ("bolt", "wal"),
// for the cases where the store matters: a full disk (the failed entry is
// applied again from the Raft log) and partitions (a deposed leader's log
// tail is truncated).
func forStores(t *testing.T, test func(t *testing.T, store replication.RaftLogStore)) {
	for _, s := range replication.RaftLogStores {
		t.Run(string(s), func(t *testing.T) { test(t, s) })
	}
}
