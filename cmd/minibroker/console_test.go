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
			"--addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"})
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
