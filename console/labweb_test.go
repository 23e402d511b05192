package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/minibroker/minibroker/lab"
)

// TestLabOverHTTP plays a lab run through the handlers as the page does:
// start, follow the stream, cut the leader off mid-run, read the ledger.
func TestLabOverHTTP(t *testing.T) {
	f := newFixture(t, false) // the lab runs on a read-only console: it never touches the node
	post := func(path string, form url.Values) (int, map[string]string) {
		resp, err := http.PostForm(f.srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var j map[string]string
		json.NewDecoder(resp.Body).Decode(&j)
		return resp.StatusCode, j
	}
	if code, _ := post("/lab/runs", url.Values{"scenario": {"nope"}}); code != http.StatusBadRequest {
		t.Fatalf("unknown scenario: %d", code)
	}
	code, started := post("/lab/runs", url.Values{"scenario": {"acks1-leader-cut-off"}})
	if code != http.StatusCreated || started["fault"] != string(lab.FaultCutLeader) {
		t.Fatalf("start: %d %v", code, started)
	}
	id := started["id"]
	if code, j := post("/lab/runs", url.Values{"scenario": {"retry-duplicate"}}); code != http.StatusConflict {
		t.Fatalf("second run while one runs: %d %v", code, j)
	}
	if code, _ := post("/lab/runs/"+id+"/fault", url.Values{"fault": {"crash-consumer"}}); code != http.StatusConflict {
		t.Fatalf("wrong fault: %d", code)
	}

	resp, err := http.Get(f.srv.URL + "/lab/runs/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var (
		events      []lab.Event
		struck      bool
		charts      int
		ledger      string
		cutNode     string
		faultSeq    int64
		leaderAfter string
	)
	readSSE(t, resp.Body, func(ev sseEvent) bool {
		switch ev.name {
		case "event":
			var e lab.Event
			if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
				t.Fatal(err)
			}
			events = append(events, e)
			switch {
			case e.Kind == lab.KindFault && faultSeq == 0:
				faultSeq, cutNode = e.Seq, e.Node
			case e.Kind == lab.KindLeader && faultSeq > 0 && leaderAfter == "":
				leaderAfter = e.Node
			case e.Kind == lab.KindAck && !struck:
				struck = true
				if code, j := post("/lab/runs/"+id+"/fault", url.Values{"fault": {"cut-leader"}}); code != http.StatusNoContent {
					t.Fatalf("fault: %d %v", code, j)
				}
			}
		case "chart":
			charts++
		case "result":
			json.Unmarshal([]byte(ev.data), &ledger)
		case "end":
			return true
		}
		return false
	})
	if faultSeq == 0 || cutNode == "" || leaderAfter == "" || leaderAfter == cutNode {
		t.Fatalf("want the cut, then a new leader (cut %s, elected %q):\n%v", cutNode, leaderAfter, events)
	}
	for i, e := range events {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: events skipped or repeated", i, e.Seq)
		}
	}
	if charts == 0 {
		t.Fatal("no chart updates")
	}
	code, body := f.get(t, "/lab/runs/"+id)
	var out labOutcome
	if err := json.Unmarshal([]byte(body), &out); code != http.StatusOK || err != nil || !out.Ended || out.Error != "" {
		t.Fatalf("outcome: %d %v %s", code, err, body)
	}
	lost := 0
	for _, e := range out.Ledger {
		if e.Fate == lab.FateLost {
			lost++
		}
	}
	if lost != out.Lost || len(out.Rows) != 1 || out.Rows[0].Lost != out.Lost {
		t.Fatalf("ledger has %d lost entries, the checker counted %d: %+v", lost, out.Lost, out.Rows)
	}
	if want := fmt.Sprintf(`data-lost="%d" data-duplicated="%d"`, out.Lost, out.Dups); !strings.Contains(ledger, want) ||
		strings.Count(ledger, `data-fate="lost"`) != out.Lost {
		t.Fatalf("ledger HTML lacks %s or has the wrong number of lost rows:\n%s", want, ledger)
	}
	t.Logf("cut-off run: %+v", out.Rows[0])
}

// TestLabPageFollowsRunUnderWay: a lab page served while a run is under
// way names it, so the page follows it instead of offering a start that
// would be refused.
func TestLabPageFollowsRunUnderWay(t *testing.T) {
	f := newFixture(t, false)
	if _, body := f.get(t, "/lab"); strings.Contains(body, "data-running=") {
		t.Fatalf("no run yet, but the page names one:\n%s", body)
	}
	id, run, err := f.con.labs.start("commit-after-processing")
	if err != nil {
		t.Fatal(err)
	}
	defer run.Stop()
	_, body := f.get(t, "/lab")
	if want := `data-running="` + id + `" data-running-scenario="commit-after-processing" data-running-fault="crash-consumer"`; !strings.Contains(body, want) {
		t.Fatalf("page lacks %s:\n%s", want, body)
	}
}
