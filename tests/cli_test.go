package tests

// End-to-end tests of the minibroker binary: it is built once (with -race
// when the tests are) and run as real processes on free loopback ports,
// each in its own process group, killed when its test ends.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/tests/internal/testutil"
)

// cliDir holds the built binary; set by TestMain, removed after the tests.
var cliDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "minibroker-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cliDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
	buildOut  []byte
)

// cliBinary returns the path of the minibroker binary, building it on
// first use (so tests of this package that do not need it do not pay for
// the build).
func cliBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(cliDir, "minibroker")
	buildOnce.Do(func() {
		args := []string{"build", "-o", bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/minibroker/minibroker/cmd/minibroker")
		buildOut, buildErr = exec.Command(goTool(), args...).CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	return bin
}

// goTool is the go command that runs these tests.
func goTool() string {
	if p := filepath.Join(os.Getenv("GOROOT"), "bin", "go"); os.Getenv("GOROOT") != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// cliEnv is the environment of the processes: this one's, without any
// MINIBROKER_ setting of the developer's that would change what they do.
func cliEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIBROKER_") {
			env = append(env, kv)
		}
	}
	return append(env, "GORACE=halt_on_error=1 atexit_sleep_ms=0")
}

// proc is a running minibroker process.
type proc struct {
	t      *testing.T
	name   string
	args   []string
	cmd    *exec.Cmd
	stdout testutil.SyncBuffer
	stderr testutil.SyncBuffer
	done   chan struct{} // closed when the process has exited
	state  *os.ProcessState
}

// startProc starts the binary with args in its own process group. stdin
// may be nil. The process is killed (with its group) when the test ends,
// and its output is logged if the test failed.
func startProc(t *testing.T, name string, stdin io.Reader, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, args: args, done: make(chan struct{})}
	p.cmd = exec.Command(cliBinary(t), args...)
	p.cmd.Env = cliEnv()
	p.cmd.Stdin = stdin
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s %v\nstdout:\n%s\nstderr:\n%s", name, args, p.stdout.String(), tail(p.stderr.String(), 40))
		}
	})
	return p
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// kill sends SIGKILL to the process group and waits for the process.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: signal %v: %v", p.name, sig, err)
	}
}

// wait waits up to d for the process to exit and returns its exit code.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.state.ExitCode()
	case <-time.After(d):
		p.t.Fatalf("%s did not exit within %v", p.name, d)
		return -1
	}
}

// waitStdout waits up to 30s for re to match the process's stdout and
// returns the submatches; it fails the test if the process exits first.
func (p *proc) waitStdout(re *regexp.Regexp) []string {
	p.t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
			return m
		}
		select {
		case <-p.done:
			if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
				return m
			}
			p.t.Fatalf("%s exited (%v) before printing %v", p.name, p.state, re)
		case <-deadline:
			p.t.Fatalf("%s did not print %v within 30s", p.name, re)
		case <-tick.C:
		}
	}
}

// runCLI runs one tool invocation to completion (within 60s).
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBinary(t), args...)
	cmd.Env = cliEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("minibroker %v did not finish within 60s: %s", args, errb.String())
	}
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("minibroker %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// mustCLI runs a tool and fails the test unless it exits 0.
func mustCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, stdin, args...)
	if code != 0 {
		t.Fatalf("minibroker %v: exit %d\nstdout: %s\nstderr: %s", args, code, stdout, stderr)
	}
	return stdout, stderr
}

// servingLine matches serve's line on stdout once it serves.
var servingLine = regexp.MustCompile(`minibroker (\S+) serving on (\S+) \(raft (\S+), data (\S+)\)\n`)

// numberedLines returns "line-<from>" ... "line-<to-1>", newline-terminated.
func numberedLines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString("line-" + strconv.Itoa(i) + "\n")
	}
	return b.String()
}

// metricsLine matches serve's second line on stdout with --metrics-addr.
var metricsLine = regexp.MustCompile(`minibroker (\S+) metrics on (http://\S+)/metrics \(health /healthz, /readyz\)\n`)

// TestCLISingleNode: serve (with --metrics-addr: /metrics and /readyz
// answer), create a topic, produce stdin's lines, consume them back in
// order; SIGTERM stops serve with exit 0, and the same command brings the
// node back with its data.
func TestCLISingleNode(t *testing.T) {
	addrs := testutil.FreeAddrs(t, 3)
	data := filepath.Join(t.TempDir(), "data")
	serveArgs := []string{"serve", "--kafka-addr", "127.0.0.1:0", "--data", data, "--addr", addrs[0], "--raft-addr", addrs[1], "--metrics-addr", addrs[2]}
	srv := startProc(t, "serve", nil, serveArgs...)
	m := srv.waitStdout(servingLine)
	if m[1] != "n1" || m[2] != addrs[0] || m[3] != addrs[1] || m[4] != data {
		t.Fatalf("serving line %q", m[0])
	}
	if m := srv.waitStdout(metricsLine); m[2] != "http://"+addrs[2] {
		t.Fatalf("metrics line %q", m[0])
	}
	waitUntil(t, "/readyz 200", func() bool {
		code, body := httpGet(t, "http://"+addrs[2]+"/readyz")
		return code == 200 && body == "ok: leader\n"
	})
	if code, body := httpGet(t, "http://"+addrs[2]+"/metrics"); code != 200 || !strings.Contains(body, "\nminibroker_raft_is_leader 1\n") {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	brokers := "--brokers=" + addrs[0]
	mustCLI(t, "", "topic", "create", "events", brokers)

	const n = 2000
	input := numberedLines(0, n)
	_, stderr := mustCLI(t, input, "produce", "events", brokers)
	if want := fmt.Sprintf("sent %d, acked %d, failed 0\n", n, n); stderr != want {
		t.Fatalf("produce stderr %q, want %q", stderr, want)
	}
	out, _ := mustCLI(t, "", "consume", "events", "--from-beginning", "--max", strconv.Itoa(n), brokers)
	if out != input {
		t.Fatalf("consumed %d bytes, want the %d produced in order", len(out), len(input))
	}

	srv.signal(syscall.SIGTERM)
	if code := srv.wait(20 * time.Second); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM", code)
	}
	if !strings.Contains(srv.stdout.String(), "minibroker n1 stopped") {
		t.Fatalf("serve stdout: %q", srv.stdout.String())
	}

	// The same command again (with --bootstrap, harmless on a data dir
	// that holds a cluster) serves the same data.
	srv = startProc(t, "serve again", nil, append(serveArgs, "--bootstrap")...)
	srv.waitStdout(servingLine)
	out, _ = mustCLI(t, "", "consume", "events", "--offset", strconv.Itoa(n-1), "--max", "1", brokers)
	if out != fmt.Sprintf("line-%d\n", n-1) {
		t.Fatalf("after restart: %q", out)
	}
	srv.signal(syscall.SIGINT)
	if code := srv.wait(20 * time.Second); code != 0 {
		t.Fatalf("serve exited %d after SIGINT", code)
	}
}

// httpGet returns the status code and body of a GET of url.
func httpGet(t *testing.T, url string) (int, string) {
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
	return resp.StatusCode, string(body)
}

// TestCLIErrors: the tools explain what to do, on one line, with exit 1.
func TestCLIErrors(t *testing.T) {
	dead := testutil.FreeAddrs(t, 1)[0]
	code, _, stderr := runCLI(t, "", "topic", "list", "--brokers", dead)
	if code != 1 || stderr != "minibroker: no broker reachable at "+dead+" — is `minibroker serve` running? (--brokers)\n" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI(t, "", "consume", "t", "--max", "-1")
	if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--max") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}
