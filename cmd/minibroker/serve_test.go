package main

import (
	"context"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/log/logtest"
)

// TestServeExitsWhenReplicationStops: a node whose state machine stops on
// a full disk closes itself and `serve` exits 1 saying why, for a
// supervisor to restart it, instead of living on as a zombie.
func TestServeExitsWhenReplicationStops(t *testing.T) {
	disk := &logtest.FullFS{}
	c := newCLI(t)
	c.serve = func(ctx context.Context, a *app, sc serveConfig) error {
		sc.broker.LogFS = disk
		return runServe(ctx, a, sc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb lockedBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, c.app(nil, &out, &errb), []string{"serve", "--kafka-addr", "127.0.0.1:0", "--data", t.TempDir(),
			"--addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0"})
	}()
	serving := regexp.MustCompile(`serving on (\S+) `)
	var addr string
	waitFor(t, "serve to print its address", func() bool {
		if m := serving.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	cl, err := client.New(client.Config{Brokers: []string{addr}, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.CreateTopic(ctx, "t", client.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	disk.SetFull(true)
	p := cl.Producer(client.ProducerConfig{Retries: 1}) // Close gives up soon on the dead node
	defer p.Close()
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	defer pcancel()
	if _, err := p.Produce(pctx, client.Message{Topic: "t", Value: []byte("v")}); err == nil {
		t.Fatal("a write was acknowledged on a full disk")
	}
	select {
	case got := <-code:
		wantExit(t, result{code: got, stdout: out.String(), stderr: errb.String()}, 1,
			"stopped on a fatal error", syscall.ENOSPC.Error())
	case <-ctx.Done():
		t.Fatalf("serve did not exit after its state machine stopped\nstderr: %s", errb.String())
	}
}
