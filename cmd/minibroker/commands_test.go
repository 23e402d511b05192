package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"frobnicate"}, []string{`unknown command "frobnicate"`}},
		{[]string{"topic", "lst"}, []string{`unknown command "lst"`, `did you mean "list"`}},
		{[]string{"serve", "--no-such-flag"}, []string{"serve: unknown flag: --no-such-flag", "minibroker serve --help"}},
		{[]string{"serve", "extra"}, []string{`unexpected argument "extra"`}},
		{[]string{"serve", "--bootstrap", "--join", "127.0.0.1:1"}, []string{"--bootstrap and --join exclude each other"}},
		{[]string{"serve", "--join", "nohost"}, []string{`--join "nohost" is not HOST:PORT`}},
		{[]string{"serve", "--log-format", "xml"}, []string{"--log-format", "text, json"}},
		{[]string{"topic", "create"}, []string{"topic create: missing NAME"}},
		{[]string{"topic", "create", "t", "--partitions", "0"}, []string{"at least 1"}},
		{[]string{"topic", "create", "t", "--partitions", "many"}, []string{"--partitions"}},
		{[]string{"topic", "list", "--format", "yaml"}, []string{"--format", "table, json"}},
		{[]string{"produce"}, []string{"produce: missing TOPIC"}},
		{[]string{"produce", "t", "--acks", "2"}, []string{"--acks", "0, 1, all"}},
		{[]string{"produce", "t", "--key", "k", "--key-sep", ":"}, []string{"exclude each other"}},
		{[]string{"consume", "t", "--from-beginning", "--offset", "3"}, []string{"exclude each other"}},
		{[]string{"consume", "t", "--offset", "-5"}, []string{"--offset -5"}},
		{[]string{"consume", "t", "--idle", "soon"}, []string{"--idle"}},
		{[]string{"consume", "t", "--format", "xml"}, []string{"text, json"}},
		{[]string{"consume", "t", "--group", "g", "--partition", "1"}, []string{"--group excludes --partition and --offset"}},
		{[]string{"consume", "t", "--group", "g", "--offset", "0"}, []string{"--group excludes --partition and --offset"}},
		{[]string{"consume", "t", "--group", ""}, []string{"--group: empty group name"}},
		{[]string{"consume", "t", "--session-timeout", "5s"}, []string{"--session-timeout needs --group"}},
		{[]string{"consume", "t", "--group", "g", "--session-timeout", "10ms"}, []string{"--session-timeout 10ms: must be between 100ms and 1h0m0s"}},
		{[]string{"group", "lst"}, []string{`unknown command "lst"`, `did you mean "list"`}},
		{[]string{"group", "describe"}, []string{"group describe: missing GROUP"}},
		{[]string{"group", "describe", "g", "--format", "xml"}, []string{"--format", "table, json"}},
		{[]string{"group", "reset", "g", "--to", "earliest"}, []string{"group reset: --topic is required"}},
		{[]string{"group", "reset", "g", "--topic", "t"}, []string{"group reset: --to is required"}},
		{[]string{"group", "reset", "g", "--topic", "t", "--to", "first"}, []string{`--to "first": must be earliest, latest or an offset`}},
		{[]string{"group", "reset", "g", "--topic", "t", "--to", "-3"}, []string{`--to "-3"`}},
		{[]string{"group", "reset", "g", "--topic", "t", "--to", "0", "--partition", "x"}, []string{"--partition"}},
		{[]string{"group", "delete"}, []string{"group delete: missing GROUP"}},
		{[]string{"cluster", "stats"}, []string{`unknown command "stats"`, `did you mean "status"`}},
		{[]string{"cluster", "remove"}, []string{"cluster remove: missing ID"}},
		{[]string{"cluster", "status", "extra"}, []string{`unexpected argument "extra"`}},
		{[]string{"serve", "--metrics-addr", "nohost"}, []string{`--metrics-addr "nohost" is not HOST:PORT`}},
		{[]string{"version", "now"}, []string{`unexpected argument "now"`}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := newCLI(t).run(tc.args...)
			wantExit(t, r, exitUsage, tc.want...)
			if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "minibroker: ") {
				t.Fatalf("want one 'minibroker: ' line on stderr, got %q", r.stderr)
			}
			if r.stdout != "" {
				t.Fatalf("stdout: %q", r.stdout)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{
		{}, {"help"}, {"--help"}, {"help", "serve"}, {"serve", "--help"}, {"topic"}, {"topic", "create", "--help"},
		{"topic", "list", "-h"}, {"topic", "describe", "--help"}, {"topic", "delete", "--help"},
		{"produce", "--help"}, {"consume", "--help"}, {"version", "--help"},
		{"group"}, {"group", "--help"}, {"group", "list", "--help"}, {"group", "describe", "--help"}, {"group", "reset", "--help"},
		{"group", "delete", "--help"}, {"help", "group", "reset"}, {"cluster"}, {"cluster", "status", "--help"}, {"cluster", "remove", "-h"},
	} {
		r := c.run(args...)
		if r.code != exitOK || !strings.Contains(r.stdout, "Usage:") || r.stderr != "" {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	if r := c.run("serve", "--help"); !strings.Contains(r.stdout, "--raft-addr") || !strings.Contains(r.stdout, "MINIBROKER_RAFT_ADDR") {
		t.Fatalf("serve help: %s", r.stdout)
	}
	if r := c.run("serve", "--help"); !strings.Contains(r.stdout, "--metrics-addr") || !strings.Contains(r.stdout, "MINIBROKER_METRICS_ADDR") {
		t.Fatalf("serve help: %s", r.stdout)
	}
	if r := c.run("consume", "--help"); !strings.Contains(r.stdout, "--group") || !strings.Contains(r.stdout, "at-least-once") {
		t.Fatalf("consume help: %s", r.stdout)
	}
	r := c.run("version")
	if r.code != exitOK || !regexp.MustCompile(`^minibroker \S+ \(go\S+ \w+/\w+\)\n$`).MatchString(r.stdout) {
		t.Fatalf("version: %d %q", r.code, r.stdout)
	}
}

// TestServeStartsAndStops runs the real serve in-process: it prints where
// it serves, answers clients, and returns 0 when its context ends (as on
// SIGTERM).
func TestServeStartsAndStops(t *testing.T) {
	c := newCLI(t)
	data := filepath.Join(t.TempDir(), "data")
	var out, errb lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, c.app(strings.NewReader(""), &out, &errb),
			[]string{"serve", "--kafka-addr", "127.0.0.1:0", "--data", data, "--addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--log-format", "json"})
	}()
	re := regexp.MustCompile(`^minibroker n1 serving on (127\.0\.0\.1:\d+) \(raft 127\.0\.0\.1:\d+, data ` + regexp.QuoteMeta(data) + `\)\n` +
		`minibroker n1 serving Kafka clients on 127\.0\.0\.1:\d+\n` +
		`minibroker n1 metrics on (http://127\.0\.0\.1:\d+)/metrics \(health /healthz, /readyz\)\n`)
	var addr, metrics string
	waitFor(t, "the serving lines", func() bool {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s", code, errb.String())
		default:
		}
		m := re.FindStringSubmatch(out.String())
		if m != nil {
			addr, metrics = m[1], m[2]
		}
		return m != nil
	})
	r := c.run("topic", "create", "t", "--brokers", addr)
	wantExit(t, r, exitOK)
	waitFor(t, "/readyz 200", func() bool { return httpGet(t, metrics+"/readyz") == "ok: leader\n" })
	if body := httpGet(t, metrics+"/metrics"); !strings.Contains(body, "minibroker_") {
		t.Fatalf("/metrics has no minibroker_ metric:\n%s", body)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("serve exited %d: %s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(out.String(), "minibroker n1 stopped") || !strings.Contains(errb.String(), `"msg":"broker serving"`) {
		t.Fatalf("stdout %q, stderr %q", out.String(), errb.String())
	}
}

// httpGet returns the body of url if it answers 200, else "".
func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(body)
}

func TestServeWarnsWhenExposed(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9092": false, "localhost:9092": false, "[::1]:9092": false,
		":9092": true, "0.0.0.0:9092": true, "192.0.2.1:9092": true, "example.com:9092": true,
	} {
		if got := exposed(addr); got != want {
			t.Errorf("exposed(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestServeErrors(t *testing.T) {
	// An address in use.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := newCLI(t)
	wantExit(t, c.run("serve", "--kafka-addr", "127.0.0.1:0", "--data", t.TempDir(), "--addr", ln.Addr().String(), "--raft-addr", "127.0.0.1:0"),
		exitRuntime, "another minibroker", "--addr")

	// A data dir that belongs to another node id.
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // start, then stop at once
	if r := c.runCtx(ctx, "serve", "--kafka-addr", "127.0.0.1:0", "--data", data, "--addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0"); r.code != exitOK {
		t.Fatalf("serve: %+v", r)
	}
	wantExit(t, c.run("serve", "--kafka-addr", "127.0.0.1:0", "--id", "other", "--data", data, "--addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0"),
		exitUsage, `belongs to node "n1"`)
}
