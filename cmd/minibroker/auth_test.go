package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/internal/tlsconf"
)

// TestACLCommandsPasswordFile: acl add, list and remove log in like the other
// tools (--user, MINIBROKER_USER, MINIBROKER_PASSWORD, --password-file)
// against a cluster that authenticates its clients.
func TestACLCommandsPasswordFile(t *testing.T) {
	cluster := brokertest.NewCluster(t, 1, brokertest.SCRAM("admin", "admin-pw"))
	c := newCLI(t)
	c.env["MINIBROKER_BROKERS"] = cluster.Addrs()[0]
	c.env["MINIBROKER_USER"] = "admin"
	c.env["MINIBROKER_PASSWORD"] = "admin-pw"
	wantOut(t, c.run("acl", "add", "--principal", "alice", "--topic", "orders", "--op", "read"),
		"added: User:alice allow read on topic orders")
	wantOut(t, c.run("acl", "list"), "User:alice")

	pw := filepath.Join(t.TempDir(), "admin.pw")
	if err := os.WriteFile(pw, []byte("admin-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	delete(c.env, "MINIBROKER_USER")
	delete(c.env, "MINIBROKER_PASSWORD")
	wantOut(t, c.run("acl", "remove", "--user", "admin", "--password-file", pw, "--principal", "alice", "--topic", "orders", "--op", "read"),
		"removed: User:alice allow read on topic orders")
}

// TestServeConsoleOverTLSWithSCRAM: serve with TLS and --auth scram (and
// the admin credentials in its environment) gives a console that reaches
// the cluster: its client is authenticated by the node's certificate and
// does not also try a SCRAM login, which the broker would refuse and
// count as a failed authentication.
func TestServeConsoleOverTLSWithSCRAM(t *testing.T) {
	dir := t.TempDir()
	if _, err := tlsconf.WriteFiles(dir, []string{"n1"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	f := tlsconf.NodeFiles(dir, "n1")
	c := newCLI(t)
	c.env["MINIBROKER_ADMIN_USER"] = "admin"
	c.env["MINIBROKER_ADMIN_PASSWORD"] = "admin-pw"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	var out, errb lockedBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, c.app(nil, &out, &errb), []string{"serve", "--id", "n1", "--data", t.TempDir(), "--auth", "scram",
			"--addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
			"--tls-cert", f.CertFile, "--tls-key", f.KeyFile, "--tls-ca", f.CAFile})
	}()
	defer func() {
		cancel()
		<-code
	}()
	line := regexp.MustCompile(`console on http://(\S+)/ `)
	var addr string
	waitFor(t, "serve to print the console's address", func() bool {
		if m := line.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		return addr != "" || len(code) > 0
	})
	if addr == "" {
		t.Fatalf("serve exited: %s", errb.String())
	}
	base := "http://" + addr
	var body string
	waitFor(t, "the console to reach the cluster", func() bool {
		var status int
		status, body = httpGetBody(t, base+"/cluster")
		return status == 200 && strings.Contains(body, `<td class="role">leader</td><td>yes</td>`) &&
			!strings.Contains(body, "cluster status unavailable")
	})
	if _, metrics := httpGetBody(t, base+"/metrics"); strings.Contains(metrics, "minibroker_auth_failures_total{") {
		t.Fatalf("failed authentications counted:\n%s", grepLines(metrics, "minibroker_auth_failures_total"))
	}
	if strings.Contains(errb.String(), "authentication failed") {
		t.Fatalf("serve logged failed authentications:\n%s", errb.String())
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// TestStartWarnings: serve warns about an address beyond this machine
// without authentication, and about a Raft address beyond this machine
// without TLS even with --auth scram (it does not cover the Raft port).
func TestStartWarnings(t *testing.T) {
	msgs := func(cfg broker.Config) string {
		var all []string
		for _, w := range startWarnings(cfg) {
			all = append(all, fmt.Sprint(append([]any{w.msg}, w.args...)...))
		}
		return strings.Join(all, "\n")
	}
	local := broker.Config{Addr: "127.0.0.1:9094", KafkaAddr: "127.0.0.1:9092", RaftAddr: "127.0.0.1:9093"}
	if got := msgs(local); got != "" {
		t.Fatalf("loopback only: %s", got)
	}
	open := broker.Config{Addr: "0.0.0.0:9094", KafkaAddr: "0.0.0.0:9092", RaftAddr: "0.0.0.0:9093"}
	if got := msgs(open); strings.Count(got, "without authentication") != 3 {
		t.Fatalf("every address exposed, no auth: %s", got)
	}
	scram := open
	scram.Auth, scram.AdminUser, scram.AdminPassword = broker.AuthSCRAM, "admin", "pw"
	got := msgs(scram)
	if !strings.Contains(got, "Raft listening beyond this machine without TLS") || !strings.Contains(got, "0.0.0.0:9093") ||
		strings.Contains(got, "9094") || strings.Contains(got, "9092") {
		t.Fatalf("--auth scram without TLS: want one warning, for the Raft address: %q", got)
	}
	withTLS := scram
	withTLS.PeerTLS = &tls.Config{}
	if got := msgs(withTLS); got != "" {
		t.Fatalf("--auth scram and TLS: %s", got)
	}
	withTLS.AdminUser, withTLS.AdminPassword = "", ""
	if got := msgs(withTLS); !strings.Contains(got, "only users that exist already") || strings.Contains(got, "nodes cannot log in") {
		t.Fatalf("--auth scram and TLS without the admin pair: %s", got)
	}
}
