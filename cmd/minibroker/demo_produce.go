package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
)

// The leader-killed scenarios: a producer sends bursts at a steady pace;
// right after the seeded burst is acknowledged (for acks=0: written), the
// leader is killed; the producer carries on (its retries find the new
// leader); then a reader reads the partition and the checker counts.
//
// The leader-alone variants kill the followers first: the leader goes on
// alone for a few bursts, which acks=1 acknowledges and acks=all cannot;
// then the leader is killed and the followers restart on their data and
// elect a leader among themselves, without what only the old leader had.

// ackLevel is the producer's acks setting in a leader-killed scenario.
type ackLevel int

const (
	ackLevel0 ackLevel = iota
	ackLevel1
	ackLevelAll
)

func (l ackLevel) String() string { return [...]string{"0", "1", "all"}[l] }

func (l ackLevel) client() client.Acks {
	return [...]client.Acks{client.AcksNone, client.AcksLeader, client.AcksAll}[l]
}

// verb is what the producer learns of a message that went well.
func (l ackLevel) verb() string {
	if l == ackLevel0 {
		return "written"
	}
	return "acked"
}

// sendResult is what the producer reported for one message.
type sendResult struct {
	res client.Result
	err error
	at  time.Time // when the callback ran
}

// barrierValue ends the stream: produced with acks=all on the producer's
// connection after everything else, it commits after all of it, so a
// reader that has read it has seen everything the cluster kept.
const barrierValue = "barrier"

// killPlan is when a leader-killed scenario strikes.
type killPlan struct {
	level ackLevel
	// alone: first the followers are killed and the leader carries on
	// alone for aloneFor bursts, then it is killed and the followers
	// restart. Otherwise the leader is killed and that is all.
	alone     bool
	killAfter int // the burst (0-based) right after whose answers the first kill comes
	aloneFor  int
}

// name is the scenario's name: "acks1-leader-killed", "acksall-leader-alone".
func (k killPlan) name() string {
	if k.alone {
		return "acks" + k.level.String() + "-leader-alone"
	}
	return "acks" + k.level.String() + "-leader-killed"
}

func runLeaderKilled(ctx context.Context, d *demoRun, level ackLevel, alone bool) ([]demoRow, error) {
	const topic = "demo"
	tl, sz := d.tl, d.sizes
	bursts := max(sz.Messages/sz.Burst, 8)
	n := bursts * sz.Burst
	plan := killPlan{level: level, alone: alone, killAfter: bursts/4 + d.rng.IntN(bursts/2), aloneFor: 3 + d.rng.IntN(6)}

	c, err := startDemo(ctx, tl)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if err := c.createTopic(ctx, topic); err != nil {
		return nil, err
	}
	pcl, err := c.newClient(nil)
	if err != nil {
		return nil, err
	}
	defer pcl.Close()
	p := pcl.Producer(client.ProducerConfig{Acks: level.client(), Idempotence: client.IdempotenceOff,
		Retries: 20, RetryBackoffMax: 500 * time.Millisecond})
	defer p.Close()
	tl.say("producer: acks=%s, idempotence off, up to 20 retries; %d messages in %d bursts of %d, one burst every %v",
		level, n, bursts, sz.Burst, sz.Pace)
	if alone {
		tl.say("plan (seeded): right after burst %d is %s, kill both followers; kill the leader too once burst %d is %s (or 50ms later); then restart the followers",
			plan.killAfter+1, level.verb(), plan.killAfter+plan.aloneFor+1, level.verb())
	} else {
		tl.say("plan (seeded): kill the leader right after burst %d (messages %d-%d) is %s", plan.killAfter+1,
			plan.killAfter*sz.Burst, (plan.killAfter+1)*sz.Burst-1, level.verb())
	}

	// marks[b] is closed once every message of burst b has its answer.
	marks := map[int]chan struct{}{plan.killAfter: make(chan struct{})}
	if alone {
		marks[plan.killAfter+plan.aloneFor] = make(chan struct{})
	}
	var (
		mu      sync.Mutex // guards results and pending
		results = make([]sendResult, n)
		pending = make([]int, bursts) // messages of burst b not yet answered
	)
	for b := range pending {
		pending[b] = sz.Burst
	}
	stop := make(chan struct{}) // closed when the scenario returns
	killerDone := make(chan struct{})
	var killAt time.Time // the leader's death; written before killerDone closes
	go func() {
		defer close(killerDone)
		killAt = strike(c, tl, plan, marks, stop)
	}()
	defer func() { close(stop); <-killerDone }()

	tick := time.NewTicker(sz.Pace)
	defer tick.Stop()
	for b := range bursts {
		if b > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		for j := range sz.Burst {
			i := b*sz.Burst + j
			p.ProduceAsync(client.Message{Topic: topic, Value: check.Value("m", i)}, func(r client.Result, err error) {
				mu.Lock()
				results[i] = sendResult{res: r, err: err, at: time.Now()}
				pending[b]--
				mark, marked := marks[b]
				summary := ""
				if marked && pending[b] == 0 {
					summary = burstSummary(results[b*sz.Burst:(b+1)*sz.Burst], level)
				}
				mu.Unlock()
				if summary != "" {
					tl.say("burst %d answered: %s", b+1, summary)
					close(mark)
				}
			})
		}
	}
	tl.say("all %d messages handed to the producer", n)
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		return nil, err
	}
	<-killerDone
	if killAt.IsZero() {
		return nil, fmt.Errorf("the leader was not killed")
	}

	ck := check.New()
	outcomes := map[check.Outcome]int{}
	for i, r := range results {
		o := check.OutcomeOf(r.err)
		if level == ackLevel0 && r.err == nil {
			o = check.Unacked
		}
		outcomes[o]++
		ck.Produced(check.Attempt{Stream: "p", Seq: int64(i), Topic: topic, Partition: 0, Offset: r.res.Offset,
			Value: check.Value("m", i), Outcome: o})
	}
	summary := fmt.Sprintf("%d acked", outcomes[check.Acked])
	if level == ackLevel0 {
		summary = fmt.Sprintf("%d written (no acknowledgement asked)", outcomes[check.Unacked])
	}
	tl.say("producer done: %s, %d failed, %d with unknown outcome", summary, outcomes[check.Failed], outcomes[check.Unknown])
	narrateFailures(tl, results)

	// The barrier goes on pcl, whose connection carried the stream: the
	// leader takes the requests of one connection in order.
	bp := pcl.Producer(client.ProducerConfig{Acks: client.AcksAll, Idempotence: client.IdempotenceOff, Retries: 20})
	defer bp.Close()
	if _, err := bp.Produce(fctx, client.Message{Topic: topic, Value: []byte(barrierValue)}); err != nil {
		return nil, fmt.Errorf("barrier: %w", err)
	}
	offsets, err := readUntilBarrier(fctx, c.admin, topic, ck)
	if err != nil {
		return nil, err
	}
	rep := ck.Report()
	g := groupOf(rep, "reader")
	tl.say("consumer read the partition from the start: %d records, %d distinct messages", g.Delivered, g.Distinct)
	lost := narrateLoss(tl, plan, results, offsets, killAt)
	narrateDuplicates(tl, n, offsets)
	row := demoRow{scenario: plan.name(), sent: rep.Sent, acked: rep.Acked,
		delivered: g.Distinct, lost: lost, duplicated: g.DuplicateCount, effects: -1}
	if level == ackLevel0 {
		row.acked = -1
	}
	return []demoRow{row}, nil
}

// strike kills nodes as plan says, when marks say so, and returns when it
// killed the leader (zero if it did not: stop closed first, or no
// leader). It prints what it does on tl.
func strike(c *demoCluster, tl *timeline, plan killPlan, marks map[int]chan struct{}, stop <-chan struct{}) time.Time {
	select {
	case <-marks[plan.killAfter]:
	case <-stop:
		return time.Time{}
	}
	leader := c.Leader()
	if leader < 0 {
		tl.say("no leader to kill right now (an election is under way)")
		return time.Time{}
	}
	var followers []int
	if plan.alone {
		at := time.Now()
		var wg sync.WaitGroup
		for i := range c.Len() {
			if i != leader {
				followers = append(followers, i)
				wg.Add(1)
				go func() { defer wg.Done(); c.Kill(i) }() // distinct nodes: safe side by side
			}
		}
		wg.Wait()
		why := "it still writes to its own log, which is all acks=1 waits for, but nothing can commit"
		if plan.level == ackLevelAll {
			why = "it still writes to its own log, but nothing can commit, and acks=all waits for the commit"
		}
		tl.say("%s and %s (the followers) killed (Close took %v): %s is alone; %s",
			c.name(followers[0]), c.name(followers[1]), time.Since(at).Round(time.Millisecond), c.name(leader), why)
		t := time.NewTimer(50 * time.Millisecond) // well within the leader's lease: it still leads
		select {
		case <-marks[plan.killAfter+plan.aloneFor]:
		case <-t.C:
		case <-stop:
		}
		t.Stop()
	}
	at := time.Now()
	c.Kill(leader)
	killed := time.Now()
	tl.say("%s (the leader) killed: connections cut, Raft stopped, no hand-off (Close took %v)",
		c.name(leader), killed.Sub(at).Round(time.Millisecond))
	for _, i := range followers {
		if err := c.Restart(i); err != nil {
			tl.say("restart %s: %v", c.name(i), err)
			return killed
		}
	}
	if len(followers) > 0 {
		tl.say("%s and %s restarted on their data; %s stays down", c.name(followers[0]), c.name(followers[1]), c.name(leader))
	}
	return killed
}

// narrateFailures prints why messages failed, if some did.
func narrateFailures(tl *timeline, results []sendResult) {
	unknownTopic, other := 0, error(nil)
	for _, r := range results {
		switch {
		case errors.Is(r.err, client.ErrUnknownTopic):
			unknownTopic++
		case r.err != nil && other == nil:
			other = r.err
		}
	}
	if unknownTopic > 0 {
		tl.say("  %d failed with \"unknown topic\": restarted nodes answer so until they have replayed their log, and the producer does not retry it", unknownTopic)
	}
	if other != nil {
		tl.say("  other error (first seen): %v", other)
	}
}

// burstSummary says how a burst's messages fared: "4 acked".
func burstSummary(rs []sendResult, level ackLevel) string {
	ok := 0
	for _, r := range rs {
		if r.err == nil {
			ok++
		}
	}
	if ok == len(rs) {
		return fmt.Sprintf("%d %s", ok, level.verb())
	}
	return fmt.Sprintf("%d %s, %d failed", ok, level.verb(), len(rs)-ok)
}

// narrateLoss prints which messages the producer counted as sent (acked;
// written, for acks=0) are missing, and when they were answered, and
// returns how many.
func narrateLoss(tl *timeline, plan killPlan, results []sendResult, offsets map[string][]int64, killAt time.Time) int {
	var lost []int
	var first, last time.Time
	for i, r := range results {
		if r.err == nil && len(offsets[string(check.Value("m", i))]) == 0 {
			if len(lost) == 0 {
				first, last = r.at, r.at
			}
			first, last = minTime(first, r.at), maxTime(last, r.at)
			lost = append(lost, i)
		}
	}
	verb := plan.level.verb()
	switch {
	case len(lost) > 0:
		when := "at " + tl.rel(first)
		if last.Sub(first) >= time.Millisecond {
			when = "between " + tl.rel(first) + " and " + tl.rel(last)
		}
		tl.say("LOST %d messages the producer counted as %s: %s, %s %s; the leader was killed at %s",
			len(lost), verb, indexRanges(lost), verb, when, tl.rel(killAt))
	case plan.level == ackLevel1 && !plan.alone:
		tl.say("nothing acked is missing: the leader sends entries to its followers as soon as it has written them, so they had every acked message before it died; acks=1 loses what the followers have not received (see acks1-leader-alone)")
	default:
		tl.say("nothing the producer counted as %s is missing", verb)
	}
	return len(lost)
}

// narrateDuplicates prints the messages stored more than once.
func narrateDuplicates(tl *timeline, n int, offsets map[string][]int64) {
	dups := duplicatedIndexes(offsets, "m", n, -1)
	if len(dups) == 0 {
		return
	}
	v := string(check.Value("m", dups[0]))
	tl.say("DUPLICATED %d messages: %s (e.g. %s at offsets %v): their batches were in flight when the leader changed, so their answers never came (outcome unknown); the producer retried, and the first attempt had been stored",
		len(dups), indexRanges(dups), v, offsets[v])
}

// readUntilBarrier reads partition 0 of topic from the start until the
// barrier record (see readAsReader).
func readUntilBarrier(ctx context.Context, cl *client.Client, topic string, ck *check.Checker) (map[string][]int64, error) {
	return readAsReader(ctx, cl, topic, ck, -1, func(rec client.Record) bool { return string(rec.Value) == barrierValue })
}

// readAsReader reads partition 0 of topic from the start, records every
// record in ck as delivered to group "reader", and returns each value's
// offsets. It stops before a record stop accepts (nil: none), or once it
// has read up to offset end (negative: no bound).
func readAsReader(ctx context.Context, cl *client.Client, topic string, ck *check.Checker, end int64, stop func(client.Record) bool) (map[string][]int64, error) {
	r := cl.Reader(client.ReaderConfig{Topic: topic, Offset: client.StartEarliest, MaxWait: 100 * time.Millisecond})
	offsets := map[string][]int64{}
	for end < 0 || r.Offset() < end {
		recs, err := r.Fetch(ctx)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", topic, err)
		}
		for _, rec := range recs {
			if stop != nil && stop(rec) {
				return offsets, nil
			}
			ck.Delivered(check.Delivery{Group: "reader", Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Value: rec.Value})
			offsets[string(rec.Value)] = append(offsets[string(rec.Value)], rec.Offset)
		}
	}
	return offsets, nil
}

// duplicatedIndexes returns the indexes i < n, other than skip, whose
// value check.Value(stream, i) is stored more than once in offsets.
func duplicatedIndexes(offsets map[string][]int64, stream string, n, skip int) []int {
	var dups []int
	for i := range n {
		if i != skip && len(offsets[string(check.Value(stream, i))]) > 1 {
			dups = append(dups, i)
		}
	}
	return dups
}

// groupOf returns the report of group, or an empty one if it received
// nothing.
func groupOf(r check.Report, group string) check.GroupReport {
	for _, g := range r.Groups {
		if g.Group == group {
			return g
		}
	}
	return check.GroupReport{Group: group}
}

// indexRanges formats sorted message indexes as "m 3-7, 12".
func indexRanges(idx []int) string {
	var parts []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprint(idx[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", idx[i], idx[j]))
		}
		i = j + 1
	}
	if len(parts) > 6 {
		parts = append(parts[:6], fmt.Sprintf("… (%d ranges)", len(parts)))
	}
	return "messages " + strings.Join(parts, ", ")
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
