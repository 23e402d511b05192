package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
)

func httpGetBody(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// hostGet GETs u with the given Host header.
func hostGet(t *testing.T, u, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestConsoleRefusesRebindingHost: everything on the console's listener
// (the pages, /metrics, /healthz, /readyz) refuses a Host that is not one
// of the console's names, as a DNS-rebinding page sends, and answers the
// loopback names on its port.
func TestConsoleRefusesRebindingHost(t *testing.T) {
	b := brokertest.NewBroker(t)
	logger := slog.New(slog.DiscardHandler)
	s, err := startConsole(consoleSettings{addr: "127.0.0.1:0", explicit: true, write: true}, b, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop(context.Background())
	_, port, _ := net.SplitHostPort(s.addr())
	base := "http://" + s.addr()
	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/cluster", "/api/snapshot", "/topics"} {
		if code, body := hostGet(t, base+path, "evil.example:"+port); code != http.StatusMisdirectedRequest || !strings.Contains(body, "not a name of this console") {
			t.Errorf("%s with Host evil.example:%s: %d %q, want 421", path, port, code, body)
		}
		for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port} {
			waitFor(t, path+" with Host "+host, func() bool {
				code, _ := hostGet(t, base+path, host)
				return code == http.StatusOK // /readyz: once the node leads
			})
		}
	}
	req, _ := http.NewRequest("POST", base+"/topics", strings.NewReader("name=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = "evil.example:" + port
	req.Header.Set("Origin", "http://evil.example:"+port)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("create topic from a rebinding page: %d", resp.StatusCode)
	}
}

// TestServeConsole: serve offers the console on --http-addr, with
// /metrics, /healthz and /readyz beside it, read-only by default, and
// stops it on SIGINT.
func TestServeConsole(t *testing.T) {
	c := newCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sctx, stop := context.WithCancel(ctx)
	var out, errb lockedBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(sctx, c.app(nil, &out, &errb), []string{"serve", "--kafka-addr", "127.0.0.1:0", "--data", t.TempDir(),
			"--addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--http-allowed-hosts", "console.test,other.test:1"})
	}()
	line := regexp.MustCompile(`minibroker n1 console on http://(\S+)/ \(metrics /metrics, health /healthz, /readyz\)\n`)
	var addr string
	waitFor(t, "serve to print the console's address", func() bool {
		if m := line.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	base := "http://" + addr
	waitFor(t, "/readyz on the console's address", func() bool {
		code, body := httpGetBody(t, base+"/readyz")
		return code == 200 && body == "ok: leader\n"
	})
	for path, want := range map[string]string{
		"/cluster": `data-node="n1"`, "/lab": "acks1-leader-cut-off", "/healthz": "ok", "/metrics": "minibroker_raft_is_leader 1",
	} {
		if code, body := httpGetBody(t, base+path); code != 200 || !strings.Contains(body, want) {
			t.Fatalf("%s: %d, lacks %q:\n%s", path, code, want, body)
		}
	}
	// --http-allowed-hosts: its names are answered, others refused, on
	// /metrics as on the pages.
	_, port, _ := net.SplitHostPort(addr)
	for host, want := range map[string]int{"console.test": 200, "console.test:" + port: 200, "localhost:" + port: 200,
		"other.test:" + port: 421, "evil.example:" + port: 421} {
		for _, path := range []string{"/metrics", "/cluster"} {
			if code, body := hostGet(t, base+path, host); code != want {
				t.Fatalf("%s with Host %s: %d, want %d:\n%s", path, host, code, want, body)
			}
		}
	}
	resp, err := http.PostForm(base+"/topics", url.Values{"name": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("create topic on a read-only console: %d", resp.StatusCode)
	}
	stop()
	select {
	case got := <-code:
		if got != exitOK {
			t.Fatalf("serve exited %d\n%s", got, errb.String())
		}
	case <-ctx.Done():
		t.Fatal("serve did not stop")
	}
	if _, err := http.Get(base + "/cluster"); err == nil {
		t.Fatal("the console still serves after serve stopped")
	}
}

// TestStartConsoleBusyAddress: the default address taken is a warning
// (serve goes on without a console); an explicit one is an error.
func TestStartConsoleBusyAddress(t *testing.T) {
	b := brokertest.NewBroker(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s, err := startConsole(consoleSettings{addr: ln.Addr().String()}, b, logger)
	if s != nil || err != nil || !strings.Contains(logs.String(), "web console off") {
		t.Fatalf("default address taken: %v %v, log %q", s, err, logs.String())
	}
	if s, err := startConsole(consoleSettings{addr: ln.Addr().String(), explicit: true}, b, logger); s != nil || err == nil {
		t.Fatalf("explicit address taken: %v %v", s, err)
	}
	if s, err := startConsole(consoleSettings{}, b, logger); s != nil || err != nil {
		t.Fatalf("console off: %v %v", s, err)
	}
}
