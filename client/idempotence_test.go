package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// heldCount reports how many requests the hold hook holds.
func (fb *fakeBroker) heldCount() int {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return len(fb.held)
}

// values returns the values of a partition's stored records.
func (fb *fakeBroker) values(topic string, part int) []string {
	var out []string
	for _, r := range fb.records(topic, part) {
		out = append(out, string(r.Value))
	}
	return out
}

// produceHeld sends one message per value, each in a batch of its own:
// the produce requests are held by the fake (its hook must hold them) and
// returned, in order, with the outcomes to wait on.
func produceHeld(t *testing.T, fb *fakeBroker, p *Producer, vals ...string) ([]*fakeReq, *outcomes) {
	t.Helper()
	o := new(outcomes)
	for i, v := range vals {
		p.ProduceAsync(Message{Topic: "t", Value: []byte(v)}, o.callback())
		fb.waitFor(fmt.Sprintf("%d held requests", i+1), func() bool { return fb.heldCount() == i+1 })
	}
	return fb.takeHeld(len(vals)), o
}

func TestIdempotentInitProducerOncePerPartition(t *testing.T) {
	fb, _, p := producerSetup(t, 3, ProducerConfig{Partitioner: ManualPartitioner{}})
	ctx := testCtx(t)
	for i := range 4 {
		for part := range int32(3) {
			if _, err := p.Produce(ctx, Message{Topic: "t", Partition: part, Value: []byte("v")}); err != nil {
				t.Fatalf("Produce %d to %d: %v", i, part, err)
			}
		}
	}
	if n := fb.count(wire.InitProducer); n != 3 {
		t.Fatalf("%d InitProducer requests, want 3 (one per partition)", n)
	}
	pids := map[int32]int64{}
	seqs := map[int32][]int32{}
	for _, s := range fb.sentProduces() {
		if s.version != 1 || s.pid <= 0 {
			t.Fatalf("request %v: want v1 with a producer id", s)
		}
		if pid, ok := pids[s.part]; ok && pid != s.pid {
			t.Fatalf("partition %d used producer ids %d and %d", s.part, pid, s.pid)
		}
		pids[s.part] = s.pid
		seqs[s.part] = append(seqs[s.part], s.seq)
	}
	if pids[0] == pids[1] || pids[1] == pids[2] || pids[0] == pids[2] {
		t.Fatalf("producer ids by partition %v, want one each", pids)
	}
	for part, got := range seqs {
		if fmt.Sprint(got) != "[0 1 2 3]" {
			t.Fatalf("partition %d sequences %v, want [0 1 2 3]", part, got)
		}
	}
}

func TestIdempotentSequencesCountRecords(t *testing.T) {
	// 8 messages of 124 bytes fit in 1000: batches of 8, 8, ..., 4.
	fb, _, p := producerSetup(t, 1, ProducerConfig{BatchBytes: 1000, Linger: time.Hour})
	want := make([]string, 100)
	for i := range want {
		want[i] = fmt.Sprintf("%0100d", i)
		p.ProduceAsync(Message{Topic: "t", Value: []byte(want[i])}, nil)
	}
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got := fb.produceSizes(); fmt.Sprint(got) != "[8 8 8 8 8 8 8 8 8 8 8 8 4]" {
		t.Fatalf("records per request %v", got)
	}
	next := int32(0)
	var pid int64
	for i, s := range fb.sentProduces() {
		if i == 0 {
			pid = s.pid
		}
		if s.version != 1 || s.pid != pid || s.seq != next {
			t.Fatalf("request %d: %v; want v1, pid %d, seq %d", i, s, pid, next)
		}
		next += int32(s.n)
	}
	if next != 100 || !slices.Equal(fb.values("t", 0), want) {
		t.Fatalf("sequences reached %d; stored %d records", next, len(fb.records("t", 0)))
	}
}

func TestIdempotentRetryAfterDroppedConnectionKeepsSequence(t *testing.T) {
	// The first attempt is stored but its connection drops before the
	// answer: the retry, with the same sequence, is acknowledged with the
	// original offset and not stored again.
	fb, _, p := producerSetup(t, 1, ProducerConfig{})
	ctx := testCtx(t)
	if _, err := p.Produce(ctx, Message{Topic: "t", Value: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	fb.setHook(firstN(wire.Produce, 1, func(r *fakeReq) {
		r.applyProduce()
		r.drop()
	}))
	res, err := p.Produce(ctx, Message{Topic: "t", Value: []byte("b")})
	if err != nil || res.Offset != 1 {
		t.Fatalf("Produce = %+v, %v; want offset 1", res, err)
	}
	sent := fb.sentProduces()
	if len(sent) != 3 || sent[1] != sent[2] || sent[1].seq != 1 {
		t.Fatalf("requests %v, want the retry to repeat the second", sent)
	}
	if got := fb.values("t", 0); fmt.Sprint(got) != "[a b]" || fb.connCount() != 2 || fb.count(wire.InitProducer) != 1 {
		t.Fatalf("stored %v over %d connections with %d producer ids", got, fb.connCount(), fb.count(wire.InitProducer))
	}
}

func TestIdempotentRetryAfterOutcomeUnknownStoresOnce(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{})
	fb.setHook(firstN(wire.Produce, 1, func(r *fakeReq) {
		r.applyProduce()
		r.replyCode(wire.CodeOutcomeUnknown)
	}))
	res, err := p.Produce(testCtx(t), Message{Topic: "t", Value: []byte("v")})
	if err != nil || res.Offset != 0 {
		t.Fatalf("Produce = %+v, %v; want offset 0 (the one copy)", res, err)
	}
	if n := len(fb.records("t", 0)); n != 1 || fb.count(wire.Produce) != 2 {
		t.Fatalf("%d records stored by %d requests, want 1 by 2", n, fb.count(wire.Produce))
	}
}

func TestIdempotentOutOfOrderRetriedInOrder(t *testing.T) {
	// Batch a is refused (not stored) while b is in flight; b then finds a
	// gap (OutOfOrderSequence), again and again while a is held. Both are
	// retried, a first: stored once each, in order. b's OutOfOrder answers
	// do not use up its single retry while a is outstanding.
	fb, _, p := producerSetup(t, 1, ProducerConfig{Retries: 1})
	fb.setHook(onlyAPI(wire.Produce, fb.hold))
	reqs, o := produceHeld(t, fb, p, "a", "b")
	fb.setHook(nil)
	reqs[1].serve()
	fb.waitFor("three OutOfOrderSequence answers", func() bool { return fb.refusals(wire.CodeOutOfOrderSequence) >= 3 })
	reqs[0].replyCode(wire.CodeTooManyInFlight)
	o.wg.Wait()
	for i, err := range o.errs {
		if err != nil {
			t.Fatalf("outcome %d: %v", i, err)
		}
	}
	if got := fb.values("t", 0); fmt.Sprint(got) != "[a b]" {
		t.Fatalf("stored %v, want [a b]", got)
	}
	for _, s := range fb.sentProduces() {
		if s.seq > 1 || s.n != 1 {
			t.Fatalf("request %v: batches must keep their sequence and records", s)
		}
	}
}

func TestIdempotentDuplicateSequenceIsSuccess(t *testing.T) {
	fb, _, p := producerSetup(t, 1, ProducerConfig{})
	fb.setHook(firstN(wire.Produce, 1, func(r *fakeReq) { r.replyCode(wire.CodeDuplicateSequence) }))
	res, err := p.Produce(testCtx(t), Message{Topic: "t", Value: []byte("v")})
	if err != nil || res != (Result{Topic: "t", Partition: 0, Offset: -1}) {
		t.Fatalf("Produce = %+v, %v; want success with Offset -1", res, err)
	}
	if n := fb.count(wire.Produce); n != 1 {
		t.Fatalf("%d requests, want 1 (no retry)", n)
	}
}

func TestIdempotentUnknownProducerRestartsSequences(t *testing.T) {
	// The broker forgets the producer id while b and c are in flight: both
	// are refused, and go again under a new id from sequence 0, in order.
	fb, _, p := producerSetup(t, 1, ProducerConfig{})
	if _, err := p.Produce(testCtx(t), Message{Topic: "t", Value: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	fb.expireProducers()
	fb.setHook(onlyAPI(wire.Produce, fb.hold))
	reqs, o := produceHeld(t, fb, p, "b", "c")
	fb.setHook(nil)
	serveProducesInOrder(reqs)
	o.wg.Wait()
	for i, err := range o.errs {
		if err != nil {
			t.Fatalf("outcome %d: %v", i, err)
		}
	}
	want := "[v1 p0 pid1 seq0 n1 v1 p0 pid1 seq1 n1 v1 p0 pid1 seq2 n1 v1 p0 pid2 seq0 n1 v1 p0 pid2 seq1 n1]"
	if got := fmt.Sprint(fb.sentProduces()); got != want {
		t.Fatalf("requests\n%s, want\n%s", got, want)
	}
	if got := fb.values("t", 0); fmt.Sprint(got) != "[a b c]" || fb.refusals(wire.CodeUnknownProducer) != 2 {
		t.Fatalf("stored %v after %d UnknownProducer answers", got, fb.refusals(wire.CodeUnknownProducer))
	}
}

func TestIdempotentFailedBatchTakesNewProducerID(t *testing.T) {
	// a fails for good (no retries), leaving a gap: b, in flight behind it,
	// is refused as out of order and goes again under a new producer id
	// from sequence 0.
	fb, _, p := producerSetup(t, 1, ProducerConfig{Retries: -1})
	fb.setHook(onlyAPI(wire.Produce, fb.hold))
	reqs, o := produceHeld(t, fb, p, "a", "b")
	fb.setHook(nil)
	reqs[0].replyCode(wire.CodeTooManyInFlight)
	reqs[1].serve()
	o.wg.Wait()
	if !errors.Is(o.errs[0], ErrTooManyInFlight) || o.errs[1] != nil || o.res[1].Offset != 0 {
		t.Fatalf("outcomes %v %v, want a to fail and b to be stored at 0", o.res, o.errs)
	}
	want := "[v1 p0 pid1 seq0 n1 v1 p0 pid1 seq1 n1 v1 p0 pid2 seq0 n1]"
	if got := fmt.Sprint(fb.sentProduces()); got != want {
		t.Fatalf("requests\n%s, want\n%s", got, want)
	}
}

func TestIdempotentFinalErrorOutcome(t *testing.T) {
	// Attempt 1 is lost with its connection (it may have been stored);
	// attempt 2, same producer id and sequence, is refused as out of
	// order: so attempt 1 was not stored, and the error says so.
	fb, _, p := producerSetup(t, 1, ProducerConfig{Retries: 1})
	fb.setHook(dropThenReply(wire.CodeOutOfOrderSequence))
	_, err := p.Produce(testCtx(t), Message{Topic: "t"})
	if !errors.Is(err, ErrOutOfOrderSequence) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("Produce = %v, want ErrOutOfOrderSequence with a known outcome", err)
	}
}

func TestIdempotenceOffSendsV0(t *testing.T) {
	for _, cfg := range []ProducerConfig{
		{Idempotence: IdempotenceOff},
		{Acks: AcksLeader}, // IdempotenceAuto
	} {
		fb, _, p := producerSetup(t, 1, cfg)
		if _, err := p.Produce(testCtx(t), Message{Topic: "t", Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		sent := fb.sentProduces()
		if len(sent) != 1 || sent[0].version != 0 || sent[0].pid != 0 || sent[0].seq != 0 || fb.count(wire.InitProducer) != 0 {
			t.Fatalf("%+v: requests %v, %d InitProducer; want one v0 without producer id", cfg, sent, fb.count(wire.InitProducer))
		}
	}
}

func TestIdempotenceAutoWithoutBrokerSupport(t *testing.T) {
	// An older broker does not know InitProducer: IdempotenceAuto goes on
	// without (once for the whole Producer), IdempotenceOn fails.
	fb, _, p := producerSetup(t, 2, ProducerConfig{Partitioner: ManualPartitioner{}})
	fb.setHook(onlyAPI(wire.InitProducer, func(r *fakeReq) bool { r.replyCode(wire.CodeUnknownAPI); return true }))
	for part := range int32(2) {
		if _, err := p.Produce(testCtx(t), Message{Topic: "t", Partition: part}); err != nil {
			t.Fatalf("IdempotenceAuto: %v", err)
		}
	}
	for _, s := range fb.sentProduces() {
		if s.version != 0 || s.pid != 0 {
			t.Fatalf("request %v, want v0", s)
		}
	}
	if n := fb.count(wire.InitProducer); n != 1 {
		t.Fatalf("%d InitProducer requests, want 1", n)
	}

	fb, _, p = producerSetup(t, 1, ProducerConfig{Idempotence: IdempotenceOn})
	fb.setHook(onlyAPI(wire.InitProducer, func(r *fakeReq) bool { r.replyCode(wire.CodeUnknownAPI); return true }))
	if _, err := p.Produce(testCtx(t), Message{Topic: "t"}); !errors.Is(err, ErrUnknownAPI) {
		t.Fatalf("IdempotenceOn: Produce = %v, want ErrUnknownAPI", err)
	}
	if n := fb.count(wire.Produce); n != 0 {
		t.Fatalf("%d produce requests, want none", n)
	}
}

func TestIdempotentInitProducerFollowsLeader(t *testing.T) {
	// The follower answers InitProducer with NotLeader (without naming the
	// leader): the producer asks the cluster and gets its id there.
	leader, follower := twoNodes(t, true)
	leader.addTopic("t", 1)
	follower.addTopic("t", 1)
	cl := newTestClient(t, Config{Brokers: []string{follower.addr}})
	p := cl.Producer(ProducerConfig{RetryBackoff: 1})
	defer p.Close()
	res, err := p.Produce(testCtx(t), Message{Topic: "t", Value: []byte("v")})
	if err != nil || res.Offset != 0 {
		t.Fatalf("Produce = %+v, %v", res, err)
	}
	if follower.count(wire.InitProducer) != 1 || leader.count(wire.InitProducer) != 1 || follower.count(wire.Produce) != 0 {
		t.Fatalf("InitProducer: follower %d, leader %d; produce to the follower %d; want 1, 1, 0",
			follower.count(wire.InitProducer), leader.count(wire.InitProducer), follower.count(wire.Produce))
	}
}

func TestIdempotentNoDuplicatesOrReorderingUnderDrops(t *testing.T) {
	// Connections drop all the time, some after storing a batch, some
	// before: every message is stored exactly once, in order, and each
	// Result has its record's offset (or -1 when the broker no longer
	// remembered it).
	fb, _, p := producerSetup(t, 1, ProducerConfig{BatchBytes: 1000, MaxInFlight: 8, Retries: 50})
	var n atomic.Int64
	fb.setHook(onlyAPI(wire.Produce, func(r *fakeReq) bool {
		switch n.Add(1) % 7 {
		case 3:
			r.applyProduce()
			r.drop()
		case 5:
			r.drop()
		default:
			return false
		}
		return true
	}))
	const total = 300
	var wg sync.WaitGroup
	res := make([]Result, total)
	errs := make([]error, total)
	want := make([]string, total)
	for i := range total {
		want[i] = fmt.Sprintf("%0100d", i)
		wg.Add(1)
		p.ProduceAsync(Message{Topic: "t", Value: []byte(want[i])}, func(r Result, err error) {
			res[i], errs[i] = r, err
			wg.Done()
		})
	}
	wg.Wait()
	for i := range total {
		if errs[i] != nil || (res[i].Offset != int64(i) && res[i].Offset != -1) {
			t.Fatalf("message %d: %+v, %v", i, res[i], errs[i])
		}
	}
	if got := fb.values("t", 0); !slices.Equal(got, want) {
		t.Fatalf("stored %d records, want the %d messages once each, in order", len(got), total)
	}
	if fb.connCount() < 3 {
		t.Fatalf("only %d connections: the test did not drop any", fb.connCount())
	}
}

func TestSequenceExhaustionTakesNewProducerID(t *testing.T) {
	_, _, p := producerSetup(t, 1, ProducerConfig{})
	s := newPartSender(p, "t", 0)
	s.pid, s.nextPSeq = 7, math.MaxInt32-1
	fits := &batch{recs: make([]wire.Record, 1)}
	if err := s.sequence(nil, fits); err != nil || fits.pid != 7 || fits.pseq != math.MaxInt32-1 || s.nextPSeq != math.MaxInt32 {
		t.Fatalf("sequence = %v: batch %d/%d, next %d", err, fits.pid, fits.pseq, s.nextPSeq)
	}
	over := &batch{recs: make([]wire.Record, 1)}
	if err := s.sequence(nil, over); !errors.Is(err, errSeqExhausted) || s.pid != 0 || over.pid != 0 {
		t.Fatalf("sequence = %v, sender pid %d, batch pid %d; want errSeqExhausted and the id abandoned", err, s.pid, over.pid)
	}
}

// logSignal is a slog handler that sends the message of every record to
// ch, without blocking (ch should be buffered).
type logSignal struct{ ch chan string }

func (h logSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h logSignal) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.ch <- r.Message:
	default:
	}
	return nil
}
func (h logSignal) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logSignal) WithGroup(string) slog.Handler      { return h }

func TestIdempotentNewProducerIDWaitsForBatchesInFlight(t *testing.T) {
	// b is refused with UnknownProducer while c is in flight under the same
	// id. The sender must not take a new id (and sequence b under it)
	// before c's answer: c fails too (not stored), and b, c and d, produced
	// meanwhile, go under the new id in order.
	fb := newFakeBroker(t, "n1")
	fb.addTopic("t", 1)
	logs := make(chan string, 100)
	cl := newTestClient(t, Config{Brokers: []string{fb.addr}, Logger: slog.New(logSignal{logs})})
	p := cl.Producer(ProducerConfig{RetryBackoff: time.Millisecond})
	defer p.Close()
	fb.setHook(onlyAPI(wire.Produce, fb.hold))
	reqs, o := produceHeld(t, fb, p, "b", "c")
	early := make(chan struct{}, 1)
	var cAnswered atomic.Bool
	fb.setHook(func(r *fakeReq) bool {
		if r.hdr.APIKey == wire.InitProducer && !cAnswered.Load() {
			select {
			case early <- struct{}{}:
			default:
			}
		}
		return r.hdr.APIKey == wire.Produce && fb.hold(r)
	})
	fb.expireProducers()
	reqs[0].serve() // UnknownProducer
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for waiting := true; waiting; {
		select {
		case msg := <-logs:
			waiting = !strings.HasPrefix(msg, "minibroker: waiting for the answers")
		case <-early:
			t.Fatal("InitProducer while a batch under the abandoned id was in flight")
		case <-deadline.C:
			t.Fatal("the sender did not wait for the batch in flight")
		}
	}
	p.ProduceAsync(Message{Topic: "t", Value: []byte("d")}, o.callback())
	cAnswered.Store(true)
	reqs[1].replyCode(wire.CodeTooManyInFlight)
	serveProducesInOrder(fb.takeHeld(3))
	o.wg.Wait()
	for i, err := range o.errs {
		if err != nil {
			t.Fatalf("outcome %d: %v", i, err)
		}
	}
	if got := fb.values("t", 0); fmt.Sprint(got) != "[b c d]" {
		t.Fatalf("stored %v, want [b c d]", got)
	}
}
