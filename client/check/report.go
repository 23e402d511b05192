package check

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Report is the checker's verdict. Lists are capped at maxListed entries;
// the counts are exact.
type Report struct {
	Sent, Acked, Failed, Unknown, Unacked int
	// DuplicateAttempts counts Produced calls that repeated a value (a bug
	// in the test: values must be distinct).
	DuplicateAttempts int
	Groups            []GroupReport
	// Reordered lists pairs of acked messages of one stream and partition
	// stored in the opposite order to their sending.
	Reordered      []string
	ReorderedCount int
	// CommitRegressions lists committed offsets that went backwards.
	CommitRegressions []string
}

// GroupReport is the verdict for one consumer group (or reader).
type GroupReport struct {
	Group     string
	Delivered int // deliveries, duplicates included
	Distinct  int // distinct messages delivered
	// Lost: acked, never delivered to this group.
	Lost      []string
	LostCount int
	// Duplicates: messages delivered more than once; DuplicateDeliveries
	// counts the extra deliveries.
	Duplicates          []string
	DuplicateCount      int
	DuplicateDeliveries int
	// Unexpected: delivered, never sent.
	Unexpected      []string
	UnexpectedCount int
	// FailedVisible: reported as failed, yet delivered.
	FailedVisible      []string
	FailedVisibleCount int
	// UnackedMissing: sent with acks=0 or an unknown outcome and not
	// delivered; allowed, counted.
	UnackedMissing int
}

const maxListed = 10

// OK reports whether nothing broke the at-least-once promise: no loss of
// acked messages, nothing unexpected, no reordering, no failed write made
// visible, no commit regression. Duplicates are allowed.
func (r Report) OK() bool {
	if r.ReorderedCount > 0 || len(r.CommitRegressions) > 0 || r.DuplicateAttempts > 0 {
		return false
	}
	for _, g := range r.Groups {
		if g.LostCount > 0 || g.UnexpectedCount > 0 || g.FailedVisibleCount > 0 {
			return false
		}
	}
	return true
}

// Lost is the number of acked messages some group never received.
func (r Report) Lost() int {
	n := 0
	for _, g := range r.Groups {
		n = max(n, g.LostCount)
	}
	return n
}

// Report computes the verdict from everything recorded so far.
func (c *Checker) Report() Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := Report{Sent: len(c.attempts), DuplicateAttempts: c.dupAttempts, CommitRegressions: slices.Clone(c.regressions)}
	for _, a := range c.attempts {
		switch a.Outcome {
		case Acked:
			r.Acked++
		case Failed:
			r.Failed++
		case Unknown:
			r.Unknown++
		case Unacked:
			r.Unacked++
		}
	}
	r.Reordered, r.ReorderedCount = c.reordered()
	for _, g := range c.groups {
		r.Groups = append(r.Groups, c.groupReport(g))
	}
	return r
}

// reordered compares, per stream and partition, the send order of acked
// attempts with their offsets.
func (c *Checker) reordered() ([]string, int) {
	type key struct {
		stream, topic string
		partition     int32
	}
	ordered := slices.Clone(c.attempts)
	slices.SortStableFunc(ordered, func(a, b Attempt) int { return cmp.Compare(a.Seq, b.Seq) })
	last := map[key]Attempt{}
	var list []string
	n := 0
	for _, a := range ordered {
		if a.Outcome != Acked || a.Offset < 0 {
			continue
		}
		k := key{a.Stream, a.Topic, a.Partition}
		if prev, ok := last[k]; ok && a.Offset < prev.Offset {
			n++
			if len(list) < maxListed {
				list = append(list, fmt.Sprintf("%s/%d: %q sent after %q but stored at %d < %d",
					a.Topic, a.Partition, a.Value, prev.Value, a.Offset, prev.Offset))
			}
		}
		last[k] = a
	}
	return list, n
}

func (c *Checker) groupReport(group string) GroupReport {
	g := GroupReport{Group: group}
	seen := map[string]int{}
	add := func(list *[]string, count *int, s string) {
		*count++
		if len(*list) < maxListed {
			*list = append(*list, s)
		}
	}
	for _, d := range c.deliveries[group] {
		g.Delivered++
		seen[string(d.Value)]++
		i, sent := c.byValue[string(d.Value)]
		switch {
		case !sent:
			add(&g.Unexpected, &g.UnexpectedCount, fmt.Sprintf("%q at %s/%d@%d", d.Value, d.Topic, d.Partition, d.Offset))
		case seen[string(d.Value)] == 1 && c.attempts[i].Outcome == Failed:
			add(&g.FailedVisible, &g.FailedVisibleCount, fmt.Sprintf("%q at %s/%d@%d", d.Value, d.Topic, d.Partition, d.Offset))
		}
	}
	g.Distinct = len(seen)
	values := make([]string, 0, len(seen))
	for v, n := range seen {
		if n > 1 {
			values = append(values, v)
		}
	}
	slices.Sort(values)
	for _, v := range values {
		g.DuplicateDeliveries += seen[v] - 1
		add(&g.Duplicates, &g.DuplicateCount, fmt.Sprintf("%q ×%d", v, seen[v]))
	}
	for _, a := range c.attempts {
		if seen[string(a.Value)] > 0 {
			continue
		}
		switch a.Outcome {
		case Acked:
			add(&g.Lost, &g.LostCount, fmt.Sprintf("%q (acked at %s/%d@%d)", a.Value, a.Topic, a.Partition, a.Offset))
		case Unknown, Unacked:
			g.UnackedMissing++
		}
	}
	return g
}

// String is a one-screen summary.
func (r Report) String() string {
	var b strings.Builder
	verdict := "OK"
	if !r.OK() {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "delivery check: %s\n", verdict)
	fmt.Fprintf(&b, "  sent %d: acked %d, failed %d, unknown %d, unacked %d\n", r.Sent, r.Acked, r.Failed, r.Unknown, r.Unacked)
	if r.DuplicateAttempts > 0 {
		fmt.Fprintf(&b, "  %d attempts repeated a value (values must be distinct)\n", r.DuplicateAttempts)
	}
	for _, g := range r.Groups {
		fmt.Fprintf(&b, "  group %q: delivered %d (%d distinct), lost %d, duplicated %d (%d extra deliveries), unexpected %d, failed-but-visible %d, unacked-not-delivered %d\n",
			g.Group, g.Delivered, g.Distinct, g.LostCount, g.DuplicateCount, g.DuplicateDeliveries, g.UnexpectedCount, g.FailedVisibleCount, g.UnackedMissing)
		list(&b, "lost", g.Lost, g.LostCount)
		list(&b, "unexpected", g.Unexpected, g.UnexpectedCount)
		list(&b, "failed but visible", g.FailedVisible, g.FailedVisibleCount)
		list(&b, "duplicated", g.Duplicates, g.DuplicateCount)
	}
	list(&b, "reordered", r.Reordered, r.ReorderedCount)
	list(&b, "commit regressions", r.CommitRegressions, len(r.CommitRegressions))
	return b.String()
}

func list(b *strings.Builder, what string, items []string, total int) {
	if total == 0 {
		return
	}
	fmt.Fprintf(b, "    %s:", what)
	for _, s := range items {
		fmt.Fprintf(b, " %s;", s)
	}
	if total > len(items) {
		fmt.Fprintf(b, " … and %d more", total-len(items))
	}
	b.WriteString("\n")
}
