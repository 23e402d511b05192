package console

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/lab"
)

// fixture is a one-node broker with a console served by httptest.
type fixture struct {
	b   *broker.Broker
	cl  *client.Client
	con *Console
	srv *httptest.Server
}

func newFixture(t *testing.T, write bool) *fixture {
	t.Helper()
	b := brokertest.NewBroker(t)
	cl, err := client.New(client.Config{Brokers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	con, err := New(Config{Broker: b, Write: write, Interval: 50 * time.Millisecond, LabDir: t.TempDir(),
		LabSizes: lab.Sizes{Messages: 400, Burst: 4, Pace: 5 * time.Millisecond, Retry: 10, Group: 40, Batch: 5}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(con)
	t.Cleanup(func() { con.Close(); srv.Close() })
	return &fixture{b: b, cl: cl, con: con, srv: srv}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// get fetches path and returns its status and body.
func (f *fixture) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitFor polls cond every 20ms for up to 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestNewNeedsBroker(t *testing.T) {
	if _, err := New(Config{}); err != ErrNoBroker {
		t.Fatalf("New without broker: %v", err)
	}
}

func TestPages(t *testing.T) {
	f := newFixture(t, false)
	ctx := ctxT(t)
	if err := f.cl.CreateTopic(ctx, "orders", client.TopicConfig{Partitions: 2, RetentionMs: 3600_000}); err != nil {
		t.Fatal(err)
	}
	p := f.cl.Producer(client.ProducerConfig{Acks: client.AcksAll, Partitioner: client.ManualPartitioner{}})
	defer p.Close()
	msgs := []client.Message{
		{Topic: "orders", Key: []byte("k1"), Value: []byte(`{"id":1,"items":["book"]}`), Headers: []client.Header{{Key: "trace", Value: []byte("abc")}}},
		{Topic: "orders", Value: []byte("plain <text>")},
		{Topic: "orders", Value: []byte{0xff, 0x00, 0xfe}},
	}
	for _, m := range msgs {
		if _, err := p.Produce(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the sampler to see the topic", func() bool {
		snap, _ := f.con.smp.current()
		return len(snap.Topics) == 1 && len(snap.Nodes) == 1 && snap.Nodes[0].Role == "leader"
	})
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/cluster", []string{`data-node="n1"`, `<td class="role">leader</td>`, `aria-label="produce and fetch rates"`, `data-live="page=cluster"`}},
		{"/topics", []string{`<a href="/topics/orders">orders</a>`, "1h0m0s", "read-only"}},
		{"/topics/orders?partition=0", []string{
			`<pre class="json">{
  &#34;id&#34;: 1,`, // pretty-printed and escaped
			`<span class="hkey">trace</span>: <span class="text">abc</span>`,
			`<span class="text">plain &lt;text&gt;</span>`,
			`<pre class="binary"`,
			`data-offset="2"`,
		}},
		{"/topics/orders?partition=0&offset=1&limit=1", []string{`data-offset="1"`, `offset=2&amp;limit=1`}},
		{"/groups", []string{"No consumer groups yet."}},
		{"/lab", []string{`<option value="acks1-leader-cut-off" data-fault="cut-leader"`, `data-fault="kill-leader"`}},
		{"/static/console.js", []string{"EventSource"}},
		{"/static/console.css", []string{"svg.chart"}},
	} {
		code, body := f.get(t, tc.path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d\n%s", tc.path, code, body)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Fatalf("%s lacks %q:\n%s", tc.path, w, body)
			}
		}
	}
	if code, _ := f.get(t, "/topics/nope"); code != http.StatusNotFound {
		t.Fatalf("unknown topic: %d", code)
	}
	if code, body := f.get(t, "/topics/orders?partition=0&offset=x"); code != http.StatusOK || !strings.Contains(body, `offset &#34;x&#34;`) {
		t.Fatalf("bad offset: %d %s", code, body)
	}
	resp, err := http.Post(f.srv.URL+"/cluster/verify", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	vb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(vb), "every node holds the same state") {
		t.Fatalf("verify: %d %s", resp.StatusCode, vb)
	}
	code, body := f.get(t, "/api/snapshot")
	var snap snapshot
	if err := json.Unmarshal([]byte(body), &snap); code != http.StatusOK || err != nil || snap.Topics[0].Name != "orders" {
		t.Fatalf("snapshot: %d %v %s", code, err, body)
	}
}

func TestGroupPage(t *testing.T) {
	f := newFixture(t, false)
	ctx := ctxT(t)
	if err := f.cl.CreateTopic(ctx, "events", client.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	p := f.cl.Producer(client.ProducerConfig{Acks: client.AcksAll})
	defer p.Close()
	for range 5 {
		if _, err := p.Produce(ctx, client.Message{Topic: "events", Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := f.cl.Consumer(client.ConsumerConfig{Group: "billing", Topics: []string{"events"}, ManualCommit: true, MaxPollRecords: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	recs, err := cons.Poll(ctx)
	for err == nil && len(recs) == 0 {
		recs, err = cons.Poll(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Commit(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the group's lag", func() bool {
		snap, _ := f.con.smp.current()
		g := snap.group("billing")
		return g != nil && len(g.Members) == 1 && g.TotalLag == 5-int64(len(recs)) && len(g.LagHistory["events/0"]) >= 2
	})
	code, body := f.get(t, "/groups/billing")
	for _, w := range []string{`<strong>Stable</strong>`, `<span class="tp">events/0</span>`, `aria-label="lag of group billing"`, `<polyline class="line s0"`} {
		if code != http.StatusOK || !strings.Contains(body, w) {
			t.Fatalf("group page (%d) lacks %q:\n%s", code, w, body)
		}
	}
	if _, body := f.get(t, "/groups"); !strings.Contains(body, `data-group="billing"`) {
		t.Fatalf("groups page lacks billing:\n%s", body)
	}
	if _, body := f.get(t, "/groups/nobody"); !strings.Contains(body, "No group nobody") {
		t.Fatalf("unknown group:\n%s", body)
	}
}

func TestWritesNeedFlag(t *testing.T) {
	ro := newFixture(t, false)
	form := url.Values{"name": {"t1"}, "partitions": {"3"}}
	resp, err := http.PostForm(ro.srv.URL+"/topics", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("read-only create: %d", resp.StatusCode)
	}
	if topics, _ := ro.cl.ListTopics(ctxT(t)); len(topics) != 0 {
		t.Fatalf("read-only console created %v", topics)
	}

	rw := newFixture(t, true)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values, origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, rw.srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post("/topics", form, "http://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin create: %d", resp.StatusCode)
	}
	resp = post("/topics", form, rw.srv.URL)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "created") {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	topics, err := rw.cl.ListTopics(ctxT(t))
	if err != nil || len(topics) != 1 || len(topics[0].Partitions) != 3 {
		t.Fatalf("after create: %v %v", topics, err)
	}
	if resp := post("/groups/g/reset", url.Values{"topic": {"t1"}, "to": {"sideways"}}, ""); !strings.Contains(resp.Header.Get("Location"), "want+earliest") {
		t.Fatalf("bad reset: %s", resp.Header.Get("Location"))
	}
	// A real reset: a group commits, leaves, and is reset to the start.
	ctx := ctxT(t)
	p := rw.cl.Producer(client.ProducerConfig{Acks: client.AcksAll, Partitioner: client.ManualPartitioner{}})
	for range 3 {
		if _, err := p.Produce(ctx, client.Message{Topic: "t1", Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	cons, err := rw.cl.Consumer(client.ConsumerConfig{Group: "g", Topics: []string{"t1"}, ManualCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	for committed := 0; committed < 3; {
		recs, err := cons.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := cons.Commit(ctx, recs...); err != nil {
			t.Fatal(err)
		}
		committed += len(recs)
	}
	cons.Close()
	if resp := post("/groups/g/reset", url.Values{"topic": {"t1"}, "to": {"earliest"}}, rw.srv.URL); !strings.Contains(resp.Header.Get("Location"), "3+partitions+of+t1+reset") {
		t.Fatalf("reset: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	d, err := rw.cl.DescribeGroup(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range d.Offsets {
		if o.Committed != 0 {
			t.Fatalf("after the reset to earliest: %+v", d.Offsets)
		}
	}
	if resp := post("/topics/t1/delete", nil, ""); resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "deleted") {
		t.Fatalf("delete: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if topics, _ := rw.cl.ListTopics(ctxT(t)); len(topics) != 0 {
		t.Fatalf("after delete: %v", topics)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct{ name, data string }

// readSSE reads events from r until stop returns true or the stream ends.
func readSSE(t *testing.T, r io.Reader, stop func(sseEvent) bool) {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" && stop(ev) {
				return
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data += strings.TrimPrefix(line, "data: ")
		}
	}
	t.Fatalf("stream ended: %v", sc.Err())
}

func TestLiveFragments(t *testing.T) {
	f := newFixture(t, false)
	ctx := ctxT(t)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/live?page=topics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	created := false
	readSSE(t, resp.Body, func(ev sseEvent) bool {
		var fr fragment
		if ev.name != "fragment" || json.Unmarshal([]byte(ev.data), &fr) != nil || fr.ID != "topics" {
			t.Fatalf("unexpected event %+v", ev)
		}
		if !created { // the first update shows no topic; create one, and see it come
			created = true
			if err := f.cl.CreateTopic(ctx, "fresh", client.TopicConfig{}); err != nil {
				t.Fatal(err)
			}
		}
		return strings.Contains(fr.HTML, `data-topic="fresh"`)
	})
	if code, _ := f.get(t, "/live?page=nope"); code != http.StatusBadRequest {
		t.Fatalf("unknown live page: %d", code)
	}
}

func TestBrowseFromTime(t *testing.T) {
	f := newFixture(t, false)
	ctx := ctxT(t)
	if err := f.cl.CreateTopic(ctx, "clock", client.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	p := f.cl.Producer(client.ProducerConfig{Acks: client.AcksAll})
	defer p.Close()
	base := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	for i := range 10 {
		if _, err := p.Produce(ctx, client.Message{Topic: "clock", Value: []byte{byte('a' + i)}, Timestamp: base.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		at   string
		want int64
	}{
		{"2026-01-02T10:03:00Z", 3}, {"2026-01-02T10:03:30Z", 4}, {"2026-01-01T00:00:00Z", 0}, {"2027-01-01T00:00:00Z", 10},
	} {
		res := f.con.browse(ctx, "clock", url.Values{"time": {tc.at}, "limit": {"2"}})
		if res.Err != "" || res.Start != tc.want {
			t.Fatalf("from %s: start %d (err %q), want %d", tc.at, res.Start, res.Err, tc.want)
		}
		if tc.want < 10 && (len(res.Records) != 2 || res.Records[0].Offset != tc.want) {
			t.Fatalf("from %s: %+v", tc.at, res.Records)
		}
	}
	if res := f.con.browse(ctx, "clock", url.Values{"time": {"yesterday"}}); !strings.Contains(res.Err, "RFC 3339") {
		t.Fatalf("bad time: %+v", res)
	}
}

func TestShowBytes(t *testing.T) {
	for _, tc := range []struct {
		in         []byte
		kind, text string
	}{
		{nil, "null", ""},
		{[]byte(`{"a":1}`), "json", "{\n  \"a\": 1\n}"},
		{[]byte(`[1, 2]`), "json", "[\n  1,\n  2\n]"},
		{[]byte(`{"a":`), "text", `{"a":`},
		{[]byte("héllo"), "text", "héllo"},
		{[]byte{0xff, 0x01}, "binary", "00000000  ff 01"},
	} {
		got := showBytes(tc.in)
		if got.Kind != tc.kind || !strings.HasPrefix(got.Text, tc.text) {
			t.Fatalf("showBytes(%q) = %+v, want %s %q", tc.in, got, tc.kind, tc.text)
		}
	}
	big := showBytes([]byte(strings.Repeat("x", previewMax+1)))
	if !big.Clipt || len(big.Text) != previewMax || big.Size != previewMax+1 {
		t.Fatalf("a big value is clipped: %v %d %d", big.Clipt, len(big.Text), big.Size)
	}
}

func TestLineChart(t *testing.T) {
	now := time.Now()
	svg := string(lineChart("t <x>", "/s", now, time.Minute, []series{
		{Name: "a", Points: []point{{now.Add(-30 * time.Second), 3}, {now, 7}}},
		{Name: "b&c", Points: []point{{now.Add(-2 * time.Minute), 100}}}, // outside the window
	}))
	for _, w := range []string{`aria-label="t &lt;x&gt;"`, `<polyline class="line s0"`, ">10/s<", `<span class="key s1">b&amp;c</span>`} {
		if !strings.Contains(svg, w) {
			t.Fatalf("chart lacks %q:\n%s", w, svg)
		}
	}
	if strings.Contains(svg, `class="line s1"`) {
		t.Fatalf("a series outside the window is drawn:\n%s", svg)
	}
	for v, want := range map[float64]float64{0: 1, 7: 10, 11: 20, 130: 200, 4800: 5000} {
		if got := niceCeil(v); got != want {
			t.Fatalf("niceCeil(%v) = %v, want %v", v, got, want)
		}
	}
}

// TestConsoleBeforeClusterAnswers: the console starts even when its node
// does not answer clients yet (serve starts it beside a node that may
// still be replaying its log), shows why, and connects once it can.
func TestConsoleBeforeClusterAnswers(t *testing.T) {
	c := brokertest.NewCluster(t, 1)
	b := c.Broker(0)
	c.Kill(0) // nothing answers at its address now
	con, err := New(Config{Broker: b, Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("New with a node that does not answer: %v", err)
	}
	defer con.Close()
	srv := httptest.NewServer(con)
	defer srv.Close()
	waitFor(t, "a sample", func() bool {
		snap, _ := con.smp.current()
		return snap.ClusterErr != ""
	})
	f := &fixture{srv: srv}
	code, body := f.get(t, "/cluster")
	if code != http.StatusOK || !strings.Contains(body, "cluster status unavailable") || !strings.Contains(body, "not reachable") {
		t.Fatalf("/cluster: %d\n%s", code, body)
	}
}
