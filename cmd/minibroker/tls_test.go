package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/internal/tlsconf"
)

// TestCertsCreateAndToolsOverTLS: `certs create` writes what a TLS broker
// and the tools need; the tools speak TLS with --tls-ca (as a flag, an
// environment variable or a config-file key) and a client certificate;
// without the CA they cannot talk to the TLS broker (the control).
func TestCertsCreateAndToolsOverTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	c := newCLI(t)
	r := c.run("certs", "create", "--dir", dir, "--nodes", "n1", "--clients", "alice", "--hosts", "broker.example")
	wantExit(t, r, exitOK, "minibroker serve --id n1 --tls-cert")
	for _, name := range []string{"ca.crt", "ca.key", "node-n1.crt", "node-n1.key", "client-alice.crt", "client-alice.key"} {
		if !strings.Contains(r.stdout, filepath.Join(dir, name)) {
			t.Fatalf("stdout %q lacks %s", r.stdout, name)
		}
	}
	wantExit(t, c.run("certs", "create", "--nodes", "n1"), exitUsage, "--dir is required")

	b := brokertest.NewCluster(t, 1, brokertest.TLS(t, dir)).Broker(0) // uses node-n1.crt
	ca := filepath.Join(dir, "ca.crt")
	tools := newCLI(t)
	tools.env["MINIBROKER_BROKERS"] = b.Addr()

	// The control: plaintext to the TLS port fails.
	wantExit(t, tools.run("topic", "list"), exitRuntime)

	wantExit(t, tools.run("topic", "create", "orders", "--tls-ca", ca), exitOK)
	tools.env["MINIBROKER_TLS_CA"] = ca
	tools.stdin = "a\nb\nc\n"
	wantExit(t, tools.run("produce", "orders"), exitOK, "sent 3, acked 3, failed 0")
	tools.stdin = ""
	alice := tlsconf.ClientFiles(dir, "alice")
	r = tools.run("consume", "orders", "--from-beginning", "--max", "3", "--tls-cert", alice.CertFile, "--tls-key", alice.KeyFile)
	if r.code != exitOK || r.stdout != "a\nb\nc\n" {
		t.Fatalf("consume over TLS with a client certificate: %+v", r)
	}
	// A config file's keys.
	delete(tools.env, "MINIBROKER_TLS_CA")
	cfg := filepath.Join(t.TempDir(), "tools.toml")
	if err := os.WriteFile(cfg, []byte("tls-ca = '"+ca+"'\ntls-cert = '"+alice.CertFile+"'\ntls-key = '"+alice.KeyFile+"'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = tools.run("topic", "list", "--config", cfg)
	if r.code != exitOK || !strings.Contains(r.stdout, "orders") {
		t.Fatalf("topic list with the config file's TLS keys: %+v", r)
	}
	// A certificate without its key is a usage error.
	wantExit(t, tools.run("topic", "list", "--tls-ca", ca, "--tls-cert", alice.CertFile), exitUsage, "--tls-ca, --tls-cert, --tls-key")
}

// TestServeTLSFlagsGoTogether: serve takes --tls-cert, --tls-key and
// --tls-ca (settings) all three or none.
func TestServeTLSFlagsGoTogether(t *testing.T) {
	c := newCLI(t)
	got := c.captureServe()
	wantExit(t, c.run("serve", "--tls-cert", "a.crt", "--tls-key", "a.key"), exitUsage, "go together")
	c.env["MINIBROKER_TLS_CA"] = "ca.crt"
	wantExit(t, c.run("serve", "--tls-cert", "a.crt", "--tls-key", "a.key"), exitOK)
	if got.tls != (tlsconf.Files{CertFile: "a.crt", KeyFile: "a.key", CAFile: "ca.crt"}) {
		t.Fatalf("serve's TLS files: %+v", got.tls)
	}
}

// TestServeOverTLS runs the real serve with TLS and reaches it with the Go
// client over TLS; a plaintext client is refused.
func TestServeOverTLS(t *testing.T) {
	dir := t.TempDir()
	if _, err := tlsconf.WriteFiles(dir, []string{"n1"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	f := tlsconf.NodeFiles(dir, "n1")
	c := newCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	var out, errb lockedBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, c.app(nil, &out, &errb), []string{"serve", "--id", "n1", "--kafka-addr", "127.0.0.1:0", "--data", t.TempDir(),
			"--addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--http-addr", "",
			"--tls-cert", f.CertFile, "--tls-key", f.KeyFile, "--tls-ca", f.CAFile})
	}()
	defer func() {
		cancel()
		<-code
	}()
	serving := regexp.MustCompile(`serving on (\S+) `)
	var addr string
	waitFor(t, "serve to print its address", func() bool {
		if m := serving.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		return addr != "" || len(code) > 0
	})
	if addr == "" {
		t.Fatalf("serve exited: %s", errb.String())
	}
	r, err := tlsconf.New(tlsconf.Files{CAFile: f.CAFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(client.Config{Brokers: []string{addr}, TLS: r.ClientConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.CreateTopic(ctx, "t", client.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.New(client.Config{Brokers: []string{addr}, DialTimeout: time.Second, RequestTimeout: 2 * time.Second}); err == nil {
		t.Fatal("a plaintext client reached the TLS listener")
	}
}

// TestBenchOverTLS: `minibroker bench` with --tls-ca drives a TLS cluster
// through the native client and, with --kafka, through franz-go.
func TestBenchOverTLS(t *testing.T) {
	dir := t.TempDir()
	c := brokertest.NewCluster(t, 1, brokertest.TLS(t, dir))
	tools := newCLI(t)
	tools.env["MINIBROKER_TLS_CA"] = filepath.Join(dir, "ca.crt")
	r := tools.run("bench", "produce", "--brokers", c.Addrs()[0], "--count", "200", "--format", "json")
	wantExit(t, r, exitOK)
	if res := lastJSON(t, r); res.Messages != 200 || res.Errors != 0 {
		t.Fatalf("native produce over TLS: %+v", res)
	}
	r = tools.run("bench", "produce", "--kafka", "--brokers", c.KafkaAddrs()[0], "--topic", "kb", "--count", "200", "--format", "json")
	wantExit(t, r, exitOK, `created topic "kb"`)
	if res := lastJSON(t, r); res.Messages != 200 || res.Errors != 0 {
		t.Fatalf("Kafka produce over TLS: %+v", res)
	}
}
