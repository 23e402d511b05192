package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// fragment is a piece of a page that /live replaces: the element with ID
// gets HTML as its content.
type fragment struct {
	ID   string `json:"id"`
	HTML string `json:"html"`
}

// liveFragments lists, per page, the element ids and the templates that
// render them from a page value.
var liveFragments = map[string][][2]string{
	"cluster": {{"nodes", "frag-nodes"}, {"rates", "frag-rates"}},
	"topics":  {{"topics", "frag-topics"}},
	"topic":   {{"partitions", "frag-partitions"}},
	"groups":  {{"groups", "frag-groups"}},
	"group":   {{"group", "frag-group"}},
}

// live streams a page's fragments as server-sent events ("fragment",
// data: a JSON fragment), once per snapshot, until the client goes away or
// the console closes. Query: page (cluster, topics, topic, groups, group)
// and name (topic, group).
func (c *Console) live(w http.ResponseWriter, r *http.Request) {
	which := r.URL.Query().Get("page")
	frags, ok := liveFragments[which]
	if !ok {
		http.Error(w, "unknown page", http.StatusBadRequest)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	name := r.URL.Query().Get("name")
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fmt.Fprintf(w, "retry: 2000\n\n")
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		snap, changed := c.smp.current()
		p := &page{Node: snap.Self.ID, Write: c.cfg.Write, Snap: snap}
		switch which {
		case "topic":
			d := &topicData{}
			for _, t := range snap.Topics {
				if t.Name == name {
					d.Topic, d.Found = t, true
				}
			}
			p.Data = d
		case "group":
			p.Data = &groupData{Name: name, Group: snap.group(name)}
		}
		for _, f := range frags {
			var b strings.Builder
			if err := c.tmpl.ExecuteTemplate(&b, f[1], p); err != nil {
				c.log.Error("console: live fragment", "template", f[1], "error", err)
				return
			}
			data, _ := json.Marshal(fragment{ID: f[0], HTML: b.String()})
			fmt.Fprintf(w, "event: fragment\ndata: %s\n\n", data)
		}
		fl.Flush()
		select {
		case <-changed:
		case <-ping.C:
			fmt.Fprintf(w, ": ping\n\n")
			fl.Flush()
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		}
	}
}

func urlQuery(s string) string { return url.QueryEscape(s) }
