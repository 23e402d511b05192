package lab

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEventLogCursor(t *testing.T) {
	tl := newTimeline(nil)
	evs, next := tl.events(0, 0)
	if len(evs) != 0 || next != 0 {
		t.Fatalf("empty log: %v, %d", evs, next)
	}
	for i := range 10 {
		tl.say("e%d", i)
	}
	evs, next = tl.events(0, 4)
	if len(evs) != 4 || evs[0].Seq != 1 || evs[0].Text != "e0" || next != 4 {
		t.Fatalf("first page: %+v, next %d", evs, next)
	}
	evs, next = tl.events(next, 0)
	if len(evs) != 6 || evs[0].Seq != 5 || next != 10 {
		t.Fatalf("rest: %+v, next %d", evs, next)
	}
	if evs, n := tl.events(next, 0); len(evs) != 0 || n != next {
		t.Fatalf("caught up: %v, %d", evs, n)
	}
	// A reader that falls behind the log's size misses the oldest events
	// and nothing blocks.
	for i := range eventLogSize + 5 {
		tl.say("f%d", i)
	}
	evs, next = tl.events(3, 0)
	if len(evs) != eventLogSize || evs[0].Seq != 10+5+1 || next != 10+eventLogSize+5 {
		t.Fatalf("wrapped: %d events from seq %d, next %d", len(evs), evs[0].Seq, next)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq != evs[i-1].Seq+1 {
			t.Fatalf("out of order at %d: %d after %d", i, evs[i].Seq, evs[i-1].Seq)
		}
	}
	if got := evs[len(evs)-1]; got.First != -1 || got.Last != -1 {
		t.Fatalf("an event with no range has First and Last -1: %+v", got)
	}
}

func TestInjectErrors(t *testing.T) {
	s, _ := Find("acks1-leader-killed")
	seeded := newRun(s, Options{})
	if err := seeded.Inject(FaultKillLeader); !errors.Is(err, ErrNotManual) {
		t.Fatalf("seeded run: %v, want ErrNotManual", err)
	}
	manual := newRun(s, Options{Manual: true})
	if err := manual.Inject(FaultCrashConsumer); !errors.Is(err, ErrFaultNotHere) {
		t.Fatalf("wrong fault: %v, want ErrFaultNotHere", err)
	}
	if err := manual.Inject(FaultKillLeader); err != nil {
		t.Fatal(err)
	}
	if err := manual.Inject(FaultKillLeader); !errors.Is(err, ErrFaultDone) {
		t.Fatalf("second fault: %v, want ErrFaultDone", err)
	}
	if _, err := Start(context.Background(), "nope", Options{}); !errors.Is(err, ErrUnknownScenario) {
		t.Fatalf("unknown scenario: %v", err)
	}
	for _, s := range Scenarios() {
		if got, ok := Find(s.Name); !ok || got.Name != s.Name {
			t.Fatalf("Find(%q)", s.Name)
		}
	}
}

// testSizes keep a manual run to a few seconds.
var testSizes = Sizes{Messages: 600, Burst: 4, Pace: 5 * time.Millisecond, Retry: 20, Group: 60, Batch: 5, ProcessDelay: 20 * time.Millisecond}

// waitEvent polls run's events from *cursor until one satisfies ok.
func waitEvent(t *testing.T, run *Run, cursor *int64, what string, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		evs, next := run.Events(*cursor, 0)
		*cursor = next
		for _, e := range evs {
			if ok(e) {
				return e
			}
		}
		select {
		case <-run.Done():
			if evs, _ := run.Events(*cursor, 0); len(evs) == 0 {
				_, _, err := run.Outcome()
				t.Fatalf("run ended (%v) before %s", err, what)
			}
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no %s within 60s", what)
	return Event{}
}

// checkLedger checks that the ledger has one entry per message the rows
// count as lost or duplicated.
func checkLedger(t *testing.T, res Result) {
	t.Helper()
	lost, dups := map[string]int{}, map[string]int{}
	for _, e := range res.Ledger {
		if e.Story == "" {
			t.Fatalf("entry without a story: %+v", e)
		}
		switch e.Fate {
		case FateLost:
			lost[e.Row]++
		case FateDuplicated:
			dups[e.Row]++
		default:
			t.Fatalf("fate %q", e.Fate)
		}
	}
	for _, r := range res.Rows {
		if lost[r.Scenario] != r.Lost || dups[r.Scenario] != r.Duplicated {
			t.Fatalf("row %+v: ledger has %d lost, %d duplicated", r, lost[r.Scenario], dups[r.Scenario])
		}
	}
}

// TestManualKillLeader kills the leader mid-stream at the caller's
// command and finds the fault, then a new leader, on the timeline, and a
// ledger that matches the checker's counts.
func TestManualKillLeader(t *testing.T) {
	run, err := Start(context.Background(), "acks1-leader-killed", Options{Seed: 1, Manual: true, Sizes: testSizes, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Stop()
	var cursor int64
	waitEvent(t, run, &cursor, "the cluster up", func(e Event) bool { return e.Kind == KindLeader })
	waitEvent(t, run, &cursor, "a burst acked", func(e Event) bool { return e.Kind == KindAck })
	if err := run.Inject(FaultKillLeader); err != nil {
		t.Fatal(err)
	}
	// The leader killed is the one at that moment (a busy machine may have
	// held an election of its own since the start).
	fault := waitEvent(t, run, &cursor, "the kill", func(e Event) bool { return e.Kind == KindFault })
	if fault.Node == "" || !strings.Contains(fault.Text, "(the leader) killed") {
		t.Fatalf("fault event %+v", fault)
	}
	next := waitEvent(t, run, &cursor, "a new leader", func(e Event) bool { return e.Kind == KindLeader })
	if next.Node == fault.Node || next.Seq < fault.Seq {
		t.Fatalf("new leader %+v after fault %+v", next, fault)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := run.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.Rows[0].Sent != 600 || res.Scenario != "acks1-leader-killed" {
		t.Fatalf("result %+v", res)
	}
	checkLedger(t, res)
	if err := run.Inject(FaultKillLeader); !errors.Is(err, ErrFaultDone) {
		t.Fatalf("inject after the end: %v", err)
	}
}

// TestManualCrashConsumer crashes consumer A at the caller's command in a
// commit-after-processing run: the next owner processes A's last batch
// again, and the ledger tells so.
func TestManualCrashConsumer(t *testing.T) {
	run, err := Start(context.Background(), "commit-after-processing", Options{Seed: 1, Manual: true, Sizes: testSizes, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Stop()
	var cursor int64
	waitEvent(t, run, &cursor, "a batch processed", func(e Event) bool { return e.Kind == KindDelivery })
	if err := run.Inject(FaultCrashConsumer); err != nil {
		t.Fatal(err)
	}
	crash := waitEvent(t, run, &cursor, "the crash", func(e Event) bool { return e.Kind == KindFault })
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := run.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Rows[0]
	if r.Lost != 0 || int64(r.Duplicated) != crash.Last-crash.First+1 {
		t.Fatalf("crash in batch %d-%d: want that batch duplicated, nothing lost: %+v", crash.First, crash.Last, r)
	}
	checkLedger(t, res)
	for _, e := range res.Ledger {
		if want := "[A B]"; e.Fate != FateDuplicated || !strings.Contains(e.Story, want) {
			t.Fatalf("entry %+v: want a duplicate processed by %s", e, want)
		}
	}
}

// TestKafkaProducerLeaderKilled plays kafka-producer-leader-killed: with
// franz-go's idempotence off, the records whose answers died with the
// leader are stored twice; with it on, none; nothing acked is lost.
func TestKafkaProducerLeaderKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, _ := Find("kafka-producer-leader-killed")
	var events []string
	res, err := Play(ctx, s, Options{Seed: 1, Sizes: testSizes, Dir: t.TempDir(), OnEvent: func(e Event) { events = append(events, e.String()) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", strings.Join(events, "\n"))
	if len(res.Rows) != 2 {
		t.Fatalf("rows %+v", res.Rows)
	}
	off, on := res.Rows[0], res.Rows[1]
	if off.Lost != 0 || on.Lost != 0 || off.Duplicated == 0 || on.Duplicated != 0 {
		t.Fatalf("want duplicates with idempotence off, none with it on, nothing lost: %+v", res.Rows)
	}
	checkLedger(t, res)
}
