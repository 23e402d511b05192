package main

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
// seeded batch (its client is closed: no commit, no LeaveGroup, its
// heartbeats stop); consumer B joins, gets the partition once A's session
// has expired, and starts at the group's committed offset. Where A
// committed relative to its processing decides what is lost or repeated.

// groupMode is how the consumers order processing and committing.
type groupMode int

const (
	commitBefore    groupMode = iota // commit the batch, then process it
	commitAfter                      // process the batch, then commit it
	idempotentApply                  // as commitAfter; processing skips ids already applied
)

const (
	demoGroup          = "billing"
	demoSessionTimeout = time.Second
)

// processor is the application: it "processes" records (the checker
// counts them as delivered) and applies their effects. In idempotent
// mode the effects go through a set of applied message ids: the
// application's database, which outlives the consumers. Used by one
// consumer at a time.
type processor struct {
	mode    groupMode
	ck      *check.Checker
	applied map[string]bool // the "database": message ids applied (idempotent mode)
	effects int             // side effects performed
	skipped int             // deliveries not applied: id already in applied
}

func (p *processor) process(recs []client.Record) {
	for _, r := range recs {
		p.ck.Delivered(check.Delivery{Group: demoGroup, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Value: r.Value})
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

func runGroup(ctx context.Context, d *demoRun, mode groupMode) ([]demoRow, error) {
	const topic = "orders"
	tl, n, batch := d.tl, max(d.sizes.Group, 8), max(d.sizes.Batch, 2)
	batches := (n + batch - 1) / batch
	crashBatch := 2 + d.rng.IntN(max(batches/2-1, 1)) // A finishes at least one batch first
	c, err := startDemo(ctx, tl)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if err := c.createTopic(ctx, topic); err != nil {
		return nil, err
	}
	ck := check.New()
	if err := fillTopic(ctx, c.admin, ck, topic, n); err != nil {
		return nil, err
	}
	rep := ck.Report()
	tl.say("producer: %d orders sent with acks=all, %d acked (offsets 0-%d); each order's key is its id", rep.Sent, rep.Acked, n-1)
	how := map[groupMode]string{
		commitBefore:    "commit each batch, then process it",
		commitAfter:     "process each batch, then commit it",
		idempotentApply: "process each batch, then commit it; processing applies an order only if its id is not yet in the database",
	}[mode]
	tl.say("group %q: consumers poll batches of up to %d and %s; session timeout %v", demoGroup, batch, how, demoSessionTimeout)
	tl.say("plan (seeded): consumer A crashes in batch %d", crashBatch)

	proc := &processor{mode: mode, ck: ck, applied: map[string]bool{}}
	gctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	crash, err := runVictim(gctx, tl, c, proc, topic, batch, crashBatch, d.rng)
	if err != nil {
		return nil, err
	}
	if err := runSurvivor(gctx, tl, c, proc, topic, batch, int64(n)); err != nil {
		return nil, err
	}

	rep = ck.Report()
	g := groupOf(rep, demoGroup)
	switch {
	case g.LostCount > 0:
		tl.say("check: LOST %d orders: A committed offset %d, processed up to %d and crashed; B started at the commit, so nobody processed %d-%d: at-most-once",
			g.LostCount, crash.last+1, crash.processed, crash.processed+1, crash.last)
	case g.DuplicateCount > 0 && mode == idempotentApply:
		tl.say("check: %d orders delivered twice (A processed %d-%d and crashed before committing; B started at the last commit), but the database skipped the %d deliveries whose id it had applied: %d effects for %d distinct orders: effectively-once",
			g.DuplicateCount, crash.first, crash.last, proc.skipped, proc.effects, g.Distinct)
	case g.DuplicateCount > 0:
		tl.say("check: nothing lost, but %d orders processed twice: A processed %d-%d and crashed before committing; B started at the last commit. %d effects for %d distinct orders: at-least-once",
			g.DuplicateCount, crash.first, crash.last, proc.effects, g.Distinct)
	default:
		tl.say("check: nothing lost, nothing processed twice")
	}
	return []demoRow{{scenario: scenarioOfMode(mode), sent: rep.Sent, acked: rep.Acked, delivered: g.Distinct,
		lost: g.LostCount, duplicated: g.DuplicateCount, effects: proc.effects}}, nil
}

// crashPoint is where consumer A crashed: in the batch of offsets
// first-last, having processed up to processed.
type crashPoint struct{ first, last, processed int64 }

func scenarioOfMode(m groupMode) string {
	return [...]string{"commit-before-processing", "commit-after-processing", "idempotent-processing"}[m]
}

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
// the demo group on it. Close the client to crash the consumer.
func groupConsumer(c *demoCluster, topic string, batch int, onAssigned func(context.Context, []client.TopicPartition)) (*client.Client, *client.Consumer, error) {
	cl, err := c.newClient(nil)
	if err != nil {
		return nil, nil, err
	}
	cons, err := cl.Consumer(client.ConsumerConfig{Group: demoGroup, Topics: []string{topic}, ManualCommit: true,
		MaxPollRecords: batch, SessionTimeout: demoSessionTimeout, HeartbeatInterval: 100 * time.Millisecond,
		MaxPollInterval: 10 * time.Second, FetchMaxWait: 100 * time.Millisecond, OnAssigned: onAssigned})
	if err != nil {
		cl.Close()
		return nil, nil, err
	}
	return cl, cons, nil
}

// runVictim runs consumer A until it crashes in batch crashBatch (the
// first batch from then on with at least two records).
func runVictim(ctx context.Context, tl *timeline, c *demoCluster, proc *processor, topic string, batch, crashBatch int, rng *rand.Rand) (crashPoint, error) {
	cl, cons, err := groupConsumer(c, topic, batch, func(_ context.Context, tps []client.TopicPartition) {
		tl.say("A: joined group %q, assigned %v", demoGroup, tps)
	})
	if err != nil {
		return crashPoint{}, err
	}
	defer cl.Close()
	for b := 1; ; b++ {
		recs, err := cons.Poll(ctx)
		if err != nil {
			return crashPoint{}, fmt.Errorf("consumer A: %w", err)
		}
		if len(recs) == 0 {
			b--
			continue
		}
		first, last := recs[0].Offset, recs[len(recs)-1].Offset
		crash := b >= crashBatch && len(recs) >= 2
		if proc.mode == commitBefore {
			if err := cons.Commit(ctx, recs...); err != nil {
				return crashPoint{}, fmt.Errorf("consumer A: commit: %w", err)
			}
			if crash {
				k := 1 + rng.IntN(len(recs)-1)
				proc.process(recs[:k])
				cl.Close()
				tl.say("A: batch %d (offsets %d-%d): committed offset %d, processed %d-%d, then CRASHED (client closed: no commit, no leave)",
					b, first, last, last+1, first, recs[k-1].Offset)
				return crashPoint{first, last, recs[k-1].Offset}, nil
			}
			proc.process(recs)
			tl.say("A: batch %d (offsets %d-%d): committed offset %d, then processed it", b, first, last, last+1)
			continue
		}
		proc.process(recs)
		if crash {
			cl.Close()
			tl.say("A: batch %d (offsets %d-%d): processed, then CRASHED before committing (client closed: no commit, no leave)", b, first, last)
			return crashPoint{first, last, last}, nil
		}
		if err := cons.Commit(ctx, recs...); err != nil {
			return crashPoint{}, fmt.Errorf("consumer A: commit: %w", err)
		}
		tl.say("A: batch %d (offsets %d-%d): processed, then committed offset %d", b, first, last, last+1)
	}
}

// runSurvivor runs consumer B, with the same discipline as A and no
// crash, until it has processed the record at offset end-1; then it
// leaves the group.
func runSurvivor(ctx context.Context, tl *timeline, c *demoCluster, proc *processor, topic string, batch int, end int64) error {
	tl.say("B: starts and joins group %q; the coordinator waits for A until A's session expires", demoGroup)
	cl, cons, err := groupConsumer(c, topic, batch, func(_ context.Context, tps []client.TopicPartition) {
		tl.say("B: assigned %v", tps)
	})
	if err != nil {
		return err
	}
	defer cl.Close()
	defer cons.Close()
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
			tl.say("B: first batch starts at offset %d, the group's committed offset", first)
		}
		batches++
		if proc.mode == commitBefore {
			if err := cons.Commit(ctx, recs...); err != nil {
				return fmt.Errorf("consumer B: commit: %w", err)
			}
			proc.process(recs)
		} else {
			proc.process(recs)
			if err := cons.Commit(ctx, recs...); err != nil {
				return fmt.Errorf("consumer B: commit: %w", err)
			}
		}
		if last := recs[len(recs)-1].Offset; last >= end-1 {
			tl.say("B: processed offsets %d-%d in %d batches, committed %d; leaves the group", first, last, batches, last+1)
			return nil
		}
	}
}
