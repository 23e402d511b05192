// Command minibroker runs a minibroker node.
//
//	minibroker serve [--id ID] [--data DIR] [--addr HOST:PORT] [--raft-addr HOST:PORT]
//	                 [--bootstrap] [--join HOST:PORT[,HOST:PORT]]
//
// With no flags, serve runs one node with its data in ./minibroker-data on
// 127.0.0.1:9092 and bootstraps it when the data dir is new. SIGINT or
// SIGTERM stops it cleanly. The full CLI (client tools, metrics, config
// files) lands with its own issue; this is the server only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/minibroker/minibroker/broker"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: minibroker serve [flags]

Runs a minibroker node. Flags:
`

// run is main without the process exit, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		fs := serveFlags(stdout)
		var o options
		o.bind(fs)
		fs.PrintDefaults()
		return 0
	}
	if args[0] != "serve" {
		fmt.Fprintf(stderr, "minibroker: unknown command %q\n%s", args[0], usage)
		return 2
	}
	fs := serveFlags(stderr)
	opts := options{}
	opts.bind(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, opts, stdout, stderr, nil); err != nil {
		fmt.Fprintf(stderr, "minibroker: %v\n", err)
		if errors.Is(err, broker.ErrInvalidConfig) {
			return 2
		}
		return 1
	}
	return 0
}

type options struct {
	id, data, addr, raftAddr, join *string
	bootstrap                      *bool
}

func serveFlags(out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

func (o *options) bind(fs *flag.FlagSet) {
	o.id = fs.String("id", "", "node id, unique in the cluster (default: saved in the data dir, else n1)")
	o.data = fs.String("data", "minibroker-data", "data directory")
	o.addr = fs.String("addr", "127.0.0.1:9092", "client address to listen on")
	o.raftAddr = fs.String("raft-addr", "127.0.0.1:9093", "Raft address to listen on")
	o.bootstrap = fs.Bool("bootstrap", false, "form a new cluster if the data dir holds none (harmless otherwise)")
	o.join = fs.String("join", "", "client addresses of cluster members to join, comma-separated")
}

// serve runs a broker until ctx ends. ready, if not nil, is called with
// the client address once the broker serves.
func serve(ctx context.Context, o options, stdout, stderr io.Writer, ready func(addr string)) error {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := broker.Config{
		ID: *o.id, DataDir: *o.data, Addr: *o.addr, RaftAddr: *o.raftAddr,
		Bootstrap: *o.bootstrap, Logger: logger,
	}
	if *o.join != "" {
		cfg.Join = strings.Split(*o.join, ",")
	}
	b, err := broker.Start(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "minibroker %s serving on %s (data in %s)\n", b.ID(), b.Addr(), *o.data)
	if ready != nil {
		ready(b.Addr())
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "minibroker: shutting down")
	return b.Close()
}
