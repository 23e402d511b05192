// Command minibroker is minibroker's one binary: the server (serve) and
// the command-line tools that talk to it (topic, produce, consume, group,
// cluster).
//
//	minibroker serve                       # one node: Kafka on 127.0.0.1:9092, native on 127.0.0.1:9094, data in ./minibroker-data
//	minibroker topic create orders --partitions 3
//	printf 'a\nb\n' | minibroker produce orders
//	minibroker consume orders --from-beginning --max 2
//	minibroker consume orders --group billing --from-beginning
//	minibroker group describe billing
//	minibroker cluster status
//
// Every command has --help; docs/cli.md describes them all, with their
// environment variables (MINIBROKER_*), the config file, exit codes and
// output formats. The command tree is built by newRootCmd (root.go);
// main only wires it to the process: arguments, standard streams,
// environment and signals.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

func main() {
	// The first SIGINT or SIGTERM cancels ctx (serve stops gracefully, the
	// tools finish up); after it, the default behaviour is restored so a
	// second one kills the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	a := &app{
		stdin:  os.Stdin,
		stdout: os.Stdout,
		stderr: os.Stderr,
		getenv: os.LookupEnv,
		stderrIsTerminal: func() bool {
			return term.IsTerminal(int(os.Stderr.Fd()))
		},
	}
	code := run(ctx, a, os.Args[1:])
	stop()
	os.Exit(code)
}
