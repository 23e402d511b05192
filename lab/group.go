package lab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
)

// The consumer scenarios: a topic is filled first (acks=all); consumer A
// of group "billing" works through it batch by batch and crashes at a
// seeded batch, or in the batch after the caller injects the fault (its
// client is closed: no commit, no LeaveGroup, its heartbeats stop);
// consumer B joins, gets the partition once A's session has expired, and
// starts at the group's committed offset. Where A committed relative to
// its processing decides what is lost or repeated.

// groupMode is how the consumers order processing and committing.
type groupMode int

const (
	commitBefore    groupMode = iota // commit the batch, then process it
	commitAfter                      // process the batch, then commit it
	idempotentApply                  // as commitAfter; processing skips ids already applied
)

const (
	labGroup          = "billing"
	labSessionTimeout = time.Second
)

// processor is the application: it "processes" records (the checker
// counts them as delivered) and applies their effects. In idempotent
// mode the effects go through a set of applied message ids: the
// application's database, which outlives the consumers. Used by one
// consumer at a time.
type processor struct {
	mode    groupMode
	ck      *check.Checker
	delay   time.Duration      // processing time per batch
	applied map[string]bool    // the "database": message ids applied (idempotent mode)
	by      map[int64][]string // offset -> the consumers that processed it, in order
	effects int                // side effects performed
	skipped int                // deliveries not applied: id already in applied
}

func (p *processor) process(ctx context.Context, who string, recs []client.Record) {
	if p.delay > 0 {
		t := time.NewTimer(p.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	for _, r := range recs {
		p.ck.Delivered(check.Delivery{Group: labGroup, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: r.Value})
		p.by[r.Offset] = append(p.by[r.Offset], who)
		if p.mode == idempotentApply {
			id := string(r.Key)
			if p.applied[id] {
				p.skipped++
				continue
			}
			p.applied[id] = true // in a real database: in the same transaction as the effect
		}
		p.effects++
	}
}

func runGroup(ctx context.Context, r *Run, mode groupMode) (Result, error) {
	const topic = "orders"
	tl := r.tl
	c, ck, n, batch, crashBatch, err := startCrashScenario(ctx, r, topic)
	if err != nil {
		return Result{}, err
	}
	defer c.close()
	rep := ck.Report()
	tl.emit(span(KindAck, 0, int64(n-1), false, "producer: %d orders sent with acks=all, %d acked (offsets 0-%d); each order's key is its id", rep.Sent, rep.Acked, n-1))
	how := map[groupMode]string{
		commitBefore:    "commit each batch, then process it",
		commitAfter:     "process each batch, then commit it",
		idempotentApply: "process each batch, then commit it; processing applies an order only if its id is not yet in the database",
	}[mode]
	tl.say("group %q: consumers poll batches of up to %d and %s; session timeout %v", labGroup, batch, how, labSessionTimeout)
	if r.manual {
		tl.say("plan: consumer A crashes in the batch it polls after you press the button")
	} else {
		tl.say("plan (seeded): consumer A crashes in batch %d", crashBatch)
	}

	proc := &processor{mode: mode, ck: ck, delay: r.sizes.ProcessDelay, applied: map[string]bool{}, by: map[int64][]string{}}
	gctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	v := victim{tl: tl, c: c, proc: proc, topic: topic, batch: batch, crashBatch: crashBatch, end: int64(n), faults: r.faults, rng: r.rng}
	crash, crashed, err := v.run(gctx)
	if err != nil {
		return Result{}, err
	}
	if crashed {
		if err := runSurvivor(gctx, tl, c, proc, topic, batch, int64(n)); err != nil {
			return Result{}, err
		}
	}

	rep = ck.Report()
	g := groupOf(rep, labGroup)
	switch {
	case g.LostCount > 0:
		tl.emit(span(KindCheck, crash.processed+1, crash.last, false, "check: LOST %d orders: A committed offset %d, processed up to %d and crashed; B started at the commit, so nobody processed %d-%d: at-most-once",
			g.LostCount, crash.last+1, crash.processed, crash.processed+1, crash.last))
	case g.DuplicateCount > 0 && mode == idempotentApply:
		tl.emit(span(KindCheck, crash.first, crash.last, false, "check: %d orders delivered twice (A processed %d-%d and crashed before committing; B started at the last commit), but the database skipped the %d deliveries whose id it had applied: %d effects for %d distinct orders: effectively-once",
			g.DuplicateCount, crash.first, crash.last, proc.skipped, proc.effects, g.Distinct))
	case g.DuplicateCount > 0:
		tl.emit(span(KindCheck, crash.first, crash.last, false, "check: nothing lost, but %d orders processed twice: A processed %d-%d and crashed before committing; B started at the last commit. %d effects for %d distinct orders: at-least-once",
			g.DuplicateCount, crash.first, crash.last, proc.effects, g.Distinct))
	default:
		tl.sayKind(KindCheck, "check: nothing lost, nothing processed twice")
	}
	name := r.Scenario.Name
	res := Result{Rows: []Row{{Scenario: name, Sent: rep.Sent, Acked: rep.Acked, Delivered: g.Distinct,
		Lost: g.LostCount, Duplicated: g.DuplicateCount, Effects: proc.effects}}}
	res.Ledger = groupLedger(name, mode, proc, crash, n)
	return res, nil
}

// groupLedger lists the orders nobody processed and those processed more
// than once, with their stories.
func groupLedger(row string, mode groupMode, proc *processor, crash crashPoint, n int) []Entry {
	var out []Entry
	for off := range int64(n) {
		v := string(check.Value("order", int(off)))
		switch by := proc.by[off]; {
		case len(by) == 0:
			out = append(out, Entry{Row: row, Message: v, Fate: FateLost, Story: fmt.Sprintf(
				"in A's batch %d-%d: A committed offset %d before processing the batch, processed up to %d and crashed; B started at the committed offset, past this order, so nobody processed it",
				crash.first, crash.last, crash.last+1, crash.processed)})
		case len(by) > 1:
			story := fmt.Sprintf("processed by %v: A processed its batch (%d-%d), then crashed before committing it; B started at the last commit, %d, and processed the batch again",
				by, crash.first, crash.last, crash.first)
			if mode == idempotentApply {
				story += "; the database already had its id, so the second delivery took no effect"
			} else {
				story += "; the effect happened twice"
			}
			out = append(out, Entry{Row: row, Message: v, Fate: FateDuplicated, Offsets: []int64{off}, Story: story})
		}
	}
	return out
}

// crashPoint is where consumer A crashed: in the batch of offsets
// first-last, having processed up to processed.
type crashPoint struct{ first, last, processed int64 }

// fillTopic produces n orders to topic with acks=all and records them in ck.
func fillTopic(ctx context.Context, cl *client.Client, ck *check.Checker, topic string, n int) error {
	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll})
	defer p.Close()
	for i := range n {
		v := check.Value("order", i)
		p.ProduceAsync(client.Message{Topic: topic, Key: v, Value: v}, func(r client.Result, err error) {
			ck.Produced(check.Attempt{Stream: "p", Seq: int64(i), Topic: topic, Partition: r.Partition, Offset: r.Offset, Value: v, Outcome: check.OutcomeOf(err)})
		})
	}
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return p.Flush(fctx)
}

// groupConsumer returns a new client of c and a manual-commit consumer of
// the lab's group on it. Close the client to crash the consumer.
func groupConsumer(c *cluster, topic string, batch int, onAssigned func(context.Context, []client.TopicPartition)) (*client.Client, *client.Consumer, error) {
	cl, err := c.newClient(nil)
	if err != nil {
		return nil, nil, err
	}
	cons, err := cl.Consumer(client.ConsumerConfig{Group: labGroup, Topics: []string{topic}, ManualCommit: true,
		MaxPollRecords: batch, SessionTimeout: labSessionTimeout, HeartbeatInterval: 100 * time.Millisecond,
		MaxPollInterval: 10 * time.Second, FetchMaxWait: 100 * time.Millisecond, OnAssigned: onAssigned})
	if err != nil {
		cl.Close()
		return nil, nil, err
	}
	return cl, cons, nil
}

// victim is consumer A.
type victim struct {
	tl         *timeline
	c          *cluster
	proc       *processor
	topic      string
	batch      int
	crashBatch int          // crash in this batch (-1: when a fault arrives)
	end        int64        // offsets below end are the topic's
	faults     <-chan Fault // the caller's fault (manual runs)
	rng        *rand.Rand
}

// run runs consumer A until it crashes in batch crashBatch (the first
// batch from then on with at least two records), or in the batch after a
// fault arrives; or, without a crash, until it has processed every order
// (crashed false; it then leaves the group).
func (v *victim) run(ctx context.Context) (crashPoint, bool, error) {
	tl := v.tl
	cl, cons, err := groupConsumer(v.c, v.topic, v.batch, func(_ context.Context, tps []client.TopicPartition) {
		tl.say("A: joined group %q, assigned %v", labGroup, tps)
	})
	if err != nil {
		return crashPoint{}, false, err
	}
	defer cl.Close()
	faulted := false
	for b := 1; ; b++ {
		recs, err := cons.Poll(ctx)
		if err != nil {
			return crashPoint{}, false, fmt.Errorf("consumer A: %w", err)
		}
		if len(recs) == 0 {
			b--
			continue
		}
		if !faulted {
			select {
			case <-v.faults:
				faulted = true
			default:
			}
		}
		first, last := recs[0].Offset, recs[len(recs)-1].Offset
		crash := len(recs) >= 2 && ((v.crashBatch > 0 && b >= v.crashBatch) || faulted)
		if v.proc.mode == commitBefore {
			if err := cons.Commit(ctx, recs...); err != nil {
				return crashPoint{}, false, fmt.Errorf("consumer A: commit: %w", err)
			}
			tl.emit(span(KindOffset, last+1, last+1, true, "A: committed offset %d", last+1))
			if crash {
				k := 1 + v.rng.IntN(len(recs)-1)
				v.proc.process(ctx, "A", recs[:k])
				cl.Close()
				tl.emit(span(KindFault, first, last, false, "A: batch %d (offsets %d-%d): committed offset %d, processed %d-%d, then CRASHED (client closed: no commit, no leave)",
					b, first, last, last+1, first, recs[k-1].Offset))
				return crashPoint{first, last, recs[k-1].Offset}, true, nil
			}
			v.proc.process(ctx, "A", recs)
			tl.emit(span(KindDelivery, first, last, false, "A: batch %d (offsets %d-%d): committed offset %d, then processed it", b, first, last, last+1))
		} else {
			v.proc.process(ctx, "A", recs)
			if crash {
				cl.Close()
				tl.emit(span(KindFault, first, last, false, "A: batch %d (offsets %d-%d): processed, then CRASHED before committing (client closed: no commit, no leave)", b, first, last))
				return crashPoint{first, last, last}, true, nil
			}
			if err := cons.Commit(ctx, recs...); err != nil {
				return crashPoint{}, false, fmt.Errorf("consumer A: commit: %w", err)
			}
			tl.emit(span(KindOffset, last+1, last+1, true, "A: committed offset %d", last+1))
			tl.emit(span(KindDelivery, first, last, false, "A: batch %d (offsets %d-%d): processed, then committed offset %d", b, first, last, last+1))
		}
		if last >= v.end-1 {
			cons.Close()
			tl.say("A: processed every order without crashing (no fault was injected); leaves the group")
			return crashPoint{}, false, nil
		}
	}
}

// runSurvivor runs consumer B, with the same discipline as A and no
// crash, until it has processed the record at offset end-1; then it
// leaves the group.
func runSurvivor(ctx context.Context, tl *timeline, c *cluster, proc *processor, topic string, batch int, end int64) error {
	tl.say("B: starts and joins group %q; the coordinator waits for A until A's session expires", labGroup)
	cl, cons, err := groupConsumer(c, topic, batch, func(_ context.Context, tps []client.TopicPartition) {
		tl.say("B: assigned %v", tps)
	})
	if err != nil {
		return err
	}
	defer cl.Close()
	defer cons.Close()
	proc.delay = 0 // the learner has seen enough batches
	var first int64 = -1
	batches := 0
	for {
		recs, err := cons.Poll(ctx)
		if err != nil {
			return fmt.Errorf("consumer B: %w", err)
		}
		if len(recs) == 0 {
			continue
		}
		if first < 0 {
			first = recs[0].Offset
			tl.emit(span(KindDelivery, first, first, false, "B: first batch starts at offset %d, the group's committed offset", first))
		}
		batches++
		lo, hi := recs[0].Offset, recs[len(recs)-1].Offset
		if proc.mode == commitBefore {
			if err := cons.Commit(ctx, recs...); err != nil {
				return fmt.Errorf("consumer B: commit: %w", err)
			}
			proc.process(ctx, "B", recs)
		} else {
			proc.process(ctx, "B", recs)
			if err := cons.Commit(ctx, recs...); err != nil {
				return fmt.Errorf("consumer B: commit: %w", err)
			}
		}
		tl.emit(span(KindDelivery, lo, hi, true, "B: processed offsets %d-%d", lo, hi))
		tl.emit(span(KindOffset, hi+1, hi+1, true, "B: committed offset %d", hi+1))
		if hi >= end-1 {
			tl.say("B: processed offsets %d-%d in %d batches, committed %d; leaves the group", first, hi, batches, hi+1)
			return nil
		}
	}
}

// startCrashScenario starts what the consumer-crash scenarios share: the
// lab cluster, topic with n orders acked with acks=all (recorded in ck),
// the batch size, and the batch in which the first member crashes (at
// least one batch is finished first; -1 in manual mode, where the learner
// chooses). The caller closes the cluster.
func startCrashScenario(ctx context.Context, r *Run, topic string) (c *cluster, ck *check.Checker, n, batch, crashBatch int, err error) {
	n, batch = max(r.sizes.Group, 8), max(r.sizes.Batch, 2)
	batches := (n + batch - 1) / batch
	crashBatch = 2 + r.rng.IntN(max(batches/2-1, 1))
	if r.manual {
		crashBatch = -1
	}
	if c, err = startCluster(ctx, r); err != nil {
		return nil, nil, 0, 0, 0, err
	}
	ck = check.New()
	if err = c.createTopic(ctx, topic); err == nil {
		err = fillTopic(ctx, c.admin, ck, topic, n)
	}
	if err != nil {
		c.close()
		return nil, nil, 0, 0, 0, err
	}
	return c, ck, n, batch, crashBatch, nil
}
