package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/minibroker/minibroker/lab"
)

// `minibroker demo` plays the delivery-semantics scenarios of package
// lab against a real 3-node cluster running inside the process, and
// prints each one's timeline and its rows of the table. The scenarios
// themselves live in lab/ (the web console's delivery lab plays the same
// ones).

// scenario is one demo.
type scenario struct {
	name    string
	summary string // one line, for --list
	lab     lab.Scenario
}

// scenarios lists the demos in the order `demo all` plays them.
var scenarios = func() []scenario {
	var out []scenario
	for _, s := range lab.Scenarios() {
		out = append(out, scenario{name: s.Name, summary: s.Summary, lab: s})
	}
	return out
}()

// scenarioNames returns the scenarios' names and "all".
func scenarioNames() []string {
	names := make([]string, 0, len(scenarios)+1)
	for _, s := range scenarios {
		names = append(names, s.name)
	}
	return append(names, "all")
}

// demoSizes are how much each scenario does. The command uses
// defaultDemoSizes; tests use smaller ones.
type demoSizes = lab.Sizes

var defaultDemoSizes = lab.DefaultSizes

// demoRow is a scenario's result, one line of the table.
type demoRow struct {
	scenario   string
	sent       int
	acked      int // -1: not applicable (acks=0)
	delivered  int // distinct messages the consumer received (or processed)
	lost       int
	duplicated int // messages delivered more than once
	effects    int // side effects of processing; -1: no processing
}

// demoSeed derives a scenario's random source (see lab.Seed).
func demoSeed(seed uint64, name string) *rand.Rand { return lab.Seed(seed, name) }

func newDemoCmd(a *app) *cobra.Command {
	var (
		list bool
		seed uint64
	)
	cmd := &cobra.Command{
		Use:   "demo [SCENARIO | all]",
		Short: "Watch messages get lost and duplicated (and not) on a real in-process cluster",
		Long: `demo starts a 3-node cluster inside this process (in a temporary
directory, removed afterwards) and plays a scenario against it: it
produces messages, kills or cuts off the leader, loses an acknowledgement or crashes a
consumer, then reads everything back and counts with the delivery
checker. Each scenario prints a timeline with times relative to its
start and ends in a table row:

  sent       messages the producer sent
  acked      of those, acknowledged (- for acks=0, which waits for none)
  delivered  distinct messages the consumer received (or processed)
  lost       messages the producer counted as sent (acked; for acks=0,
             written without error) that the consumer never received
  duplicated messages the consumer received more than once
  effects    side effects of processing (consumer scenarios)

Nothing is scripted: the numbers come from the run. --seed picks when to
strike (which burst the leader dies after, which acknowledgement is lost,
where a consumer crashes); the same seed makes the same choices, though
timing may still change the outcome. 'demo all' plays every scenario and
prints the combined table. See docs/semantics.md.`,
		Example: `  minibroker demo --list
  minibroker demo acks1-leader-killed
  minibroker demo all --seed 7`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case list && len(args) > 0:
				return usageErrorf("demo: --list takes no scenario")
			case list:
				return nil
			case len(args) == 0:
				return usageErrorf("demo: missing SCENARIO (one of: %s)", strings.Join(scenarioNames(), ", "))
			case len(args) > 1:
				return usageErrorf("demo: unexpected argument %q", args[1])
			}
			if _, ok := findScenarios(args[0]); !ok {
				return usageErrorf("demo: unknown scenario %q (one of: %s)", args[0], strings.Join(scenarioNames(), ", "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				return writeScenarioList(a.stdout)
			}
			if !cmd.Flags().Changed("seed") {
				seed = uint64(time.Now().UnixNano() % 1e6)
			}
			chosen, _ := findScenarios(args[0])
			err := runDemo(cmd.Context(), a.stdout, chosen, seed, defaultDemoSizes)
			if errors.Is(err, context.Canceled) {
				return explain(err, nil, "") // "interrupted"
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "list the scenarios and exit")
	cmd.Flags().Uint64Var(&seed, "seed", 0, "seed for the random choices (default: a new one, printed)")
	return cmd
}

// findScenarios returns the scenarios name stands for ("all": every one).
func findScenarios(name string) ([]scenario, bool) {
	if name == "all" {
		return scenarios, true
	}
	for _, s := range scenarios {
		if s.name == name {
			return []scenario{s}, true
		}
	}
	return nil, false
}

func writeScenarioList(w io.Writer) error {
	rows := make([][]string, 0, len(scenarios)+1)
	for _, s := range scenarios {
		rows = append(rows, []string{s.name, s.summary})
	}
	rows = append(rows, []string{"all", "every scenario above, then the combined table"})
	return writeTable(w, []string{"SCENARIO", "WHAT HAPPENS"}, rows)
}

// runDemo plays the scenarios in order, each on a fresh cluster, and
// prints their timelines and, with more than one, the combined table. It
// stops at the first scenario that fails to run (a cluster that does not
// start, ctx ended).
func runDemo(ctx context.Context, w io.Writer, chosen []scenario, seed uint64, sizes demoSizes) error {
	start := time.Now()
	fmt.Fprintf(w, "seed %d (repeat the same choices with --seed %d)\n", seed, seed)
	var rows []demoRow
	for _, s := range chosen {
		got, err := playScenario(ctx, w, s, seed, sizes)
		if err != nil {
			return err
		}
		rows = append(rows, got...)
	}
	if len(chosen) > 1 {
		fmt.Fprintf(w, "\n== all scenarios (seed %d, %.1fs)\n", seed, time.Since(start).Seconds())
		return writeDemoTable(w, rows)
	}
	return nil
}

// playScenario runs s on a fresh cluster, printing its timeline and its
// rows of the table, and returns the rows.
func playScenario(ctx context.Context, w io.Writer, s scenario, seed uint64, sizes demoSizes) ([]demoRow, error) {
	fmt.Fprintf(w, "\n== %s: %s\n", s.name, s.summary)
	res, err := lab.Play(ctx, s.lab, lab.Options{Seed: seed, Sizes: sizes, OnEvent: func(e lab.Event) {
		if !e.Detail {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}})
	if err != nil {
		return nil, fmt.Errorf("demo %s: %w", s.name, err)
	}
	fmt.Fprintln(w)
	rows := make([]demoRow, len(res.Rows))
	for i, r := range res.Rows {
		rows[i] = demoRow{scenario: r.Scenario, sent: r.Sent, acked: r.Acked, delivered: r.Delivered,
			lost: r.Lost, duplicated: r.Duplicated, effects: r.Effects}
	}
	return rows, writeDemoTable(w, rows)
}

// writeDemoTable writes rows as "scenario | sent | ... | effects" with
// aligned columns (see lab.WriteTable).
func writeDemoTable(w io.Writer, rows []demoRow) error {
	out := make([]lab.Row, len(rows))
	for i, r := range rows {
		out[i] = lab.Row{Scenario: r.scenario, Sent: r.sent, Acked: r.acked, Delivered: r.delivered,
			Lost: r.lost, Duplicated: r.duplicated, Effects: r.effects}
	}
	return lab.WriteTable(w, out)
}
