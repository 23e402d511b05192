package fault

import (
	"bufio"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
)

// runProducer is the producer child: it sends check.Value(Stream, i) for
// i = 0, 1, ... (keyed by the value, so spread over the partitions),
// writing "send" before each message is handed to the producer and
// "result" when its outcome is known, until "stop" (or EOF) on stdin; then
// it closes the producer (delivering what is buffered), writes "done" and
// exits 0.
func runProducer(js string) int {
	cfg, err := parseRoleConfig(js)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var out eventWriter
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cl, err := client.New(client.Config{Brokers: cfg.Brokers, DialTimeout: time.Second, RequestTimeout: 5 * time.Second, Logger: logger})
	if err != nil {
		out.emit(event{Ev: "fatal", Err: err.Error()})
		fmt.Fprintln(os.Stderr, "producer:", err)
		return 1
	}
	defer cl.Close()
	p := cl.Producer(producerConfig(cfg.Acks, cfg.Idempotence))
	stop := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() && sc.Text() != "stop" {
		}
		close(stop)
	}()
	fmt.Println("READY")
	paceProduce(stop, cfg.Rate, cfg.MaxOutstanding, func(i int64, done func()) {
		v := check.Value(cfg.Stream, int(i))
		out.emit(event{Ev: "send", I: i})
		p.ProduceAsync(client.Message{Topic: cfg.Topic, Key: v, Value: v}, func(r client.Result, err error) {
			e := event{Ev: "result", I: i, P: r.Partition, O: r.Offset, Out: outcome(cfg.Acks, err).String()}
			if err != nil {
				e.Err = err.Error()
			}
			out.emit(e)
			done()
		})
	})
	p.Close()
	out.emit(event{Ev: "done"})
	return 0
}

// producerConfig is the producers' configuration in these tests: retries
// enough to outlast an election (30, backoff 50ms to 500ms).
func producerConfig(acks client.Acks, idem client.Idempotence) client.ProducerConfig {
	cfg := client.ProducerConfig{Acks: acks, Idempotence: idem, Retries: 30,
		RetryBackoff: 50 * time.Millisecond, RetryBackoffMax: 500 * time.Millisecond}
	if idem == client.IdempotenceOff {
		cfg.MaxInFlight = 1 // keeps a partition's order under retries (see client.Producer)
	}
	return cfg
}

// outcome classifies a produce result: with acks=0 a nil error means
// only "sent".
func outcome(acks client.Acks, err error) check.Outcome {
	if err == nil && acks == client.AcksNone {
		return check.Unacked
	}
	return check.OutcomeOf(err)
}

// paceProduce calls send(i, done) for i = 0, 1, ... at about rate calls a
// second (in bursts every 10ms), with at most maxOut calls whose done has
// not been called, until stop is closed. It returns once stop is closed;
// done calls may still come later.
func paceProduce(stop <-chan struct{}, rate, maxOut int, send func(i int64, done func())) {
	if rate <= 0 {
		rate = 2000
	}
	if maxOut <= 0 {
		maxOut = 256
	}
	sem := make(chan struct{}, maxOut)
	burst := max(1, rate/100)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var i int64
	for {
		for range burst {
			select {
			case <-stop:
				return
			case sem <- struct{}{}:
			}
			send(i, func() { <-sem })
			i++
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// producerLog turns a producer process's events into checker attempts.
// A message sent but without a result when the process ends (killed) is
// recorded as Unknown by finish.
type producerLog struct {
	ck     *check.Checker
	topic  string
	stream string

	mu      sync.Mutex // guards the fields below
	pending map[int64]bool
	acked   int
	done    bool
}

// startProducerProc starts a producer process writing stream to topic.
func startProducerProc(t *testing.T, ck *check.Checker, brokers []string, topic, stream string, rate int) (*proc, *producerLog) {
	t.Helper()
	pl := &producerLog{ck: ck, topic: topic, stream: stream, pending: map[int64]bool{}}
	cfg := roleConfig{Brokers: brokers, Topic: topic, Stream: stream, Rate: rate, MaxOutstanding: 256}
	p := startRole(t, "producer-"+stream, "producer", cfg, func(e event) {
		pl.mu.Lock()
		defer pl.mu.Unlock()
		switch e.Ev {
		case "send":
			pl.pending[e.I] = true
		case "result":
			delete(pl.pending, e.I)
			out := check.Unknown
			for _, o := range []check.Outcome{check.Acked, check.Failed, check.Unknown, check.Unacked} {
				if o.String() == e.Out {
					out = o
				}
			}
			if out == check.Acked {
				pl.acked++
			}
			ck.Produced(check.Attempt{Stream: stream, Seq: e.I, Topic: topic, Partition: e.P, Offset: e.O,
				Value: check.Value(stream, int(e.I)), Outcome: out})
		case "done":
			pl.done = true
		case "fatal":
			t.Errorf("producer %s: %s", stream, e.Err)
		}
	})
	return p, pl
}

// ackedCount returns how many messages were acked so far.
func (pl *producerLog) ackedCount() int {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.acked
}

// finish records every message still without a result as Unknown. Call
// it once the process has exited.
func (pl *producerLog) finish() int {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	n := len(pl.pending)
	for i := range pl.pending {
		pl.ck.Produced(check.Attempt{Stream: pl.stream, Seq: i, Topic: pl.topic, Partition: -1, Offset: -1,
			Value: check.Value(pl.stream, int(i)), Outcome: check.Unknown})
	}
	clear(pl.pending)
	return n
}

// stopProducerProc asks the producer process to stop, waits for it to
// flush and exit, and records what is left as Unknown.
func stopProducerProc(t *testing.T, p *proc, pl *producerLog) {
	t.Helper()
	p.send("stop")
	if code := p.waitExit(90 * time.Second); code != 0 {
		t.Errorf("producer %s exited %d", pl.stream, code)
	}
	pl.finish()
}

// localProducer produces from the test process itself, recording every
// outcome in the checker.
type localProducer struct {
	p     *client.Producer
	stop  chan struct{}
	done  chan struct{}
	acks  client.Acks
	mu    sync.Mutex // guards acked, onAck and errs
	acked int
	onAck func(n int)    // called (under mu) after each ack with the count so far
	errs  map[string]int // produce errors seen, by text
}

// startLocalProducer produces check.Value(stream, i) to topic at about
// rate messages a second until stop.
func startLocalProducer(t *testing.T, cl *client.Client, ck *check.Checker, topic, stream string, cfg client.ProducerConfig, rate int) *localProducer {
	lp := &localProducer{p: cl.Producer(cfg), stop: make(chan struct{}), done: make(chan struct{}), acks: cfg.Acks, errs: map[string]int{}}
	go func() {
		defer close(lp.done)
		paceProduce(lp.stop, rate, 256, func(i int64, done func()) {
			v := check.Value(stream, int(i))
			lp.p.ProduceAsync(client.Message{Topic: topic, Key: v, Value: v}, func(r client.Result, err error) {
				out := outcome(cfg.Acks, err)
				if err != nil {
					lp.mu.Lock()
					if lp.errs[err.Error()]++; lp.errs[err.Error()] == 1 && len(lp.errs) <= 5 {
						t.Logf("producer %s: message %d: %v (%v)", stream, i, err, out)
					}
					lp.mu.Unlock()
				}
				ck.Produced(check.Attempt{Stream: stream, Seq: i, Topic: topic, Partition: r.Partition, Offset: r.Offset, Value: v, Outcome: out})
				if out == check.Acked || out == check.Unacked {
					lp.mu.Lock()
					lp.acked++
					if lp.onAck != nil {
						lp.onAck(lp.acked)
					}
					lp.mu.Unlock()
				}
				done()
			})
		})
		lp.p.Close() // delivers what is buffered; every callback has run after it
	}()
	t.Cleanup(lp.close)
	return lp
}

// setOnAck sets a function called after each ack (for acks=0: each
// message sent) with the count so far, on the producer's callback
// goroutine; it must not block.
func (lp *localProducer) setOnAck(f func(n int)) {
	lp.mu.Lock()
	lp.onAck = f
	lp.mu.Unlock()
}

// ackedCount returns how many messages were acked (sent, for acks=0).
func (lp *localProducer) ackedCount() int {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.acked
}

// close stops producing and waits until every outcome is recorded.
// Idempotent.
func (lp *localProducer) close() {
	select {
	case <-lp.stop:
	default:
		close(lp.stop)
	}
	<-lp.done
}

// waitAcked waits until the producer has n acks.
func (lp *localProducer) waitAcked(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d acked messages", n), timeout, func() bool { return lp.ackedCount() >= n })
}
