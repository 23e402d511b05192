package fault

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/tests/internal/testutil"
)

// readyTimeout bounds how long a child may take to print its READY line.
const readyTimeout = 30 * time.Second

// proc is a child process: this test binary run again with env, in its
// own process group. Its first stdout line starting with "READY" says it
// is ready; every later line goes to onLine. It can be killed, stopped,
// continued, terminated and restarted (the same command again). When the
// test ends it is killed; if the test failed its stderr is logged, and a
// data race reported in it fails the test.
type proc struct {
	t      *testing.T
	name   string
	env    []string            // the MINIBROKER_FAULT_* settings
	onLine func(line string)   // called for each stdout line after READY, from the reader goroutine; may be nil
	stderr testutil.SyncBuffer // stderr of every run, runs separated by a marker line

	mu    sync.Mutex     // guards the fields below
	cmd   *exec.Cmd      // the current (or last) run
	stdin io.WriteCloser // its stdin
	done  chan struct{}  // closed when the current run has exited and its stdout is drained
	ready []string       // fields of the current run's READY line
	runs  int
}

// newProc returns a proc that is not started yet, and registers its
// cleanup.
func newProc(t *testing.T, name string, env []string, onLine func(string)) *proc {
	p := &proc{t: t, name: name, env: env, onLine: onLine}
	t.Cleanup(func() {
		p.Kill()
		errs := p.stderr.String()
		if i := strings.Index(errs, "WARNING: DATA RACE"); i >= 0 {
			t.Errorf("%s: data race in the child process:\n%s", name, tail(errs[i:], 80))
		} else if t.Failed() {
			t.Logf("%s stderr (tail):\n%s", name, tail(errs, 30))
		}
	})
	return p
}

// start runs the process and waits for its READY line. It returns an
// error (with the tail of stderr) if the process exits first or is not
// ready within readyTimeout. The process must not be running.
func (p *proc) start() error {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), p.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.runs++
	if p.runs > 1 {
		fmt.Fprintf(&p.stderr, "----- %s: run %d -----\n", p.name, p.runs)
	}
	p.mu.Unlock()
	errStart := len(p.stderr.String())
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start: %w", p.name, err)
	}
	done := make(chan struct{})
	readyc := make(chan []string, 1)
	p.mu.Lock()
	p.cmd, p.stdin, p.done, p.ready = cmd, stdin, done, nil
	p.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		ready := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case !ready && strings.HasPrefix(line, "READY"):
				ready = true
				readyc <- strings.Fields(line)
			case p.onLine != nil:
				p.onLine(line)
			}
		}
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(done)
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case f := <-readyc:
		p.mu.Lock()
		p.ready = f
		p.mu.Unlock()
		return nil
	case <-done:
		return fmt.Errorf("%s exited (%v) before it was ready: %s", p.name, cmd.ProcessState, strings.TrimSpace(p.stderr.String()[errStart:]))
	case <-timer.C:
		p.Kill()
		return fmt.Errorf("%s was not ready within %v", p.name, readyTimeout)
	}
}

// errAddrInUse reports whether a start failed because a port was taken.
func errAddrInUse(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}

// mustStart starts p, retrying for up to 30s while its ports are taken
// (a fixed port of a restarted node may be held for a moment by another
// process's connection); it fails the test on other errors.
func (p *proc) mustStart() {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for backoff := 20 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		err := p.start()
		if err == nil {
			return
		}
		if !errAddrInUse(err) || time.Now().After(deadline) {
			p.t.Fatal(err)
		}
		p.t.Logf("%s: port taken, retrying: %v", p.name, err)
		time.Sleep(backoff) // retry pacing, not synchronization: the port frees on its own
	}
}

// running reports whether the current run has not exited.
func (p *proc) running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// signal sends sig to the process group of the current run, if it runs.
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		p.t.Errorf("%s: %v: %v", p.name, sig, err)
	}
}

// Kill sends SIGKILL and waits until the process is gone. A no-op if it
// does not run.
func (p *proc) Kill() {
	p.signal(syscall.SIGKILL)
	p.wait()
}

// Stop sends SIGSTOP: the process freezes, its sockets stay open.
func (p *proc) Stop() { p.signal(syscall.SIGSTOP) }

// Cont sends SIGCONT to a stopped process.
func (p *proc) Cont() { p.signal(syscall.SIGCONT) }

// Term sends SIGTERM and waits up to 30s for the process to exit; it
// returns the exit code (-1 if it did not exit by itself: it is then
// killed).
func (p *proc) Term() int {
	p.signal(syscall.SIGTERM)
	return p.waitExit(30 * time.Second)
}

// Restart starts the process again with the same settings (a node: the
// same ports and data dir). It must not be running.
func (p *proc) Restart() {
	p.t.Helper()
	if p.running() {
		p.t.Fatalf("%s: restart while running", p.name)
	}
	p.mustStart()
}

// wait waits for the current run to exit.
func (p *proc) wait() {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done != nil {
		<-done
	}
}

// waitExit waits up to d for the process to exit and returns its exit
// code; past d it kills it and returns -1.
func (p *proc) waitExit(d time.Duration) int {
	p.mu.Lock()
	done, cmd := p.done, p.cmd
	p.mu.Unlock()
	if done == nil {
		return -1
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-timer.C:
		p.Kill()
		return -1
	}
}

// send writes a command line to the process's stdin.
func (p *proc) send(cmd string) {
	p.mu.Lock()
	w := p.stdin
	p.mu.Unlock()
	if _, err := io.WriteString(w, cmd+"\n"); err != nil {
		p.t.Errorf("%s: send %q: %v", p.name, cmd, err)
	}
}

// closeStdin closes the process's stdin.
func (p *proc) closeStdin() {
	p.mu.Lock()
	w := p.stdin
	p.mu.Unlock()
	w.Close()
}

// readyField returns field i of the current run's READY line.
func (p *proc) readyField(i int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i < len(p.ready) {
		return p.ready[i]
	}
	return ""
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
