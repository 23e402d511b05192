package console

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/minibroker/minibroker/lab"
)

// labChart draws a lab run's timeline as SVG: the leader's Raft commit
// index over time, a marker where each leader was elected and each fault
// struck. Used by one stream at a time.
type labChart struct {
	commits []labPoint
	marks   []labMark
}

type labPoint struct {
	at    time.Duration
	index uint64
}

type labMark struct {
	at    time.Duration
	class string // "leader" or "fault"
	label string
	text  string
}

func newLabChart() *labChart { return &labChart{} }

func (c *labChart) add(e lab.Event) {
	switch e.Kind {
	case lab.KindCommit:
		c.commits = append(c.commits, labPoint{e.At, e.Index})
	case lab.KindLeader:
		c.marks = append(c.marks, labMark{e.At, "leader", e.Node + " leads", e.Text})
	case lab.KindFault:
		label := "fault"
		if e.Node != "" {
			label = e.Node
		}
		c.marks = append(c.marks, labMark{e.At, "fault", label, e.Text})
	}
}

// svg renders the chart over [0, now].
func (c *labChart) svg(now time.Duration) template.HTML {
	span := max(now, time.Second)
	var top uint64 = 1
	for _, p := range c.commits {
		top = max(top, p.index)
	}
	topF := niceCeil(float64(top))
	x := func(d time.Duration) float64 {
		return padL + math.Min(1, float64(d)/float64(span))*(chartW-padL-padR)
	}
	y := func(v float64) float64 { return chartH - padB - v/topF*(chartH-padT-padB) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="lab timeline: commit index, leaders and faults">`, chartW, chartH)
	for i := 0; i <= 4; i++ {
		v := topF * float64(i) / 4
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y(v), y(v))
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-6, y(v)+4, short(v))
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">+0s</text>`, padL, chartH-6)
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">%s</text>`, chartW-padR, chartH-6, lab.Rel(span))
	if len(c.commits) > 0 {
		var pts []string
		for _, p := range c.commits {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.at), y(float64(p.index))))
		}
		if len(pts) == 1 {
			pts = append(pts, pts[0])
		}
		fmt.Fprintf(&b, `<polyline class="line s0" points="%s"><title>leader's commit index</title></polyline>`, strings.Join(pts, " "))
	}
	for i, m := range c.marks {
		mx := x(m.at)
		fmt.Fprintf(&b, `<line class="mark %s" x1="%.1f" x2="%.1f" y1="%d" y2="%d"><title>%s</title></line>`,
			m.class, mx, mx, padT, chartH-padB, template.HTMLEscapeString(m.text))
		fmt.Fprintf(&b, `<text class="marklabel %s" x="%.1f" y="%d">%s</text>`, m.class, mx+3, padT+10+(i%4)*12, template.HTMLEscapeString(m.label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // numbers and escaped text only
}
