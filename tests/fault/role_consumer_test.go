package fault

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
)

// runConsumer is the consumer child: a group member with manual commits.
// Each Poll's records are written to stdout ("deliver") and then
// committed partition by partition ("commit", "fenced" or
// "commit_error"), so a record is always reported before its offset can
// be committed. Stdin commands: "hold" holds the next non-empty batch
// after writing it, before committing it, until "go"; "close" closes the
// consumer (leaving the group) and exits 0.
func runConsumer(js string) int {
	cfg, err := parseRoleConfig(js)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var out eventWriter
	fatal := func(err error) int {
		out.emit(event{Ev: "fatal", Err: err.Error()})
		fmt.Fprintln(os.Stderr, "consumer:", err)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cl, err := client.New(client.Config{Brokers: cfg.Brokers, DialTimeout: time.Second, RequestTimeout: 5 * time.Second, Logger: logger})
	if err != nil {
		return fatal(err)
	}
	defer cl.Close()
	var c *client.Consumer
	membership := func(ev string) func(context.Context, []client.TopicPartition) {
		return func(_ context.Context, tps []client.TopicPartition) {
			e := event{Ev: ev, Gen: c.Generation()}
			for _, tp := range tps {
				e.Parts = append(e.Parts, tp.Partition)
			}
			out.emit(e)
		}
	}
	c, err = cl.Consumer(client.ConsumerConfig{
		Group: cfg.Group, Topics: []string{cfg.Topic}, ManualCommit: true,
		SessionTimeout: cfg.SessionTimeout, HeartbeatInterval: cfg.HeartbeatInterval,
		MaxPollInterval: 20 * time.Second, FetchMaxWait: 100 * time.Millisecond, MaxPollRecords: cfg.MaxPollRecords,
		OnAssigned: membership("assigned"), OnRevoked: membership("revoked"), OnLost: membership("lost"),
	})
	if err != nil {
		return fatal(err)
	}
	var hold atomic.Bool
	release := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			switch sc.Text() {
			case "hold":
				hold.Store(true)
			case "go":
				select {
				case release <- struct{}{}:
				default:
				}
			case "close":
				if err := c.Close(); err != nil {
					fmt.Fprintln(os.Stderr, "consumer: close:", err)
				}
			}
		}
	}()
	fmt.Println("READY")
	ctx := context.Background()
	for {
		recs, err := c.Poll(ctx)
		if errors.Is(err, client.ErrClosed) {
			out.emit(event{Ev: "closed"})
			return 0
		}
		if err != nil {
			return fatal(err)
		}
		byPart := map[int32][]client.Record{}
		var order []int32
		for _, r := range recs {
			out.emit(event{Ev: "deliver", P: r.Partition, O: r.Offset, V: string(r.Value)})
			if _, ok := byPart[r.Partition]; !ok {
				order = append(order, r.Partition)
			}
			byPart[r.Partition] = append(byPart[r.Partition], r)
		}
		if len(recs) > 0 && hold.CompareAndSwap(true, false) {
			out.emit(event{Ev: "hold"})
			<-release
		}
		for _, p := range order {
			rs := byPart[p]
			off := rs[len(rs)-1].Offset + 1
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := c.Commit(cctx, rs...)
			cancel()
			switch {
			case err == nil:
				out.emit(event{Ev: "commit", P: p, O: off})
			case errors.Is(err, client.ErrCommitFenced):
				out.emit(event{Ev: "fenced", P: p, O: off, Err: err.Error()})
			case errors.Is(err, client.ErrClosed):
				out.emit(event{Ev: "closed"})
				return 0
			default:
				out.emit(event{Ev: "commit_error", P: p, O: off, Err: err.Error()})
			}
		}
	}
}

// groupLog collects the events of a group's consumer processes and feeds
// their deliveries to the checker.
type groupLog struct {
	t     *testing.T
	ck    *check.Checker
	group string
	topic string

	mu    sync.Mutex          // guards byWho and seen
	byWho map[string][]event  // each consumer's events, in the order it wrote them
	seen  map[string]struct{} // the values delivered
}

func newGroupLog(t *testing.T, ck *check.Checker, group, topic string) *groupLog {
	return &groupLog{t: t, ck: ck, group: group, topic: topic, byWho: map[string][]event{}, seen: map[string]struct{}{}}
}

// distinct returns how many distinct values the group has received: a
// cheap measure of progress (check.Checker.Report takes long once it holds
// many messages, and holds its lock meanwhile).
func (g *groupLog) distinct() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.seen)
}

// roleConfig returns the consumer configuration used by the tests: a 1s
// session with 100ms heartbeats, batches of at most 50 records.
func (g *groupLog) roleConfig(brokers []string) roleConfig {
	return roleConfig{Brokers: brokers, Topic: g.topic, Group: g.group, SessionTimeout: time.Second,
		HeartbeatInterval: 100 * time.Millisecond, MaxPollRecords: 50}
}

// start starts a consumer process named who in the group.
func (g *groupLog) start(who string, brokers []string) *proc {
	g.t.Helper()
	return startRole(g.t, who, "consumer", g.roleConfig(brokers), func(e event) {
		e.At = time.Now()
		g.mu.Lock()
		g.byWho[who] = append(g.byWho[who], e)
		if e.Ev == "deliver" {
			g.seen[e.V] = struct{}{}
		}
		g.mu.Unlock()
		switch e.Ev {
		case "deliver":
			g.ck.Delivered(check.Delivery{Group: g.group, Topic: g.topic, Partition: e.P, Offset: e.O, Value: []byte(e.V)})
		case "fatal":
			g.t.Errorf("consumer %s: %s", who, e.Err)
		}
	})
}

// events returns a copy of who's events.
func (g *groupLog) events(who string) []event {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]event(nil), g.byWho[who]...)
}

// count returns how many events named ev who has written.
func (g *groupLog) count(who, ev string) int {
	n := 0
	for _, e := range g.events(who) {
		if e.Ev == ev {
			n++
		}
	}
	return n
}

// lastAssigned returns the partitions of who's latest assignment.
func (g *groupLog) lastAssigned(who string) []int32 {
	evs := g.events(who)
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Ev == "assigned" {
			return evs[i].Parts
		}
	}
	return nil
}

// commits returns the highest acknowledged commit of who per partition.
func (g *groupLog) commits(who string) map[int32]int64 {
	out := map[int32]int64{}
	for _, e := range g.events(who) {
		if e.Ev == "commit" {
			out[e.P] = max(out[e.P], e.O)
		}
	}
	return out
}

// heldBatch returns the records who delivered in the batch it is holding
// (those written between its last commit-related event and "hold").
func (g *groupLog) heldBatch(who string) []event {
	evs := g.events(who)
	end := -1
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Ev == "hold" {
			end = i
			break
		}
	}
	var out []event
	for i := end - 1; i >= 0 && evs[i].Ev == "deliver"; i-- {
		out = append(out, evs[i])
	}
	return out
}

type partOffset struct {
	p int32
	o int64
}

// redeliveries checks that records were delivered again only when no
// consumer had committed them: for every record (partition and offset)
// delivered more than once, at most one of its deliveries is followed,
// in the same consumer's events and before its assignment changed, by an
// acknowledged commit past it. It
// returns the redelivered records and a description of each violation.
func (g *groupLog) redeliveries() (map[partOffset]int, []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	total := map[partOffset]int{}
	covered := map[partOffset]int{}
	for _, evs := range g.byWho {
		// The highest commit acked later in this consumer's events, within
		// the same assignment (a commit after a rejoin is another owner's).
		after := map[int32]int64{}
		for i := len(evs) - 1; i >= 0; i-- {
			e := evs[i]
			switch e.Ev {
			case "assigned", "revoked", "lost":
				clear(after)
			case "commit":
				after[e.P] = max(after[e.P], e.O)
			case "deliver":
				k := partOffset{e.P, e.O}
				total[k]++
				if after[e.P] > e.O {
					covered[k]++
				}
			}
		}
	}
	re := map[partOffset]int{}
	var bad []string
	for k, n := range total {
		if n > 1 {
			re[k] = n
			if covered[k] > 1 {
				bad = append(bad, fmt.Sprintf("%s/%d@%d delivered %d times, committed after %d of them", g.topic, k.p, k.o, n, covered[k]))
			}
		}
	}
	sort.Strings(bad)
	return re, bad
}

// waitAllDelivered waits until every acked message has been delivered to
// the group (no loss so far). It fails the test with the report, and
// diag's description of the state if diag is not nil, once no new message
// has reached the group for stall: a group that is still catching up
// gets all the time it needs.
func waitAllDelivered(t *testing.T, ck *check.Checker, group string, stall time.Duration, diag ...func() string) {
	t.Helper()
	distinct, since := -1, time.Now()
	for {
		// Report takes the checker's lock for a time that grows with what
		// it holds, and the consumers' events wait for that lock: check
		// at most a fifth of the time.
		began := time.Now()
		r := ck.Report()
		pause := max(50*time.Millisecond, 5*time.Since(began))
		for _, g := range r.Groups {
			if g.Group != group {
				continue
			}
			if g.LostCount == 0 {
				return
			}
			if g.Distinct > distinct {
				distinct, since = g.Distinct, time.Now()
			}
		}
		if time.Since(since) > stall {
			var more []string
			for _, d := range diag {
				more = append(more, d())
			}
			t.Fatalf("group %s received nothing new for %v and misses acked messages:\n%s\n%s", group, stall, r, strings.Join(more, "\n"))
		}
		time.Sleep(pause) // polling the checker
	}
}

// describe tells the group's state for a failure message: per partition
// the high-water mark and the committed offset, the members and their
// assignments, and per consumer the highest offset delivered per partition
// and its last events.
func (g *groupLog) describe(cl *client.Client, parts int32) string {
	var b strings.Builder
	for p := range parts {
		hwm, err := within(3*time.Second, func(ctx context.Context) (int64, error) {
			return cl.ListOffsets(ctx, g.topic, p, client.Latest)
		})
		fmt.Fprintf(&b, "partition %d: high-water mark %d (%v)\n", p, hwm, err)
	}
	d, err := within(3*time.Second, func(ctx context.Context) (client.GroupDescription, error) {
		return cl.DescribeGroup(ctx, g.group)
	})
	fmt.Fprintf(&b, "group %s: state %s generation %d, error %v\n", g.group, d.State, d.Generation, err)
	for _, m := range d.Members {
		fmt.Fprintf(&b, "  member %s: %v\n", m.MemberID, m.Assignment)
	}
	for _, o := range d.Offsets {
		fmt.Fprintf(&b, "  committed %s/%d: %d (lag %d)\n", o.Topic, o.Partition, o.Committed, o.Lag)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	whos := make([]string, 0, len(g.byWho))
	for who := range g.byWho {
		whos = append(whos, who)
	}
	sort.Strings(whos)
	for _, who := range whos {
		evs := g.byWho[who]
		top := map[int32]int64{}
		for _, e := range evs {
			if e.Ev == "deliver" {
				top[e.P] = max(top[e.P], e.O)
			}
		}
		fmt.Fprintf(&b, "consumer %s: highest offsets delivered %v; last events:\n", who, top)
		for _, e := range evs[max(0, len(evs)-8):] {
			fmt.Fprintf(&b, "  %s %s p%d o%d %v %s\n", e.At.Format("15:04:05.000"), e.Ev, e.P, e.O, e.Parts, e.Err)
		}
	}
	return b.String()
}

// commitWatcher polls the group's committed offsets (DescribeGroup) and
// records them in the checker, which flags any that goes backward.
type commitWatcher struct {
	stop chan struct{}
	done chan struct{}
	n    atomic.Int64 // successful polls
}

func watchCommits(t *testing.T, cl *client.Client, ck *check.Checker, group string) *commitWatcher {
	w := &commitWatcher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			d, err := within(3*time.Second, func(ctx context.Context) (client.GroupDescription, error) {
				return cl.DescribeGroup(ctx, group)
			})
			if err == nil {
				for _, o := range d.Offsets {
					if o.Committed >= 0 {
						ck.Committed(group, o.Topic, o.Partition, o.Committed)
					}
				}
				w.n.Add(1)
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(w.close)
	return w
}

// close stops the watcher and waits for it. Idempotent.
func (w *commitWatcher) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}
