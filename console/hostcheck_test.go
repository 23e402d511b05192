package console

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/minibroker/minibroker/client"
)

// do sends method path to the fixture's server with the given Host,
// Origin (if not "") and form (for a POST), and returns status and body.
func (f *fixture) do(t *testing.T, method, path, host, origin string, form url.Values) (int, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends /live and lab event streams
	req, err := http.NewRequestWithContext(ctx, method, f.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Host = host
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp.StatusCode, "" // a stream: its status is the answer
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// consoleRoutes are every route of the console, reads and writes.
var consoleRoutes = []struct{ method, path string }{
	{"GET", "/"}, {"GET", "/static/console.js"}, {"GET", "/cluster"}, {"GET", "/cluster/verify"}, {"POST", "/cluster/verify"},
	{"GET", "/topics"}, {"GET", "/topics/orders"}, {"GET", "/groups"}, {"GET", "/groups/g"}, {"GET", "/live?page=cluster"},
	{"GET", "/api/snapshot"}, {"POST", "/topics"}, {"POST", "/topics/orders/delete"}, {"POST", "/groups/g/reset"},
	{"GET", "/lab"}, {"POST", "/lab/runs"}, {"GET", "/lab/runs/1"}, {"POST", "/lab/runs/1/fault"}, {"POST", "/lab/runs/1/stop"},
	{"GET", "/lab/runs/1/events"},
}

// TestRebindingHostRefused: a DNS-rebinding page (its own name in Host and
// Origin, resolving to the console's address) is refused on every route,
// reads and writes, and changes nothing; the console's own names work.
func TestRebindingHostRefused(t *testing.T) {
	f := newFixture(t, true)
	ctx := ctxT(t)
	if err := f.cl.CreateTopic(ctx, "orders", client.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(f.srv.Listener.Addr().String())
	evil := "evil.example:" + port
	for _, rt := range consoleRoutes {
		code, body := f.do(t, rt.method, rt.path, evil, "http://"+evil, url.Values{"name": {"new"}, "topic": {"orders"}, "to": {"earliest"}, "scenario": {"acks1-leader-cut-off"}})
		if code != http.StatusMisdirectedRequest || !strings.Contains(body, "not a name of this console") {
			t.Errorf("%s %s with Host %s: %d %q, want 421", rt.method, rt.path, evil, code, body)
		}
	}
	if got := topicNames(t, f); got != "orders" {
		t.Fatalf("refused writes changed the topics: %s", got)
	}
	if f.con.lastVerdict() != nil || f.con.labs.get("1") != nil {
		t.Fatal("a refused request ran a verify or a lab run")
	}

	// Negative control: the loopback names on the console's port.
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, "LocalHost.:" + port} {
		for _, path := range []string{"/cluster", "/topics/orders", "/api/snapshot", "/live?page=cluster"} {
			if code, body := f.do(t, "GET", path, host, "", nil); code != http.StatusOK {
				t.Errorf("GET %s with Host %s: %d %q", path, host, code, body)
			}
		}
	}
	own := "localhost:" + port
	if code, body := f.do(t, "POST", "/topics", own, "http://"+own, url.Values{"name": {"fromlocal"}}); code != http.StatusSeeOther {
		t.Fatalf("create topic with Host %s: %d %q", own, code, body)
	}
	if got := topicNames(t, f); got != "fromlocal,orders" {
		t.Fatalf("create topic from the console's own name: topics %s", got)
	}
}

// topicNames lists the cluster's topics, sorted, comma-separated.
func topicNames(t *testing.T, f *fixture) string {
	t.Helper()
	topics, err := f.cl.ListTopics(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tp := range topics {
		names = append(names, tp.Name)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// TestCrossSiteWritesRefused: a state-changing request a browser marks as
// cross-site or same-site (Sec-Fetch-Site) is refused even without
// Origin; same-origin passes.
func TestCrossSiteWritesRefused(t *testing.T) {
	f := newFixture(t, true)
	host := f.srv.Listener.Addr().String()
	for _, site := range []string{"cross-site", "same-site"} {
		req, _ := http.NewRequest("POST", f.srv.URL+"/topics", strings.NewReader("name=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", site)
		rec := httptest.NewRecorder()
		req.Host = host
		f.con.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "cross-site request refused") {
			t.Errorf("Sec-Fetch-Site %s: %d %q", site, rec.Code, rec.Body.String())
		}
	}
	req, _ := http.NewRequest("POST", f.srv.URL+"/topics", strings.NewReader("name=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", "http://"+host)
	rec := httptest.NewRecorder()
	f.con.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("same-origin create: %d %q", rec.Code, rec.Body.String())
	}
}

// TestHostRules: which Host headers a console bound to an address answers.
func TestHostRules(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		allowed []string
		ok, no  []string
	}{
		{"127.0.0.1:9095", nil,
			[]string{"127.0.0.1:9095", "localhost:9095", "[::1]:9095", "LOCALHOST:9095"},
			[]string{"evil.example:9095", "localhost:9096", "localhost", "127.0.0.2:9095", "", "evil.localhost:9095", "0.0.0.0:9095"}},
		{"10.0.0.5:80", nil,
			[]string{"10.0.0.5", "10.0.0.5:80", "localhost"},
			[]string{"10.0.0.5:9095", "evil.example"}},
		{"0.0.0.0:9095", []string{"broker1.internal", "proxy.example:443", "[fd00::1]", "10.0.0.5:9095"},
			[]string{"localhost:9095", "broker1.internal:9095", "broker1.internal", "Broker1.Internal.:1", "proxy.example:443", "[fd00::1]:9095", "10.0.0.5:9095"},
			[]string{"0.0.0.0:9095", "evil.example:9095", "proxy.example:9095", "10.0.0.5:9096", "10.0.0.6:9095"}},
		{"[::]:9095", nil, []string{"[::1]:9095"}, []string{"[::]:9095"}},
		{"", nil, []string{"localhost:1234", "127.0.0.1:5678"}, []string{"evil.example:1234"}},
	} {
		hc, err := newHostCheck(tc.addr, tc.allowed)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.addr, tc.allowed, err)
		}
		for _, h := range tc.ok {
			if r := (&http.Request{Host: h}); !hc.allowed(r) {
				t.Errorf("bound %s allowed %v: Host %q refused", tc.addr, tc.allowed, h)
			}
		}
		for _, h := range tc.no {
			if r := (&http.Request{Host: h}); hc.allowed(r) {
				t.Errorf("bound %s allowed %v: Host %q answered", tc.addr, tc.allowed, h)
			}
		}
	}
	for _, bad := range []string{"", "http://x", "a/b", "*.example", "x:port"} {
		if _, err := newHostCheck("127.0.0.1:9095", []string{bad}); !errors.Is(err, ErrAllowedHost) {
			t.Errorf("allowed host %q: %v, want ErrAllowedHost", bad, err)
		}
	}
}

// TestVerifyNeedsPost: GET /cluster/verify shows the last verdict and
// proposes nothing through Raft (any page can make a browser GET it); a
// POST from the console's origin runs it, a cross-origin POST does not.
func TestVerifyNeedsPost(t *testing.T) {
	f := newFixture(t, false)
	waitFor(t, "the node to lead and be ready", func() bool {
		st := f.b.NodeState()
		return st.Ready && st.State == "Leader" && st.AppliedIndex == st.LastLogIndex
	})
	before := f.b.NodeState().LastLogIndex
	for _, path := range []string{"/cluster/verify", "/cluster/verify?fresh=1"} {
		if code, body := f.get(t, path); code != http.StatusOK || !strings.Contains(body, "not verified yet") {
			t.Fatalf("GET %s before any verify: %d %s", path, code, body)
		}
	}
	host := f.srv.Listener.Addr().String()
	if code, body := f.do(t, "POST", "/cluster/verify", host, "http://evil.example", url.Values{"fresh": {"1"}}); code != http.StatusForbidden {
		t.Fatalf("cross-origin POST: %d %s", code, body)
	}
	if after := f.b.NodeState().LastLogIndex; after != before || f.con.lastVerdict() != nil {
		t.Fatalf("GET or a refused POST verified: last log index %d -> %d, verdict %v", before, after, f.con.lastVerdict())
	}
	code, body := f.do(t, "POST", "/cluster/verify", host, "http://"+host, url.Values{"fresh": {"1"}})
	if code != http.StatusOK || !strings.Contains(body, "every node holds the same state") {
		t.Fatalf("POST verify: %d %s", code, body)
	}
	if after := f.b.NodeState().LastLogIndex; after <= before {
		t.Fatalf("POST verify proposed no entry: last log index %d -> %d", before, after)
	}
	if code, body := f.get(t, "/cluster/verify"); code != http.StatusOK || !strings.Contains(body, "every node holds the same state") {
		t.Fatalf("GET after a verify shows the verdict: %d %s", code, body)
	}
}
