package check_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
)

func acked(ck *check.Checker, stream string, i int, partition int32, offset int64) []byte {
	v := check.Value(stream, i)
	ck.Produced(check.Attempt{Stream: stream, Topic: "t", Partition: partition, Offset: offset, Value: v, Outcome: check.Acked})
	return v
}

func deliver(ck *check.Checker, group string, partition int32, offset int64, v []byte) {
	ck.Delivered(check.Delivery{Group: group, Topic: "t", Partition: partition, Offset: offset, Value: v})
}

func TestCleanRunIsOK(t *testing.T) {
	ck := check.New()
	for i := range 5 {
		v := acked(ck, "p", i, 0, int64(i))
		deliver(ck, "g", 0, int64(i), v)
		deliver(ck, "h", 0, int64(i), v)
	}
	r := ck.Report()
	if !r.OK() || r.Acked != 5 || len(r.Groups) != 2 || r.Groups[0].Distinct != 5 || r.Lost() != 0 {
		t.Fatalf("%+v\n%s", r, r)
	}
	if !strings.Contains(r.String(), "delivery check: OK") {
		t.Fatal(r.String())
	}
}

func TestLostAckedMessageFails(t *testing.T) {
	ck := check.New()
	v0 := acked(ck, "p", 0, 0, 0)
	acked(ck, "p", 1, 0, 1)
	deliver(ck, "g", 0, 0, v0)
	r := ck.Report()
	if r.OK() || r.Groups[0].LostCount != 1 || r.Lost() != 1 {
		t.Fatalf("%s", r)
	}
	if !strings.Contains(r.String(), "p-000000001") {
		t.Fatalf("the lost value is not named:\n%s", r)
	}
}

func TestDuplicatesAreCountedNotFailures(t *testing.T) {
	ck := check.New()
	v := acked(ck, "p", 0, 0, 0)
	deliver(ck, "g", 0, 0, v)
	deliver(ck, "g", 0, 0, v)
	deliver(ck, "g", 0, 0, v)
	r := ck.Report()
	g := r.Groups[0]
	if !r.OK() || g.DuplicateCount != 1 || g.DuplicateDeliveries != 2 || g.Delivered != 3 {
		t.Fatalf("%+v", g)
	}
}

func TestUnexpectedAndFailedVisible(t *testing.T) {
	ck := check.New()
	failed := check.Value("p", 0)
	ck.Produced(check.Attempt{Stream: "p", Topic: "t", Value: failed, Outcome: check.Failed})
	deliver(ck, "g", 0, 0, failed)
	deliver(ck, "g", 0, 1, []byte("never sent"))
	r := ck.Report()
	g := r.Groups[0]
	if r.OK() || g.FailedVisibleCount != 1 || g.UnexpectedCount != 1 {
		t.Fatalf("%s", r)
	}
}

func TestUnackedMissingIsAllowed(t *testing.T) {
	ck := check.New()
	ck.Produced(check.Attempt{Value: check.Value("p", 0), Outcome: check.Unacked})
	ck.Produced(check.Attempt{Value: check.Value("p", 1), Outcome: check.Unknown})
	deliver(ck, "g", 0, 0, []byte("p-000000001"))
	r := ck.Report()
	if !r.OK() || r.Groups[0].UnackedMissing != 1 {
		t.Fatalf("%s", r)
	}
}

func TestReorderWithinStreamAndPartition(t *testing.T) {
	ck := check.New()
	acked(ck, "p", 0, 0, 5)
	acked(ck, "p", 1, 0, 3) // stored before the message sent earlier
	acked(ck, "p", 2, 1, 0) // other partition: no order relation
	acked(ck, "q", 0, 0, 1) // other stream: no order relation
	r := ck.Report()
	if r.OK() || r.ReorderedCount != 1 {
		t.Fatalf("%s", r)
	}
	// With Seq, the call order does not matter: callbacks of an async
	// producer may run in any order.
	ck = check.New()
	for _, i := range []int{2, 0, 1} {
		ck.Produced(check.Attempt{Stream: "p", Topic: "t", Seq: int64(i), Offset: int64(i), Value: check.Value("p", i), Outcome: check.Acked})
	}
	if r := ck.Report(); !r.OK() {
		t.Fatalf("%s", r)
	}
}

func TestCommitRegression(t *testing.T) {
	ck := check.New()
	ck.Committed("g", "t", 0, 5)
	ck.Committed("g", "t", 0, 7)
	ck.Committed("g", "t", 1, 2)
	if r := ck.Report(); !r.OK() {
		t.Fatalf("%s", r)
	}
	ck.Committed("g", "t", 0, 6)
	if r := ck.Report(); r.OK() || len(r.CommitRegressions) != 1 {
		t.Fatalf("%s", r)
	}
}

func TestDuplicateAttemptValueIsReported(t *testing.T) {
	ck := check.New()
	acked(ck, "p", 0, 0, 0)
	acked(ck, "p", 0, 0, 1)
	if r := ck.Report(); r.OK() || r.DuplicateAttempts != 1 {
		t.Fatalf("%s", r)
	}
}

func TestOutcomeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want check.Outcome
	}{
		{nil, check.Acked},
		{fmt.Errorf("produce: %w", client.ErrUnknownTopic), check.Failed},
		{client.ErrMessageTooLarge, check.Failed},
		{client.ErrOutcomeUnknown, check.Unknown},
		{client.ErrConnectionLost, check.Unknown},
		{errors.New("anything"), check.Unknown},
	} {
		if got := check.OutcomeOf(tc.err); got != tc.want {
			t.Errorf("OutcomeOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestListsAreCapped(t *testing.T) {
	ck := check.New()
	for i := range 100 {
		acked(ck, "p", i, 0, int64(i))
	}
	deliver(ck, "g", 0, 0, check.Value("p", 0))
	r := ck.Report()
	if g := r.Groups[0]; g.LostCount != 99 || len(g.Lost) != 10 || !strings.Contains(r.String(), "and 89 more") {
		t.Fatalf("%d %d\n%s", g.LostCount, len(g.Lost), r)
	}
}

func TestConcurrentUse(t *testing.T) {
	ck := check.New()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprint("w", w)
			for i := range 200 {
				v := acked(ck, stream, i, int32(w), int64(i))
				deliver(ck, "g", int32(w), int64(i), v)
				ck.Committed("g", "t", int32(w), int64(i+1))
			}
		}()
	}
	wg.Wait()
	if r := ck.Report(); !r.OK() || r.Acked != 800 || r.Groups[0].Distinct != 800 {
		t.Fatalf("%s", r)
	}
}

func TestExpectedGroupWithNothingDeliveredLosesAll(t *testing.T) {
	ck := check.New()
	ck.ExpectGroup("g")
	acked(ck, "p", 0, 0, 0)
	acked(ck, "p", 1, 0, 1)
	if r := ck.Report(); r.OK() || r.Lost() != 2 {
		t.Fatalf("%s", r)
	}
}
