package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minibroker/minibroker/client"
)

// The kafka-consumer-crash scenario: commit-after-processing played by a
// real Kafka client. franz-go consumer A of Kafka consumer group
// "kafka-billing" (kgo.ConsumerGroup, kgo.DisableAutoCommit) polls a batch,
// processes it, then commits exactly those records (CommitRecords); at a
// seeded batch (or the one after the caller injects the fault) it crashes
// after processing, before committing: every connection it has dies and
// it dials nothing more, so it neither commits nor leaves the group. Once
// its session expires the coordinator hands the partition to franz-go
// consumer B, which starts at the group's committed offset and processes
// A's last batch again: at-least-once, through the learner's own client.

const (
	kafkaLabGroup      = "kafka-billing"
	kafkaLabSession    = 6 * time.Second // Kafka's group.min.session.timeout.ms
	kafkaLabHeartbeats = 500 * time.Millisecond
)

// crashDialer is a kgo.Dialer whose connections can all be cut at once
// (crash), after which it refuses to dial: a client process that died.
// Safe for concurrent use.
type crashDialer struct {
	mu      sync.Mutex // guards conns and crashed
	conns   []net.Conn
	crashed bool
}

var errCrashed = errors.New("lab: the consumer process crashed")

func (d *crashDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.crashed {
		nc.Close()
		return nil, errCrashed
	}
	d.conns = append(d.conns, nc)
	return nc, nil
}

func (d *crashDialer) crash() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.crashed = true
	for _, c := range d.conns {
		c.Close()
	}
}

// kafkaMember returns a franz-go member of the lab's Kafka group on topic
// with manual commits; dial, if not nil, is its dialer.
func kafkaMember(c *cluster, topic string, dial func(context.Context, string, string) (net.Conn, error)) (*kgo.Client, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.KafkaAddrs()...), kgo.ConsumerGroup(kafkaLabGroup), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(kafkaLabSession), kgo.HeartbeatInterval(kafkaLabHeartbeats), kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.MetadataMinAge(200 * time.Millisecond)}
	if dial != nil {
		opts = append(opts, kgo.Dialer(dial))
	}
	return kgo.NewClient(opts...)
}

// pollBatch polls up to batch records and returns them as client records.
func pollBatch(ctx context.Context, m *kgo.Client, batch int) ([]client.Record, []*kgo.Record, error) {
	fs := m.PollRecords(ctx, batch)
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var out []client.Record
	recs := fs.Records()
	for _, r := range recs {
		out = append(out, client.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value})
	}
	return out, recs, nil
}

func runKafkaConsumerCrash(ctx context.Context, r *Run) (Result, error) {
	const topic = "orders"
	tl := r.tl
	c, ck, n, batch, crashBatch, err := startCrashScenario(ctx, r, topic)
	if err != nil {
		return Result{}, err
	}
	defer c.close()
	tl.emit(span(KindAck, 0, int64(n-1), false, "producer: %d orders sent with acks=all (offsets 0-%d)", n, n-1))
	tl.say("Kafka group %q: franz-go consumers (kgo.ConsumerGroup, kgo.DisableAutoCommit) poll up to %d records, process them, then CommitRecords; session timeout %v",
		kafkaLabGroup, batch, kafkaLabSession)
	if r.manual {
		tl.say("plan: consumer A crashes after processing the batch it polls after you press the button, before committing it")
	} else {
		tl.say("plan (seeded): consumer A crashes after processing batch %d, before committing it", crashBatch)
	}

	proc := &processor{mode: commitAfter, ck: ck, delay: r.sizes.ProcessDelay, applied: map[string]bool{}, by: map[int64][]string{}}
	gctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	dA := &crashDialer{}
	a, err := kafkaMember(c, topic, dA.dial)
	if err != nil {
		return Result{}, fmt.Errorf("consumer A: %w", err)
	}
	defer a.Close()
	var crash crashPoint
	crashed, next := false, int64(0)
	for b := 1; next < int64(n); b++ {
		recs, krecs, err := pollBatch(gctx, a, batch)
		if err != nil {
			return Result{}, fmt.Errorf("consumer A: %w", err)
		}
		if len(recs) == 0 {
			b--
			continue
		}
		first, last := recs[0].Offset, recs[len(recs)-1].Offset
		proc.process(gctx, "A", recs)
		tl.emit(span(KindDelivery, first, last, false, "consumer A processed offsets %d-%d", first, last))
		next = last + 1
		strike := b == crashBatch
		if r.manual {
			select {
			case <-r.faults:
				strike = true
			default:
			}
		}
		if strike {
			crash, crashed = crashPoint{first: first, last: last, processed: last}, true
			dA.crash()
			tl.emit(span(KindFault, first, last, false, "consumer A CRASHED after processing %d-%d, before committing them: its connections are gone, it neither commits nor leaves the group", first, last))
			break
		}
		if err := a.CommitRecords(gctx, krecs...); err != nil {
			return Result{}, fmt.Errorf("consumer A commit: %w", err)
		}
		tl.emit(span(KindOffset, last+1, last+1, false, "consumer A committed offset %d", last+1))
	}
	if crashed {
		tl.say("consumer B joins group %q; it gets the partition once A's session (%v) has expired", kafkaLabGroup, kafkaLabSession)
		bm, err := kafkaMember(c, topic, nil)
		if err != nil {
			return Result{}, fmt.Errorf("consumer B: %w", err)
		}
		defer bm.Close()
		for started := false; next < int64(n) || !started; {
			recs, krecs, err := pollBatch(gctx, bm, batch)
			if err != nil {
				return Result{}, fmt.Errorf("consumer B: %w", err)
			}
			if len(recs) == 0 {
				continue
			}
			first, last := recs[0].Offset, recs[len(recs)-1].Offset
			if !started {
				started = true
				tl.emit(span(KindDelivery, first, first, false, "consumer B got the partition; it starts at the group's committed offset, %d", first))
			}
			proc.process(gctx, "B", recs)
			tl.emit(span(KindDelivery, first, last, false, "consumer B processed offsets %d-%d", first, last))
			if err := bm.CommitRecords(gctx, krecs...); err != nil {
				return Result{}, fmt.Errorf("consumer B commit: %w", err)
			}
			next = max(next, last+1)
		}
	}

	rep := ck.Report()
	g := groupOf(rep, labGroup)
	switch {
	case g.LostCount > 0:
		tl.sayKind(KindCheck, "check: LOST %d orders (this should not happen when committing after processing)", g.LostCount)
	case g.DuplicateCount > 0:
		tl.emit(span(KindCheck, crash.first, crash.last, false, "check: nothing lost, but %d orders processed twice: A processed %d-%d and crashed before committing; B started at the last commit. %d effects for %d distinct orders: at-least-once",
			g.DuplicateCount, crash.first, crash.last, proc.effects, g.Distinct))
	default:
		tl.sayKind(KindCheck, "check: nothing lost, nothing processed twice")
	}
	name := r.Scenario.Name
	res := Result{Rows: []Row{{Scenario: name, Sent: rep.Sent, Acked: rep.Acked, Delivered: g.Distinct,
		Lost: g.LostCount, Duplicated: g.DuplicateCount, Effects: proc.effects}}}
	res.Ledger = groupLedger(name, commitAfter, proc, crash, n)
	return res, nil
}
