package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minibroker/minibroker/lab"
)

// The delivery lab: one run at a time per console (each is a three-node
// cluster inside the process); the last few finished runs stay readable.

const keptRuns = 4

// labRuns owns the console's lab runs. Safe for concurrent use.
type labRuns struct {
	dir   string
	sizes lab.Sizes

	mu    sync.Mutex // guards next, runs and order
	next  int
	runs  map[string]*lab.Run
	order []string // ids, oldest first
}

func newLabRuns(dir string, sizes lab.Sizes) *labRuns {
	return &labRuns{dir: dir, sizes: sizes, runs: map[string]*lab.Run{}}
}

// errRunning is returned by start while another run is under way.
var errRunning = errors.New("a lab run is under way: wait for it to end or stop it")

// start starts scenario name in manual mode and returns its id.
func (l *labRuns) start(name string) (string, *lab.Run, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.runs {
		if _, ended, _ := r.Outcome(); !ended {
			return "", nil, errRunning
		}
	}
	run, err := lab.Start(context.Background(), name, lab.Options{Seed: uint64(time.Now().UnixNano()), Manual: true, Dir: l.dir, Sizes: l.sizes})
	if err != nil {
		return "", nil, err
	}
	l.next++
	id := strconv.Itoa(l.next)
	l.runs[id] = run
	l.order = append(l.order, id)
	if len(l.order) > keptRuns {
		delete(l.runs, l.order[0])
		l.order = l.order[1:]
	}
	return id, run, nil
}

// running returns the id and run under way, if one is.
func (l *labRuns) running() (string, *lab.Run) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, r := range l.runs {
		if _, ended, _ := r.Outcome(); !ended {
			return id, r
		}
	}
	return "", nil
}

func (l *labRuns) get(id string) *lab.Run {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runs[id]
}

// stopAll stops every run and blocks until they have ended.
func (l *labRuns) stopAll() {
	l.mu.Lock()
	runs := make([]*lab.Run, 0, len(l.runs))
	for _, r := range l.runs {
		runs = append(runs, r)
	}
	l.mu.Unlock()
	for _, r := range runs {
		r.Stop()
	}
}

// labScenario is a scenario as the lab page lists it.
type labScenario struct {
	Name, Summary string
	Fault         lab.Fault
}

// labData is the lab page's own data.
type labData struct {
	Scenarios []labScenario
	// Running is the run under way when the page was served ("" for
	// none): the page follows it (a reload, or a second tab).
	Running, RunningScenario string
	RunningFault             lab.Fault
}

func (c *Console) labPage(w http.ResponseWriter, r *http.Request) {
	p := c.newPage(r, "Delivery lab", "lab")
	d := &labData{}
	for _, s := range lab.Scenarios() {
		d.Scenarios = append(d.Scenarios, labScenario{s.Name, s.Summary, s.Fault})
	}
	if id, run := c.labs.running(); run != nil {
		d.Running, d.RunningScenario, d.RunningFault = id, run.Scenario.Name, run.Scenario.Fault
	}
	p.Data = d
	c.render(w, "lab.html", p)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// labStart starts the scenario of form field "scenario": 201 with
// {"id", "scenario", "fault"}; 409 while a run is under way; 400 for an
// unknown scenario.
func (c *Console) labStart(w http.ResponseWriter, r *http.Request) {
	name := r.FormValue("scenario")
	id, run, err := c.labs.start(name)
	switch {
	case errors.Is(err, errRunning):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	c.log.Info("console: lab run started", "id", id, "scenario", name)
	writeJSON(w, http.StatusCreated, map[string]string{"id": id, "scenario": name, "fault": string(run.Scenario.Fault)})
}

// labFault injects the fault of form field "fault" into run id: 204, or
// 409 with why not.
func (c *Console) labFault(w http.ResponseWriter, r *http.Request) {
	run := c.labs.get(r.PathValue("id"))
	if run == nil {
		http.NotFound(w, r)
		return
	}
	if err := run.Inject(lab.Fault(r.FormValue("fault"))); err != nil {
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// labStop abandons run id: 204 once it has ended.
func (c *Console) labStop(w http.ResponseWriter, r *http.Request) {
	run := c.labs.get(r.PathValue("id"))
	if run == nil {
		http.NotFound(w, r)
		return
	}
	run.Stop()
	w.WriteHeader(http.StatusNoContent)
}

// labOutcome is a run's end as JSON.
type labOutcome struct {
	Ended  bool        `json:"ended"`
	Error  string      `json:"error,omitempty"`
	Rows   []lab.Row   `json:"rows"`
	Ledger []lab.Entry `json:"ledger"`
	Lost   int         `json:"lost"`       // the rows' total
	Dups   int         `json:"duplicated"` // the rows' total
}

func outcomeOf(run *lab.Run) labOutcome {
	res, ended, err := run.Outcome()
	o := labOutcome{Ended: ended, Rows: res.Rows, Ledger: res.Ledger}
	if err != nil {
		o.Error = err.Error()
	}
	for _, r := range res.Rows {
		o.Lost += r.Lost
		o.Dups += r.Duplicated
	}
	return o
}

// labResult serves run id's outcome as JSON (ended false while it runs).
func (c *Console) labResult(w http.ResponseWriter, r *http.Request) {
	run := c.labs.get(r.PathValue("id"))
	if run == nil {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, outcomeOf(run))
}

// labPoll is how often a lab stream looks for new events.
const labPoll = 100 * time.Millisecond

// labEvents streams run id as server-sent events: "event" (a lab.Event
// as JSON) for each event from the query's cursor ("after", or the
// Last-Event-ID of a reconnecting browser) on, "chart" (the commit index
// chart, SVG) when it changes, and at the end "result" (the ledger, HTML)
// and "end".
func (c *Console) labEvents(w http.ResponseWriter, r *http.Request) {
	run := c.labs.get(r.PathValue("id"))
	if run == nil {
		http.NotFound(w, r)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	cursor, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		cursor, _ = strconv.ParseInt(id, 10, 64)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl.Flush()
	chart := newLabChart()
	all, _ := run.Events(0, 0) // the chart draws from the start
	for _, e := range all {
		if e.Seq <= cursor {
			chart.add(e)
		}
	}
	tick := time.NewTicker(labPoll)
	defer tick.Stop()
	for {
		_, ended, _ := run.Outcome() // before reading events: none can follow the end
		evs, next := run.Events(cursor, 500)
		for _, e := range evs {
			data, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %d\nevent: event\ndata: %s\n\n", e.Seq, data)
			chart.add(e)
		}
		if len(evs) > 0 {
			data, _ := json.Marshal(string(chart.svg(time.Since(run.Started()))))
			fmt.Fprintf(w, "event: chart\ndata: %s\n\n", data)
		}
		cursor = next
		if ended && len(evs) == 0 {
			var b strings.Builder
			if err := c.tmpl.ExecuteTemplate(&b, "ledger", outcomeOf(run)); err != nil {
				c.log.Error("console: ledger template", "error", err)
			}
			data, _ := json.Marshal(b.String())
			fmt.Fprintf(w, "event: result\ndata: %s\n\n", data)
			fmt.Fprintf(w, "event: end\ndata: {}\n\n")
			fl.Flush()
			return
		}
		fl.Flush()
		select {
		case <-tick.C:
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		}
	}
}
