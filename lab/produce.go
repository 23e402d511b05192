package lab

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
)

// The leader scenarios: a producer sends bursts at a steady pace; right
// after the seeded burst is acknowledged (for acks=0: written), or when
// the caller injects the fault, the leader is struck; the producer
// carries on (its retries find the new leader); then a reader reads the
// partition and the checker counts.
//
// faultKill kills the leader. faultAlone kills the followers first: the
// leader goes on alone for a few bursts, which acks=1 acknowledges and
// acks=all cannot; then the leader is killed and the followers restart on
// their data and elect a leader among themselves, without what only the
// old leader had. faultCut cuts the leader's Raft links: it takes writes
// until it steps down, the others elect a leader without what only it
// had, and once the links are back it rejoins as a follower and drops
// those entries.

// ackLevel is the producer's acks setting in a leader scenario.
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

// faultHow is how a leader scenario strikes.
type faultHow int

const (
	faultKill  faultHow = iota // kill the leader
	faultAlone                 // kill the followers, then the leader; restart the followers
	faultCut                   // cut the leader's Raft links, restore them once another leads
)

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

// killPlan is when a leader scenario strikes.
type killPlan struct {
	level     ackLevel
	how       faultHow
	manual    bool // strike when the caller injects the fault, not at killAfter
	killAfter int  // the burst (0-based) right after whose answers the strike comes
	aloneFor  int  // faultAlone: bursts the leader goes on alone
}

// struck is what the strike did.
type struck struct {
	at     time.Time // when the leader died or was cut off; zero: no strike
	leader string    // its name
}

func runLeaderFault(ctx context.Context, r *Run, level ackLevel, how faultHow) (Result, error) {
	const topic = "demo"
	tl, sz := r.tl, r.sizes
	bursts := max(sz.Messages/sz.Burst, 8)
	n := bursts * sz.Burst
	plan := killPlan{level: level, how: how, manual: r.manual, killAfter: bursts/4 + r.rng.IntN(bursts/2), aloneFor: 3 + r.rng.IntN(6)}

	c, err := startCluster(ctx, r)
	if err != nil {
		return Result{}, err
	}
	defer c.close()
	if err := c.createTopic(ctx, topic); err != nil {
		return Result{}, err
	}
	pcl, err := c.newClient(nil)
	if err != nil {
		return Result{}, err
	}
	defer pcl.Close()
	p := pcl.Producer(client.ProducerConfig{Acks: level.client(), Idempotence: client.IdempotenceOff,
		Retries: 20, RetryBackoffMax: 500 * time.Millisecond})
	defer p.Close()
	tl.say("producer: acks=%s, idempotence off, up to 20 retries; %d messages in %d bursts of %d, one burst every %v",
		level, n, bursts, sz.Burst, sz.Pace)
	sayPlan(tl, plan, sz)

	// marks[b] is closed once every message of burst b has its answer.
	marks := map[int]chan struct{}{}
	if !plan.manual {
		marks[plan.killAfter] = make(chan struct{})
		if how == faultAlone {
			marks[plan.killAfter+plan.aloneFor] = make(chan struct{})
		}
	}
	var (
		mu      sync.Mutex // guards results and pending
		results = make([]sendResult, n)
		pending = make([]int, bursts) // messages of burst b not yet answered
	)
	for b := range pending {
		pending[b] = sz.Burst
	}
	stop := make(chan struct{}) // closed when the stream is over
	killerDone := make(chan struct{})
	var hit struck // written before killerDone closes
	go func() {
		defer close(killerDone)
		hit = strike(c, tl, plan, marks, r.faults, stop)
	}()
	stopped := false
	stopKiller := func() {
		if !stopped {
			stopped = true
			close(stop)
			<-killerDone
		}
	}
	defer stopKiller()

	tick := time.NewTicker(sz.Pace)
	defer tick.Stop()
	for b := range bursts {
		if b > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return Result{}, ctx.Err()
			}
		}
		first := b * sz.Burst
		tl.emit(span(KindProduce, int64(first), int64(first+sz.Burst-1), true, "burst %d sent: messages %d-%d", b+1, first, first+sz.Burst-1))
		for j := range sz.Burst {
			i := first + j
			p.ProduceAsync(client.Message{Topic: topic, Value: check.Value("m", i)}, func(res client.Result, err error) {
				mu.Lock()
				results[i] = sendResult{res: res, err: err, at: time.Now()}
				pending[b]--
				var summary string
				if pending[b] == 0 {
					summary = burstSummary(results[first:first+sz.Burst], level)
				}
				mark, marked := marks[b]
				mu.Unlock()
				if summary != "" {
					tl.emit(span(KindAck, int64(first), int64(first+sz.Burst-1), !marked, "burst %d answered: %s", b+1, summary))
					if marked {
						close(mark)
					}
				}
			})
		}
	}
	tl.say("all %d messages handed to the producer", n)
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		return Result{}, err
	}
	if plan.manual {
		stopKiller() // a strike under way completes; none starts now
	} else {
		<-killerDone
	}
	if hit.at.IsZero() && !plan.manual {
		return Result{}, fmt.Errorf("the leader was not struck")
	}

	ck := check.New()
	outcomes := map[check.Outcome]int{}
	for i, res := range results {
		o := check.OutcomeOf(res.err)
		if level == ackLevel0 && res.err == nil {
			o = check.Unacked
		}
		outcomes[o]++
		ck.Produced(check.Attempt{Stream: "p", Seq: int64(i), Topic: topic, Partition: 0, Offset: res.res.Offset,
			Value: check.Value("m", i), Outcome: o})
	}
	summary := fmt.Sprintf("%d acked", outcomes[check.Acked])
	if level == ackLevel0 {
		summary = fmt.Sprintf("%d written (no acknowledgement asked)", outcomes[check.Unacked])
	}
	tl.sayKind(KindAck, "producer done: %s, %d failed, %d with unknown outcome", summary, outcomes[check.Failed], outcomes[check.Unknown])
	narrateFailures(tl, results)

	// The barrier goes on pcl, whose connection carried the stream: the
	// leader takes the requests of one connection in order.
	bp := pcl.Producer(client.ProducerConfig{Acks: client.AcksAll, Idempotence: client.IdempotenceOff, Retries: 20})
	defer bp.Close()
	if _, err := bp.Produce(fctx, client.Message{Topic: topic, Value: []byte(barrierValue)}); err != nil {
		return Result{}, fmt.Errorf("barrier: %w", err)
	}
	offsets, err := readUntilBarrier(fctx, c.admin, topic, ck)
	if err != nil {
		return Result{}, err
	}
	rep := ck.Report()
	g := groupOf(rep, "reader")
	tl.emit(span(KindDelivery, 0, int64(g.Delivered)-1, false, "consumer read the partition from the start: %d records, %d distinct messages", g.Delivered, g.Distinct))
	name := r.Scenario.Name
	lost := narrateLoss(tl, plan, results, offsets, hit)
	dups := narrateDuplicates(tl, n, offsets)
	row := Row{Scenario: name, Sent: rep.Sent, Acked: rep.Acked, Delivered: g.Distinct, Lost: len(lost), Duplicated: g.DuplicateCount, Effects: -1}
	if level == ackLevel0 {
		row.Acked = -1
	}
	res := Result{Rows: []Row{row}}
	for _, i := range lost {
		res.Ledger = append(res.Ledger, Entry{Row: name, Message: string(check.Value("m", i)), Fate: FateLost,
			Story: lostStory(tl, plan, results[i], hit)})
	}
	for _, i := range dups {
		v := string(check.Value("m", i))
		res.Ledger = append(res.Ledger, Entry{Row: name, Message: v, Fate: FateDuplicated, Offsets: offsets[v],
			Story: dupStory(results[i], offsets[v])})
	}
	return res, nil
}

// sayPlan says when the scenario will strike.
func sayPlan(tl *timeline, plan killPlan, sz Sizes) {
	if plan.manual {
		what := map[faultHow]string{
			faultKill:  "kill the leader",
			faultAlone: "kill both followers, then the leader",
			faultCut:   "cut the leader off from its followers",
		}[plan.how]
		tl.say("plan: %s when you press the button (the stream lasts about %v)", what, time.Duration(max(sz.Messages/sz.Burst, 8))*sz.Pace)
		return
	}
	switch plan.how {
	case faultAlone:
		tl.say("plan (seeded): right after burst %d is %s, kill both followers; kill the leader too once burst %d is %s (or 50ms later); then restart the followers",
			plan.killAfter+1, plan.level.verb(), plan.killAfter+plan.aloneFor+1, plan.level.verb())
	case faultCut:
		tl.say("plan (seeded): cut the leader off from its followers right after burst %d (messages %d-%d) is %s; reconnect it once another node leads",
			plan.killAfter+1, plan.killAfter*sz.Burst, (plan.killAfter+1)*sz.Burst-1, plan.level.verb())
	default:
		tl.say("plan (seeded): kill the leader right after burst %d (messages %d-%d) is %s", plan.killAfter+1,
			plan.killAfter*sz.Burst, (plan.killAfter+1)*sz.Burst-1, plan.level.verb())
	}
}

// strike strikes as plan says, when marks say so (or the caller injects
// the fault, in a manual plan), and returns when and whom it struck (zero
// if it did not: stop closed first, or no leader).
func strike(c *cluster, tl *timeline, plan killPlan, marks map[int]chan struct{}, faults <-chan Fault, stop <-chan struct{}) struck {
	var start <-chan struct{} = marks[plan.killAfter]
	if plan.manual {
		start = nil
	}
	select {
	case <-start:
	case <-faults:
	case <-stop:
		return struck{}
	}
	leader := c.Leader()
	if leader < 0 {
		tl.say("no leader to strike right now (an election is under way); striking as soon as one is elected")
		if leader = waitLeaderOrStop(c, stop); leader < 0 {
			tl.sayKind(KindFault, "no leader elected within %v: nothing struck", labWait)
			return struck{}
		}
	}
	switch plan.how {
	case faultCut:
		return cutOff(c, tl, leader, stop)
	case faultAlone:
		killFollowers(c, tl, plan, leader, marks, stop)
	}
	at := time.Now()
	c.Kill(leader)
	killed := time.Now()
	tl.emit(Event{Kind: KindFault, Node: c.name(leader), Text: fmt.Sprintf("%s (the leader) killed: connections cut, Raft stopped, no hand-off (Close took %v)",
		c.name(leader), killed.Sub(at).Round(time.Millisecond))})
	if plan.how == faultAlone {
		var back []string
		for i := range c.Len() {
			if i == leader {
				continue
			}
			if err := c.Restart(i); err != nil {
				tl.say("restart %s: %v", c.name(i), err)
				return struck{killed, c.name(leader)}
			}
			back = append(back, c.name(i))
		}
		tl.say("%s and %s restarted on their data; %s stays down", back[0], back[1], c.name(leader))
	}
	return struck{killed, c.name(leader)}
}

// waitLeaderOrStop polls every 5ms until a node is the ready leader and
// returns it; -1 if stop closes or labWait passes first.
func waitLeaderOrStop(c *cluster, stop <-chan struct{}) int {
	deadline := time.NewTimer(labWait)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if l := c.Leader(); l >= 0 {
			return l
		}
		select {
		case <-stop:
			return -1
		case <-deadline.C:
			return -1
		case <-tick.C:
		}
	}
}

// killFollowers kills every node but leader, then waits until the burst
// aloneFor bursts after the strike is answered (or 50ms, or stop).
func killFollowers(c *cluster, tl *timeline, plan killPlan, leader int, marks map[int]chan struct{}, stop <-chan struct{}) {
	at := time.Now()
	var followers []string
	var wg sync.WaitGroup
	for i := range c.Len() {
		if i != leader {
			followers = append(followers, c.name(i))
			wg.Add(1)
			go func() { defer wg.Done(); c.Kill(i) }() // distinct nodes: safe side by side
		}
	}
	wg.Wait()
	why := "it still writes to its own log, which is all acks=1 waits for, but nothing can commit"
	if plan.level == ackLevelAll {
		why = "it still writes to its own log, but nothing can commit, and acks=all waits for the commit"
	}
	tl.emit(Event{Kind: KindFault, Node: c.name(leader), Text: fmt.Sprintf("%s and %s (the followers) killed (Close took %v): %s is alone; %s",
		followers[0], followers[1], time.Since(at).Round(time.Millisecond), c.name(leader), why)})
	t := time.NewTimer(50 * time.Millisecond) // well within the leader's lease: it still leads
	defer t.Stop()
	select {
	case <-marks[plan.killAfter+plan.aloneFor]: // nil in a manual plan: the timer decides
	case <-t.C:
	case <-stop:
	}
}

// cutOff cuts node leader's Raft links, waits until another node leads
// (or labWait, or stop), then restores them.
func cutOff(c *cluster, tl *timeline, leader int, stop <-chan struct{}) struck {
	c.CutRaft(leader) // the lab's cluster has Options.Faults: no error
	at := time.Now()
	name := c.name(leader)
	tl.emit(Event{Kind: KindFault, Node: name, Text: fmt.Sprintf(
		"%s (the leader) cut off from its followers: clients still reach it, Raft does not; it writes to its own log, but nothing it takes in can commit", name)})
	deadline := time.NewTimer(labWait)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-stop:
			break wait
		case <-deadline.C:
			break wait
		case <-tick.C:
		}
		if l := c.Leader(); l >= 0 && l != leader {
			break
		}
	}
	// Let the producer find the new leader before the old one returns.
	settle := time.NewTimer(200 * time.Millisecond)
	select {
	case <-settle.C:
	case <-stop:
	}
	settle.Stop()
	c.Heal()
	tl.emit(Event{Kind: KindFault, Node: name, Text: fmt.Sprintf(
		"%s's links restored: it rejoins as a follower, and the entries only it had are cut from its log in favour of the new leader's", name)})
	return struck{at, name}
}

// narrateFailures says why messages failed, if some did.
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
