package check

import (
	"errors"
	"fmt"
	"sync"

	"github.com/minibroker/minibroker/client"
)

// Outcome is what a producer learned about one message.
type Outcome int8

const (
	// Acked: the broker acknowledged the message (at the producer's acks
	// level).
	Acked Outcome = iota
	// Failed: the broker reported a definite failure: it was not stored.
	Failed
	// Unknown: the outcome is unknown (a timeout, a lost connection, a
	// leader lost mid-write): it may or may not have been stored.
	Unknown
	// Unacked: sent without waiting for an acknowledgement (acks=0).
	Unacked
)

func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acked"
	case Failed:
		return "failed"
	case Unknown:
		return "unknown"
	case Unacked:
		return "unacked"
	}
	return fmt.Sprintf("Outcome(%d)", int8(o))
}

// OutcomeOf classifies the error of a produce with acknowledgements: nil
// is Acked; a rejection that happens before anything is written (unknown
// topic or partition, message too large, malformed) is Failed; anything
// else is Unknown, the safe assumption: a timeout, a lost connection or a
// leader lost mid-write may have stored the message.
func OutcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return Acked
	case errors.Is(err, client.ErrUnknownTopic), errors.Is(err, client.ErrUnknownPartition),
		errors.Is(err, client.ErrMessageTooLarge), errors.Is(err, client.ErrMalformed),
		errors.Is(err, client.ErrInvalidConfig):
		return Failed
	}
	return Unknown
}

// Value returns a distinct message value for attempt i of stream:
// "stream-000000i".
func Value(stream string, i int) []byte {
	return fmt.Appendf(nil, "%s-%09d", stream, i)
}

// Attempt is one produced message and its outcome. Partition and Offset
// are meaningful for Acked attempts at acks=all (and acks=1).
type Attempt struct {
	// Stream names the sequential producer that sent it; reordering is
	// judged per stream and partition, in Seq order.
	Stream string
	// Seq is the attempt's place in its stream's sending order (e.g. the
	// message's index). Attempts with equal Seq (say, all zero) are taken
	// in the order Produced was called, which suits synchronous
	// producers; with asynchronous callbacks set Seq.
	Seq       int64
	Topic     string
	Partition int32
	Offset    int64
	Value     []byte
	Outcome   Outcome
}

// Delivery is one message as a consumer received it.
type Delivery struct {
	Group     string // consumer group, or any name for a plain reader
	Topic     string
	Partition int32
	Offset    int64
	Value     []byte
}

// Checker records attempts, deliveries and commits. Safe for concurrent
// use; the zero value is not usable, call New.
type Checker struct {
	mu          sync.Mutex            // guards everything below
	attempts    []Attempt             // in call order
	byValue     map[string]int        // value -> index in attempts
	deliveries  map[string][]Delivery // group -> deliveries in call order
	groups      []string              // groups in first-seen order
	commits     map[commitKey]int64   // last committed offset
	regressions []string
	dupAttempts int // Produced called twice with one value
}

type commitKey struct {
	group, topic string
	partition    int32
}

// New returns an empty Checker.
func New() *Checker {
	return &Checker{byValue: map[string]int{}, deliveries: map[string][]Delivery{}, commits: map[commitKey]int64{}}
}

// Produced records one attempt. Call it once per message, with the final
// outcome (after the producer's own retries).
func (c *Checker) Produced(a Attempt) {
	a.Value = clone(a.Value)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.byValue[string(a.Value)]; dup {
		c.dupAttempts++
		return
	}
	c.byValue[string(a.Value)] = len(c.attempts)
	c.attempts = append(c.attempts, a)
}

// Delivered records one delivery.
func (c *Checker) Delivered(d Delivery) {
	d.Value = clone(d.Value)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.deliveries[d.Group]; !ok {
		c.groups = append(c.groups, d.Group)
	}
	c.deliveries[d.Group] = append(c.deliveries[d.Group], d)
}

// ExpectGroup declares a group (or reader) that should receive every
// acked message, so that the report judges it even if it received
// nothing at all (a total loss).
func (c *Checker) ExpectGroup(group string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.deliveries[group]; !ok {
		c.groups = append(c.groups, group)
		c.deliveries[group] = nil
	}
}

// Committed records that group's committed offset for a partition is now
// offset (as reported by the broker after a successful commit, or read
// back); a value below the previous one is a regression.
func (c *Checker) Committed(group, topic string, partition int32, offset int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := commitKey{group, topic, partition}
	if prev, ok := c.commits[k]; ok && offset < prev {
		c.regressions = append(c.regressions, fmt.Sprintf("%s %s/%d: %d after %d", group, topic, partition, offset, prev))
	}
	c.commits[k] = max(offset, c.commits[k])
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
