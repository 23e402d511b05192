package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
)

// narrateLoss says which messages the producer counted as sent (acked;
// written, for acks=0) are missing, and when they were answered, and
// returns their indexes.
func narrateLoss(tl *timeline, plan killPlan, results []sendResult, offsets map[string][]int64, hit struck) []int {
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
	did := "killed"
	if plan.how == faultCut {
		did = "cut off"
	}
	switch {
	case len(lost) > 0:
		when := "at " + tl.rel(first)
		if last.Sub(first) >= time.Millisecond {
			when = "between " + tl.rel(first) + " and " + tl.rel(last)
		}
		tl.emit(span(KindCheck, int64(lost[0]), int64(lost[len(lost)-1]), false, "LOST %d messages the producer counted as %s: %s, %s %s; the leader was %s at %s",
			len(lost), verb, indexRanges(lost), verb, when, did, tl.rel(hit.at)))
	case hit.at.IsZero():
		tl.sayKind(KindCheck, "nothing the producer counted as %s is missing (no fault was injected)", verb)
	case plan.level == ackLevel1 && plan.how == faultKill:
		tl.sayKind(KindCheck, "nothing acked is missing: the leader sends entries to its followers as soon as it has written them, so they had every acked message before it died; acks=1 loses what the followers have not received (see acks1-leader-alone)")
	default:
		tl.sayKind(KindCheck, "nothing the producer counted as %s is missing", verb)
	}
	return lost
}

// lostStory tells how message r came to be lost.
func lostStory(tl *timeline, plan killPlan, r sendResult, hit struck) string {
	switch {
	case plan.level == ackLevel0:
		return fmt.Sprintf("written at %s with acks=0, so nobody waited to learn whether it was stored; the leader %s was %s at %s, and it never reached the cluster's log",
			tl.rel(r.at), hit.leader, map[bool]string{true: "cut off", false: "killed"}[plan.how == faultCut], tl.rel(hit.at))
	case plan.how == faultCut && r.at.Before(hit.at):
		return fmt.Sprintf("acked at %s with acks=1 by %s just before it was cut off at %s: its followers had not received it yet, the new leader never had it, and %s dropped it when it rejoined",
			tl.rel(r.at), hit.leader, tl.rel(hit.at), hit.leader)
	case plan.how == faultCut:
		return fmt.Sprintf("acked at %s with acks=1 by %s, which had been cut off from its followers at %s: only its own log held it, the new leader never had it, and %s dropped it when it rejoined",
			tl.rel(r.at), hit.leader, tl.rel(hit.at), hit.leader)
	case plan.how == faultAlone:
		return fmt.Sprintf("acked at %s with acks=1 by %s while its followers were down: only its log held it; %s was killed at %s and the followers elected a leader without it",
			tl.rel(r.at), hit.leader, hit.leader, tl.rel(hit.at))
	}
	return fmt.Sprintf("acked at %s with acks=1 by %s before a follower had it; %s was killed at %s", tl.rel(r.at), hit.leader, hit.leader, tl.rel(hit.at))
}

// dupStory tells how message r came to be stored at offsets.
func dupStory(r sendResult, offsets []int64) string {
	outcome := "acked"
	if r.err != nil {
		outcome = fmt.Sprintf("reported as %s (%v)", check.OutcomeOf(r.err), r.err)
	}
	return fmt.Sprintf("stored %d times, at offsets %v: its batch was in flight when the leader changed, so its answer never came (outcome unknown); the producer retried, and the first attempt had been stored. Finally %s",
		len(offsets), offsets, outcome)
}

// narrateDuplicates says which messages are stored more than once and
// returns their indexes.
func narrateDuplicates(tl *timeline, n int, offsets map[string][]int64) []int {
	dups := duplicatedIndexes(offsets, "m", n, -1)
	if len(dups) == 0 {
		return nil
	}
	v := string(check.Value("m", dups[0]))
	tl.emit(span(KindCheck, int64(dups[0]), int64(dups[len(dups)-1]), false, "DUPLICATED %d messages: %s (e.g. %s at offsets %v): their batches were in flight when the leader changed, so their answers never came (outcome unknown); the producer retried, and the first attempt had been stored",
		len(dups), indexRanges(dups), v, offsets[v]))
	return dups
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
