package console

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/client"
)

// page is what every page template gets.
type page struct {
	Title string
	Nav   string // which menu entry is current
	Node  string // this node's id
	Write bool
	// Live is the query of /live that keeps the page's fragments current
	// ("" for none).
	Live string
	Snap *snapshot
	// Data is the page's own.
	Data any
	// Flash is a one-line notice (the outcome of a write action).
	Flash string
}

func (c *Console) newPage(r *http.Request, title, nav string) *page {
	snap, _ := c.smp.current()
	return &page{Title: title, Nav: nav, Node: snap.Self.ID, Write: c.cfg.Write, Snap: snap, Flash: r.URL.Query().Get("flash")}
}

// render executes template name with p, buffered so that a template error
// becomes a 500 instead of half a page.
func (c *Console) render(w http.ResponseWriter, name string, p any) {
	var b strings.Builder
	if err := c.tmpl.ExecuteTemplate(&b, name, p); err != nil {
		c.log.Error("console: template", "template", name, "error", err)
		http.Error(w, "template error: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
	w.Write([]byte(b.String()))
}

func (c *Console) clusterPage(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(r, "Cluster", "cluster")
	p.Live = "page=cluster"
	c.render(w, "cluster.html", p)
}

func (c *Console) topicsPage(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(r, "Topics", "topics")
	p.Live = "page=topics"
	c.render(w, "topics.html", p)
}

// topicData is the topic page's own data.
type topicData struct {
	Topic  broker.TopicState
	Found  bool
	Browse *browseResult
}

func (c *Console) topicPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p := c.newPage(r, "Topic "+name, "topics")
	p.Live = "page=topic&name=" + urlQuery(name)
	d := &topicData{}
	for _, t := range c.cfg.Broker.TopicStates() {
		if t.Name == name {
			d.Topic, d.Found = t, true
		}
	}
	if !d.Found {
		w.WriteHeader(http.StatusNotFound)
	} else {
		d.Browse = c.browse(r.Context(), name, r.URL.Query())
	}
	p.Data = d
	c.render(w, "topic.html", p)
}

func (c *Console) groupsPage(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(r, "Groups", "groups")
	p.Live = "page=groups"
	c.render(w, "groups.html", p)
}

// groupData is the group page's own data.
type groupData struct {
	Name  string
	Group *groupRow // nil: not in the snapshot (unknown, or not sampled yet)
}

func (c *Console) groupPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p := c.newPage(r, "Group "+name, "groups")
	p.Live = "page=group&name=" + urlQuery(name)
	d := &groupData{Name: name, Group: p.Snap.group(name)}
	p.Data = d
	c.render(w, "group.html", p)
}

// group returns the group called name in s, or nil.
func (s *snapshot) group(name string) *groupRow {
	for i := range s.Groups {
		if s.Groups[i].Group == name {
			return &s.Groups[i]
		}
	}
	return nil
}

// verdict is the last `cluster verify` outcome, shared by every page
// (each run proposes a Raft entry: not on every page load).
type verdict struct {
	At     time.Time
	None   bool // no verify has run yet: Text says so
	OK     bool
	Text   string
	Report client.VerifyReport
}

const verifyFresh = 10 * time.Second // a verdict younger than this is reused

// lastVerify (GET /cluster/verify) shows the latest verdict and proposes
// nothing: a GET is what any page can make a browser send (an <img src>).
func (c *Console) lastVerify(w http.ResponseWriter, _ *http.Request) {
	v := c.lastVerdict()
	if v == nil {
		v = &verdict{None: true, Text: "not verified yet: press “verify now”"}
	}
	c.render(w, "verify", v)
}

// verify (POST /cluster/verify, behind sameOrigin) runs `cluster verify`,
// which proposes a digest entry through Raft, unless a verdict younger
// than verifyFresh exists and the form does not ask for a fresh one
// (fresh=1). It renders the verdict.
func (c *Console) verify(w http.ResponseWriter, r *http.Request) {
	c.verifyRun.Lock() // one run at a time; a request that waited reuses its verdict
	defer c.verifyRun.Unlock()
	v := c.lastVerdict()
	if v == nil || time.Since(v.At) > verifyFresh || r.FormValue("fresh") != "" {
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		var rep client.VerifyReport
		cl, err := c.lc.get()
		if err == nil {
			rep, err = cl.VerifyCluster(ctx)
		}
		v = &verdict{At: time.Now(), Report: rep}
		switch {
		case err != nil:
			v.Text = "could not verify: " + err.Error()
		case rep.OK():
			v.OK, v.Text = true, fmt.Sprintf("every node holds the same state at Raft index %d (%d nodes)", rep.Index, len(rep.Nodes))
		default:
			v.Text = rep.Err().Error()
		}
		c.setVerdict(v)
	}
	c.render(w, "verify", v)
}

// apiSnapshot serves the latest snapshot as JSON, for scripts and tests.
func (c *Console) apiSnapshot(w http.ResponseWriter, _ *http.Request) {
	snap, _ := c.smp.current()
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(snap)
}

var funcs = template.FuncMap{
	"bytes":     humanBytes,
	"retention": retention,
	"since":     func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
	"clock":     func(t time.Time) string { return t.Format("15:04:05") },
	"ratesChart": func(s *snapshot) template.HTML {
		var prod, fetch []point
		for _, p := range s.Rates {
			prod = append(prod, point{p.At, p.Produce})
			fetch = append(fetch, point{p.At, p.Fetch})
		}
		var first time.Time
		if len(s.Rates) > 0 {
			first = s.Rates[0].At
		}
		return lineChart("produce and fetch rates", "/s", s.At, chartWindow(first, s.At),
			[]series{{Name: "produced records/s", Points: prod}, {Name: "fetched records/s", Points: fetch}})
	},
	"lagChart": func(s *snapshot, g *groupRow) template.HTML {
		var ss []series
		first := s.At
		for part, h := range g.LagHistory {
			if len(h) > 0 && h[0].At.Before(first) {
				first = h[0].At
			}
			var pts []point
			for _, p := range h {
				pts = append(pts, point{p.At, float64(p.Lag)})
			}
			ss = append(ss, series{Name: part, Points: pts})
		}
		sortSeries(ss)
		return lineChart("lag of group "+g.Group, "", s.At, chartWindow(first, s.At), ss)
	},
	"lastRate": func(s *snapshot) ratePoint {
		if len(s.Rates) == 0 {
			return ratePoint{}
		}
		return s.Rates[len(s.Rates)-1]
	},
	"topicSize": func(t broker.TopicState) int64 {
		var n int64
		for _, p := range t.Partitions {
			n += p.SizeBytes
		}
		return n
	},
	"topicRecords": func(t broker.TopicState) int64 {
		var n int64
		for _, p := range t.Partitions {
			n += p.HighWatermark - p.StartOffset
		}
		return n
	},
	"join": strings.Join,
	"add":  func(a, b int) int { return a + b },
	"sub":  func(a, b int64) int64 { return a - b },
}

// chartWindow is the span a chart shows: from its first sample (first;
// zero: none yet) to end, at least 30 seconds and at most the history
// kept (two minutes at the default interval).
func chartWindow(first, end time.Time) time.Duration {
	const least, most = 30 * time.Second, historyLen * time.Second
	if first.IsZero() {
		return least
	}
	return min(max(end.Sub(first), least), most)
}

func sortSeries(ss []series) {
	for i := 1; i < len(ss); i++ {
		for j := i; j > 0 && ss[j].Name < ss[j-1].Name; j-- {
			ss[j], ss[j-1] = ss[j-1], ss[j]
		}
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// retention describes a topic's retention limits.
func retention(t broker.TopicState) string {
	var parts []string
	if t.RetentionBytes > 0 {
		parts = append(parts, humanBytes(t.RetentionBytes)+" per partition")
	}
	if t.Retention > 0 {
		parts = append(parts, t.Retention.String())
	}
	if len(parts) == 0 {
		return "unlimited"
	}
	return strings.Join(parts, ", ")
}
