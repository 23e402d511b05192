package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/tests/internal/testutil"
)

// runCLIEnv is runCLI with extra environment variables.
func runCLIEnv(t *testing.T, env []string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBinary(t), args...)
	cmd.Env = append(cliEnv(), env...)
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

func mustCLIEnv(t *testing.T, env []string, stdin string, args ...string) string {
	t.Helper()
	code, out, errs := runCLIEnv(t, env, stdin, args...)
	if code != 0 {
		t.Fatalf("minibroker %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errs)
	}
	return out
}

// TestCLIAuth runs a three-node cluster with --auth scram as processes
// (the first superuser from MINIBROKER_ADMIN_USER/PASSWORD; n2 and n3 log
// in to n1 to join). The tools log in with --user and MINIBROKER_PASSWORD
// or --password-file, through a follower too; `user create` (password on
// stdin), `user list`, `user delete`; no login, a wrong password and a
// user that is not a superuser are refused.
func TestCLIAuth(t *testing.T) {
	ports := testutil.FreeAddrs(t, 6)
	dir := t.TempDir()
	adminEnv := []string{"MINIBROKER_ADMIN_USER=admin", "MINIBROKER_ADMIN_PASSWORD=admin-pw"}
	var addrs []string
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("n%d", i+1)
		args := []string{"serve", "--auth", "scram", "--http-addr", "", "--kafka-addr", "127.0.0.1:0", "--id", id,
			"--data", filepath.Join(dir, id), "--addr", ports[2*i], "--raft-addr", ports[2*i+1]}
		if i == 0 {
			args = append(args, "--bootstrap")
		} else {
			args = append(args, "--join", ports[0])
		}
		p := startProcEnv(t, id, adminEnv, args...)
		p.waitStdout(servingLine)
		addrs = append(addrs, ports[2*i])
	}
	all := "--brokers=" + strings.Join(addrs, ",")
	follower := "--brokers=" + addrs[2]
	admin := []string{"MINIBROKER_USER=admin", "MINIBROKER_PASSWORD=admin-pw"}

	// No login, a wrong password: refused.
	if code, _, errs := runCLIEnv(t, nil, "", "topic", "list", all); code == 0 || !strings.Contains(errs, "authenticat") {
		t.Fatalf("no login: exit %d: %s", code, errs)
	}
	if code, _, errs := runCLIEnv(t, []string{"MINIBROKER_PASSWORD=wrong"}, "", "topic", "list", all, "--user", "admin"); code == 0 || !strings.Contains(errs, "authentication failed") {
		t.Fatalf("wrong password: exit %d: %s", code, errs)
	}
	if code, _, errs := runCLIEnv(t, nil, "", "topic", "list", all, "--user", "admin"); code == 0 || !strings.Contains(errs, "MINIBROKER_PASSWORD") {
		t.Fatalf("no password: exit %d: %s", code, errs)
	}

	// The admin, through a follower: the writes go to the leader.
	mustCLIEnv(t, admin, "", "topic", "create", "events", follower)
	// ACLs are enforced with authentication on: alice may read and write
	// events (granted before she exists: a node that knows her has it).
	mustCLIEnv(t, admin, "", "acl", "add", "--principal", "alice", "--topic", "events", "--op", "read,write", follower)
	mustCLIEnv(t, admin, "alice-pw\n", "user", "create", "alice", follower)
	out := mustCLIEnv(t, admin, "", "user", "list", all)
	if !strings.Contains(out, "admin") || !strings.Contains(out, "alice") || !strings.Contains(out, "SCRAM-SHA-256,SCRAM-SHA-512") {
		t.Fatalf("user list:\n%s", out)
	}

	// alice with a password file, through every node.
	pwFile := filepath.Join(dir, "alice.pw")
	if err := os.WriteFile(pwFile, []byte("alice-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	alice := []string{"--user", "alice", "--password-file", pwFile}
	input := numberedLines(0, 50)
	waitUntil(t, "alice produces", func() bool {
		code, _, _ := runCLIEnv(t, nil, input, append([]string{"produce", "events", "--brokers=" + addrs[1]}, alice...)...)
		return code == 0
	})
	out = mustCLIEnv(t, nil, "", append([]string{"consume", "events", "--from-beginning", "--max", "50", all}, alice...)...)
	if out != input {
		t.Fatalf("alice consumed %q", out)
	}
	if code, _, errs := runCLIEnv(t, []string{"MINIBROKER_PASSWORD=alice-pw"}, "", "user", "list", all, "--user", "alice"); code == 0 || !strings.Contains(errs, "not authorized") {
		t.Fatalf("alice lists users: exit %d: %s", code, errs)
	}

	mustCLIEnv(t, admin, "", "user", "delete", "alice", all)
	if code, _, errs := runCLIEnv(t, admin, "", "user", "delete", "alice", all); code == 0 || !strings.Contains(errs, "does not exist") {
		t.Fatalf("delete again: exit %d: %s", code, errs)
	}
	waitUntil(t, "deleted alice refused", func() bool {
		code, _, errs := runCLIEnv(t, nil, "", append([]string{"topic", "list", "--brokers=" + addrs[0]}, alice...)...)
		return code != 0 && strings.Contains(errs, "authentication failed")
	})
}

// startProcEnv is startProc with extra environment variables.
func startProcEnv(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, args: args, done: make(chan struct{})}
	p.cmd = exec.Command(cliBinary(t), args...)
	p.cmd.Env = append(cliEnv(), env...)
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
