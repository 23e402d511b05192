package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/console"
	"github.com/minibroker/minibroker/lab"
)

// chromiumPath finds Debian's Chromium (or another Chrome) on PATH. The
// tests skip without one, unless MINIBROKER_BROWSER_REQUIRED is set.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("MINIBROKER_BROWSER_REQUIRED") != "" {
		t.Fatal("no chromium on PATH (install Debian's chromium package)")
	}
	t.Skip("no chromium on PATH (install Debian's chromium package; MINIBROKER_BROWSER_REQUIRED=1 makes this fatal)")
	return ""
}

// browser is a headless Chromium tab that records what the page writes
// to its console.
type browser struct {
	ctx context.Context
	mu  sync.Mutex // guards errs
	// errs are the console errors, uncaught exceptions and browser-log
	// errors (failed loads, refused scripts) seen so far.
	errs []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), // a fresh profile
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, attaches the tab
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{ctx: ctx}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errs = append(b.errs, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// consoleErrors returns the errors seen since the last call.
func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	errs := b.errs
	b.errs = nil
	return errs
}

// do runs actions, failing the test with what on error.
func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitJS polls the JavaScript expression until it is truthy, for up to
// 60s. A poll cut short by a navigation (a form submitted) starts again
// on the new page.
func (b *browser) waitJS(t *testing.T, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](expr,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil || !navigating(err) {
			t.Fatalf("waiting for %s (%s): %v", what, expr, err)
		}
	}
}

// eval evaluates a JavaScript expression into T.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// screenshotDir is where the screenshots go: MINIBROKER_SCREENSHOTS, or
// a directory under the test's temporary directory. It says which.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MINIBROKER_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// screenshot writes the whole page to dir/name.png.
func (b *browser) screenshot(t *testing.T, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// served is a console of node 0 of a three-node cluster, on httptest.
type served struct {
	url string
	cl  *client.Client
}

func serve(t *testing.T, write bool, sizes lab.Sizes) *served {
	t.Helper()
	c := brokertest.NewCluster(t, 3)
	c.WaitLeader()
	con, err := console.New(console.Config{Broker: c.Broker(0), Write: write, Interval: 250 * time.Millisecond,
		LabDir: t.TempDir(), LabSizes: sizes})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(con)
	t.Cleanup(func() { srv.Close(); con.Close() })
	cl, err := client.New(client.Config{Brokers: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return &served{url: srv.URL, cl: cl}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// order is a produced message as the test expects to see it.
type order struct {
	offset int64
	key    string
	value  string
}

// fill creates topics and a group and returns what went to orders/0.
func fill(t *testing.T, s *served) []order {
	t.Helper()
	ctx := ctxT(t)
	for name, parts := range map[string]int32{"orders": 3, "audit": 1} {
		if err := s.cl.CreateTopic(ctx, name, client.TopicConfig{Partitions: parts, RetentionMs: 7 * 24 * 3600 * 1000}); err != nil {
			t.Fatal(err)
		}
	}
	p := s.cl.Producer(client.ProducerConfig{Acks: client.AcksAll, Partitioner: client.ManualPartitioner{}})
	defer p.Close()
	var want []order
	for i := range 30 {
		key := fmt.Sprintf("customer-%d", i%7)
		value := fmt.Sprintf(`{"order":%d,"customer":%q,"items":[{"sku":"BK-%03d","qty":%d}],"total":%d.50}`, i, key, i, 1+i%3, 10+i)
		res, err := p.Produce(ctx, client.Message{Topic: "orders", Partition: int32(i % 3), Key: []byte(key), Value: []byte(value),
			Headers: []client.Header{{Key: "source", Value: []byte("web")}}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Partition == 0 {
			want = append(want, order{res.Offset, key, value})
		}
	}
	for i := range 5 {
		if _, err := p.Produce(ctx, client.Message{Topic: "audit", Value: []byte(fmt.Sprintf("login user%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := s.cl.Consumer(client.ConsumerConfig{Group: "billing", Topics: []string{"orders"}, ManualCommit: true, MaxPollRecords: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cons.Close() })
	for got := 0; got < 8; {
		recs, err := cons.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := cons.Commit(ctx, recs...); err != nil {
			t.Fatal(err)
		}
		got += len(recs)
	}
	return want
}

// TestPagesInBrowser loads every page in Chromium: no console errors,
// live updates connected, the message browser shows what was produced.
func TestPagesInBrowser(t *testing.T) {
	s := serve(t, true, lab.Sizes{})
	want := fill(t, s)
	b := newBrowser(t)
	shots := screenshotDir(t)

	for _, pg := range []struct {
		path, shot, ready string
	}{
		{"/cluster", "console-cluster", `document.querySelector("#verify-verdict") && document.querySelectorAll("tr[data-node]").length === 3 && document.querySelector("tr.role-leader")`},
		{"/topics", "console-topics", `document.querySelector('tr[data-topic="orders"]')`},
		{"/groups", "console-groups", `document.querySelector('tr[data-group="billing"]')`},
		{"/groups/billing", "console-group", `document.querySelector('svg[aria-label="lag of group billing"] polyline')`},
		{"/lab", "", `document.querySelector("#lab-summary").textContent.length > 0`},
	} {
		b.do(t, "load "+pg.path, chromedp.Navigate(s.url+pg.path))
		b.waitJS(t, pg.path+" ready", pg.ready)
		if live := eval[string](t, b, `document.body.dataset.live || ""`); live != "" {
			b.waitJS(t, pg.path+" live", `document.querySelector("#live-status.on")`)
		}
		if pg.shot != "" {
			b.screenshot(t, shots, pg.shot)
		}
		if errs := b.consoleErrors(); len(errs) > 0 {
			t.Fatalf("%s: console errors:\n%s", pg.path, strings.Join(errs, "\n"))
		}
	}

	// The message browser shows what was produced to orders/0: offsets,
	// keys, pretty-printed JSON values, headers.
	b.do(t, "load the message browser", chromedp.Navigate(s.url+"/topics/orders?partition=0"))
	b.waitJS(t, "messages", `document.querySelectorAll("table.messages tbody tr").length > 0`)
	type row struct {
		Offset  string `json:"offset"`
		Key     string `json:"key"`
		Value   string `json:"value"`
		Headers string `json:"headers"`
	}
	rows := eval[[]row](t, b, `[...document.querySelectorAll("table.messages tbody tr")].map(tr => ({
		offset: tr.dataset.offset, key: tr.cells[2].innerText.trim(), value: tr.cells[3].innerText.trim(), headers: tr.cells[4].innerText.trim()}))`)
	if len(rows) != len(want) {
		t.Fatalf("the browser shows %d messages of orders/0, %d were produced: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		var wantValue bytes.Buffer // as produced, indented: keys in their order
		json.Indent(&wantValue, []byte(w.value), "", "  ")
		r := rows[i]
		if r.Offset != fmt.Sprint(w.offset) || r.Key != w.key || r.Value != wantValue.String() || r.Headers != "source: web" {
			t.Fatalf("row %d shows %+v, want offset %d key %s headers source: web value\n%s", i, r, w.offset, w.key, wantValue.String())
		}
	}
	b.screenshot(t, shots, "console-messages")

	// From an offset, and the next page link.
	b.do(t, "read from offset 3", chromedp.SetValue(chromedp.CSS(`#browse input[name="offset"]`), "3"),
		chromedp.SetValue(chromedp.CSS(`#browse input[name="limit"]`), "2"), chromedp.Click(chromedp.CSS(`#browse button`)))
	b.waitJS(t, "two messages from offset 3", `[...document.querySelectorAll("table.messages tbody tr")].map(tr => tr.dataset.offset).join() === "3,4"`)
	b.do(t, "next page", chromedp.Click(chromedp.ID("next-page")))
	b.waitJS(t, "the next two", `[...document.querySelectorAll("table.messages tbody tr")].map(tr => tr.dataset.offset).join() === "5,6"`)

	// The live topic list picks up a topic created elsewhere.
	b.do(t, "topics", chromedp.Navigate(s.url+"/topics"))
	b.waitJS(t, "live", `document.querySelector("#live-status.on")`)
	if err := s.cl.CreateTopic(ctxT(t), "arrived-later", client.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	b.waitJS(t, "the new topic, without a reload", `document.querySelector('tr[data-topic="arrived-later"]')`)
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// labOutcome is the JSON of GET /lab/runs/{id}.
type labOutcome struct {
	Ended  bool        `json:"ended"`
	Error  string      `json:"error"`
	Rows   []lab.Row   `json:"rows"`
	Ledger []lab.Entry `json:"ledger"`
	Lost   int         `json:"lost"`
	Dups   int         `json:"duplicated"`
}

// TestLabLeaderKillInBrowser starts a lab run from the page, presses
// "kill the leader" mid-run, and checks that the timeline shows the kill
// and then another node elected, and that the ledger the page shows
// matches what the checker counted.
func TestLabLeaderKillInBrowser(t *testing.T) {
	s := serve(t, false, lab.Sizes{Messages: 1600, Burst: 4, Pace: 10 * time.Millisecond})
	b := newBrowser(t)
	shots := screenshotDir(t)
	b.do(t, "load the lab", chromedp.Navigate(s.url+"/lab"),
		chromedp.SetValue(chromedp.ID("lab-scenario"), "acks1-leader-alone"),
		chromedp.Click(chromedp.ID("lab-go")))
	b.waitJS(t, "bursts acknowledged", `document.querySelectorAll('#lab-timeline li[data-kind="ack"]').length >= 20`)
	b.waitJS(t, "the kill button enabled", `!document.querySelector('button[data-fault="kill-leader"]').disabled`)
	b.do(t, "press kill", chromedp.Click(chromedp.CSS(`button[data-fault="kill-leader"]`)))
	b.waitJS(t, "the ledger", `document.querySelector("#lab-verdict")`)

	type item struct {
		Kind string `json:"kind"`
		Node string `json:"node"`
		Text string `json:"text"`
	}
	items := eval[[]item](t, b, `[...document.querySelectorAll("#lab-timeline li")].map(li => ({kind: li.dataset.kind, node: li.dataset.node || "", text: li.textContent}))`)
	// The leader at the moment of the kill may not be the first one (a
	// busy machine can cause an election of its own): compare with the
	// node the kill names.
	killed, victim, elected := -1, "", ""
	for i, it := range items {
		switch {
		case it.Kind == "fault" && strings.Contains(it.Text, "(the leader) killed"):
			killed, victim = i, it.Node
		case it.Kind == "leader" && killed >= 0 && elected == "":
			elected = it.Node
		}
	}
	if killed < 0 || victim == "" || elected == "" || elected == victim {
		t.Fatalf("want the leader killed, then another node elected on the timeline (killed %q, elected %q):\n%+v", victim, elected, items)
	}
	if !strings.Contains(eval[string](t, b, `document.querySelector("#lab-chart svg").outerHTML`), `class="mark leader"`) {
		t.Fatal("the timeline chart marks no leader change")
	}

	resp, err := http.Get(s.url + "/lab/runs/1")
	if err != nil {
		t.Fatal(err)
	}
	var out labOutcome
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || !out.Ended || out.Error != "" || len(out.Rows) != 1 {
		t.Fatalf("outcome: %+v %v", out, err)
	}
	row := out.Rows[0]
	type shown struct {
		Lost, Dups, LostRows, DupRows int
		Totals                        []string
	}
	page := eval[shown](t, b, `({
		Lost: +document.querySelector("#lab-verdict").dataset.lost,
		Dups: +document.querySelector("#lab-verdict").dataset.duplicated,
		LostRows: document.querySelectorAll('tr[data-fate="lost"]').length,
		DupRows: document.querySelectorAll('tr[data-fate="duplicated"]').length,
		Totals: [...document.querySelectorAll("#lab-totals tbody tr td")].map(td => td.textContent.trim())})`)
	wantTotals := []string{row.Scenario, fmt.Sprint(row.Sent), fmt.Sprint(row.Acked), fmt.Sprint(row.Delivered), fmt.Sprint(row.Lost), fmt.Sprint(row.Duplicated), "–"}
	if page.Lost != row.Lost || page.Dups != row.Duplicated || page.LostRows != row.Lost || page.DupRows != row.Duplicated ||
		strings.Join(page.Totals, "|") != strings.Join(wantTotals, "|") {
		t.Fatalf("the page shows %+v; the checker counted %+v", page, row)
	}
	t.Logf("lab run: %+v", row)
	b.screenshot(t, shots, "console-lab")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// navigating reports whether err is a script evaluation cut short by the
// page going away.
func navigating(err error) bool {
	for _, s := range []string{"navigated", "context was destroyed", "Cannot find context"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}
