package console

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// Charts are drawn on the server as inline SVG: no script library, the
// same picture whatever the browser, and an SSE update is just new markup.

// series is one line of a chart.
type series struct {
	Name   string
	Class  string // CSS class of the line: s0, s1, ... picks its colour
	Points []point
}

type point struct {
	At time.Time
	V  float64
}

// Chart size in SVG user units (the SVG scales to its container).
const (
	chartW, chartH = 640, 180
	padL, padR     = 56, 12
	padT, padB     = 12, 24
)

// lineChart draws the series over the window ending at end, with a y axis
// from 0 to a rounded maximum. title labels the chart for screen readers
// and tests (aria-label); unit is appended to the axis labels.
func lineChart(title, unit string, end time.Time, window time.Duration, ss []series) template.HTML {
	start := end.Add(-window)
	top := 0.0
	for _, s := range ss {
		for _, p := range s.Points {
			if !p.At.Before(start) {
				top = math.Max(top, p.V)
			}
		}
	}
	top = niceCeil(top)
	x := func(t time.Time) float64 {
		f := float64(t.Sub(start)) / float64(window)
		return padL + math.Max(0, math.Min(1, f))*(chartW-padL-padR)
	}
	y := func(v float64) float64 { return chartH - padB - v/top*(chartH-padT-padB) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s">`, chartW, chartH, template.HTMLEscapeString(title))
	for i := 0; i <= 4; i++ { // grid and y labels
		v := top * float64(i) / 4
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y(v), y(v))
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s%s</text>`, padL-6, y(v)+4, short(v), unit)
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">-%s</text>`, padL, chartH-6, window.Round(time.Second))
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">now</text>`, chartW-padR, chartH-6)
	for i, s := range ss {
		class := s.Class
		if class == "" {
			class = fmt.Sprintf("s%d", i%6)
		}
		var pts []string
		for _, p := range s.Points {
			if p.At.Before(start) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.At), y(p.V)))
		}
		if len(pts) == 1 {
			pts = append(pts, pts[0])
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline class="line %s" points="%s"><title>%s</title></polyline>`, class, strings.Join(pts, " "), template.HTMLEscapeString(s.Name))
		}
	}
	b.WriteString(`</svg>`)
	if len(ss) > 1 {
		b.WriteString(`<div class="legend">`)
		for i, s := range ss {
			class := s.Class
			if class == "" {
				class = fmt.Sprintf("s%d", i%6)
			}
			fmt.Fprintf(&b, `<span class="key %s">%s</span>`, class, template.HTMLEscapeString(s.Name))
		}
		b.WriteString(`</div>`)
	}
	return template.HTML(b.String()) // built from numbers and escaped names only
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// short formats an axis value: 1.5k, 20, 0.5.
func short(v float64) string {
	switch {
	case v >= 1e6:
		return trim(fmt.Sprintf("%.1fM", v/1e6))
	case v >= 1e3:
		return trim(fmt.Sprintf("%.1fk", v/1e3))
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

func trim(s string) string { return strings.Replace(s, ".0", "", 1) }
