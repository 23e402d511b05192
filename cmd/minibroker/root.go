package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minibroker/minibroker/broker"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1 // the command ran and failed (no broker, unknown topic, unacked messages, ...)
	exitUsage   = 2 // bad command line, environment variable or config file
)

// version is the binary's version; release builds set it with
// -ldflags "-X main.version=v1.2.3". Without it, the module version from
// the build info is used ("(devel)" for a build from a checkout).
var version = ""

// app is what a command tree runs against: the process's streams and
// environment, or fakes in tests. Commands read their input and write
// their output only through it.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// getenv looks up an environment variable (os.LookupEnv).
	getenv func(string) (string, bool)
	// stderrIsTerminal reports whether stderr is a terminal (progress is
	// shown only then).
	stderrIsTerminal func() bool
	// serve runs a broker with cfg until ctx ends; nil means runServe.
	// Tests replace it to see the resolved configuration.
	serve func(ctx context.Context, a *app, cfg serveConfig) error
	// tls is the tools' client TLS (--tls-ca, --tls-cert, --tls-key);
	// loaded before a command runs (connect.go).
	tls clientTLS
	// login is the tools' --user and password (user.go).
	login loginOpts
}

// run executes the command line args and returns the process's exit code.
// Errors are printed to a.stderr as one line; ctx ending (SIGINT,
// SIGTERM) asks the running command to stop.
func run(ctx context.Context, a *app, args []string) int {
	shared := *a
	shared.stdout = &syncWriter{w: a.stdout}
	shared.stderr = &syncWriter{w: a.stderr}
	a = &shared
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if isUsage(err) {
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(a.stderr, "minibroker: %s (see '%s --help')\n", oneLine(err.Error()), cmd.CommandPath())
		return exitUsage
	}
	fmt.Fprintf(a.stderr, "minibroker: %s\n", oneLine(err.Error()))
	return exitRuntime
}

// oneLine joins the lines of a multi-line error message (errors.Join's).
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// newRootCmd builds the command tree.
func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "minibroker",
		Short: "A self-contained log broker: one binary, replicated with Raft",
		Long: `minibroker is a log broker: topics split into partitions, each a log on
disk, replicated with Raft. This one binary runs a node (serve) and the
tools that talk to a cluster (topic, produce, consume, group, cluster, acl).

Start a single node with 'minibroker serve'; see docs/cli.md for clusters,
environment variables (MINIBROKER_*) and the config file.`,
		Example: `  minibroker serve
  minibroker topic create orders --partitions 3
  printf 'hello\nworld\n' | minibroker produce orders
  minibroker consume orders --from-beginning --max 2
  minibroker consume orders --group billing --from-beginning
  minibroker group describe billing
  minibroker cluster status`,
		Args:              groupArgs,
		RunE:              showHelp,
		SilenceErrors:     true,
		SilenceUsage:      true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return a.preRun(cmd) },
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErrorf("%s: %w", cmdName(cmd), err)
	})
	root.PersistentFlags().String("config", "",
		"TOML config file whose keys are flag names")
	markSettings(root.PersistentFlags(), "config")
	a.clientTLSFlags(root.PersistentFlags())
	root.AddCommand(
		newServeCmd(a),
		newTopicCmd(a),
		newProduceCmd(a),
		newConsumeCmd(a),
		newGroupCmd(a),
		newClusterCmd(a),
		newRecoverCmd(a),
		newVersionCmd(a),
		newDemoCmd(a),
		newBenchCmd(a),
		newACLCmd(a),
		newCertsCmd(a),
		newUserCmd(a),
	)
	return root
}

// groupArgs is the Args check of a command that only groups others: an
// argument can only be a subcommand it does not have.
func groupArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	hint := ""
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		hint = fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return usageErrorf("unknown command %q for %q%s", args[0], cmd.CommandPath(), hint)
}

// showHelp is the RunE of a group command called without a subcommand.
func showHelp(cmd *cobra.Command, _ []string) error {
	return cmd.Help()
}

// exactArgs is cobra.ExactArgs with a usage error that names the
// arguments expected.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		if len(args) < len(names) {
			return usageErrorf("%s: missing %s", cmdName(cmd), strings.Join(names[len(args):], " "))
		}
		return usageErrorf("%s: unexpected argument %q", cmdName(cmd), args[len(names)])
	}
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print minibroker's version",
		Args:  exactArgs(),
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(a.stdout, "minibroker %s (%s %s/%s)\n", binaryVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}

// binaryVersion returns version, else the main module's version.
func binaryVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// cmdName is cmd's path without the program name: "topic create".
func cmdName(cmd *cobra.Command) string {
	if !cmd.HasParent() {
		return cmd.Name()
	}
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// isUsage reports whether err is the user's mistake in how the command
// was called (exit code 2).
func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u) || errors.Is(err, broker.ErrInvalidConfig)
}
