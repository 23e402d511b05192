package lab

import (
	"fmt"
	"sync"
	"time"
)

// Kind is what an Event is about.
type Kind string

// The kinds of Event.
const (
	KindInfo     Kind = "info"     // narration: the cluster is up, the plan, ...
	KindProduce  Kind = "produce"  // a producer sent messages (produce attempts)
	KindAck      Kind = "ack"      // the producer learned how messages fared
	KindCommit   Kind = "raft"     // the leader's Raft commit index moved on
	KindLeader   Kind = "leader"   // a node became the leader
	KindFault    Kind = "fault"    // a fault was injected (node killed, links cut, ack lost, consumer crashed)
	KindDelivery Kind = "delivery" // a consumer received (or processed) records
	KindOffset   Kind = "commit"   // a consumer committed an offset
	KindCheck    Kind = "check"    // the checker's verdict: loss, duplicates, none
)

// Event is one thing that happened in a run.
type Event struct {
	// Seq numbers a run's events from 1, in the order they happened.
	Seq int64 `json:"seq"`
	// At is the time since the run began.
	At   time.Duration `json:"at"`
	Kind Kind          `json:"kind"`
	// Node is the node the event is about ("n1"), if any.
	Node string `json:"node,omitempty"`
	// Index is the Raft commit index (KindCommit) or term (KindLeader).
	Index uint64 `json:"index,omitempty"`
	// First and Last are the message numbers or offsets the event covers,
	// when it covers some (Last >= First); both -1 otherwise.
	First int64 `json:"first"`
	Last  int64 `json:"last"`
	// Detail events (every burst, every commit index) are left out of the
	// CLI's timeline.
	Detail bool `json:"detail,omitempty"`
	// Text says what happened, in one line.
	Text string `json:"text"`
}

// String formats e as a timeline line: "+1.234s  text".
func (e Event) String() string { return fmt.Sprintf("%8s  %s", Rel(e.At), e.Text) }

// Rel formats a duration since the run began: "+1.234s".
func Rel(d time.Duration) string { return fmt.Sprintf("+%.3fs", d.Seconds()) }

// eventLogSize is how many events a run keeps for Run.Events.
const eventLogSize = 4096

// timeline stamps and records a run's events, keeping the last
// eventLogSize, and passes each to onEvent. Safe for concurrent use.
type timeline struct {
	start   time.Time
	onEvent func(Event) // nil: none; called with mu held, so in Seq order

	mu   sync.Mutex // guards seq and ring
	seq  int64      // Seq of the last event
	ring []Event    // ring[(seq-1) % eventLogSize] is event seq
}

func newTimeline(onEvent func(Event)) *timeline {
	return &timeline{start: time.Now(), onEvent: onEvent}
}

// rel formats t relative to the run's start.
func (tl *timeline) rel(t time.Time) string { return Rel(t.Sub(tl.start)) }

// say records a narration event that happens now.
func (tl *timeline) say(format string, args ...any) {
	tl.emit(Event{Kind: KindInfo, Text: fmt.Sprintf(format, args...)})
}

// sayKind records an event of kind k that happens now.
func (tl *timeline) sayKind(k Kind, format string, args ...any) {
	tl.emit(Event{Kind: k, Text: fmt.Sprintf(format, args...)})
}

// emit stamps e (At, Seq; First and Last default to -1 when both are
// zero and the event names no range) and records it.
func (tl *timeline) emit(e Event) {
	tl.emitAt(time.Now(), e)
}

// emitAt records e as having happened at t.
func (tl *timeline) emitAt(t time.Time, e Event) {
	if e.First == 0 && e.Last == 0 {
		e.First, e.Last = -1, -1
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.seq++
	e.Seq, e.At = tl.seq, t.Sub(tl.start)
	if len(tl.ring) < eventLogSize {
		tl.ring = append(tl.ring, e)
	} else {
		tl.ring[(e.Seq-1)%eventLogSize] = e
	}
	if tl.onEvent != nil {
		tl.onEvent(e)
	}
}

// span returns an event covering messages (or offsets) first..last.
func span(k Kind, first, last int64, detail bool, format string, args ...any) Event {
	return Event{Kind: k, First: first, Last: last, Detail: detail, Text: fmt.Sprintf(format, args...)}
}

// events returns up to max events with Seq > after, oldest first, and the
// cursor to pass next time (the Seq of the last one returned, or after).
// Events older than the log keeps are skipped.
func (tl *timeline) events(after int64, max int) ([]Event, int64) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	first := tl.seq - int64(len(tl.ring)) + 1 // oldest kept
	if after+1 > first {
		first = after + 1
	}
	var out []Event
	for s := first; s <= tl.seq && (max <= 0 || len(out) < max); s++ {
		out = append(out, tl.ring[(s-1)%eventLogSize])
	}
	if len(out) == 0 {
		return nil, max64(after, 0)
	}
	return out, out[len(out)-1].Seq
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
