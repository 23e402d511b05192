package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer that a test may read while a command
// writes to it.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// result is what a command line did.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs command lines in-process with fake streams and environment.
type cli struct {
	t     *testing.T
	env   map[string]string
	stdin string
	serve func(context.Context, *app, serveConfig) error // nil: the real one
	term  bool                                           // stderr is a terminal
}

func newCLI(t *testing.T) *cli { return &cli{t: t, env: map[string]string{}} }

// run runs args to completion (within 60s) and returns the outcome.
func (c *cli) run(args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return c.runCtx(ctx, args...)
}

func (c *cli) runCtx(ctx context.Context, args ...string) result {
	var out, errb lockedBuffer
	code := run(ctx, c.app(strings.NewReader(c.stdin), &out, &errb), args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func (c *cli) app(stdin *strings.Reader, stdout, stderr *lockedBuffer) *app {
	return &app{
		stdin: stdin, stdout: stdout, stderr: stderr,
		getenv: func(k string) (string, bool) {
			v, ok := c.env[k]
			return v, ok
		},
		stderrIsTerminal: func() bool { return c.term },
		serve:            c.serve,
	}
}

// captureServe makes serve record its resolved configuration instead of
// starting a broker, and returns where it is recorded.
func (c *cli) captureServe() *serveConfig {
	got := new(serveConfig)
	c.serve = func(_ context.Context, _ *app, sc serveConfig) error {
		*got = sc
		return nil
	}
	return got
}

// wantExit fails the test unless r exited with code and its stderr holds
// every one of want.
func wantExit(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Fatalf("stderr %q lacks %q", r.stderr, w)
		}
	}
}

// waitFor polls cond every 10ms until it holds or 20s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
