package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

// `minibroker demo` plays delivery-semantics scenarios against a real
// 3-node cluster running inside the process (demo_cluster.go): it
// produces, kills nodes, loses acknowledgements and crashes consumers,
// then counts with the delivery checker (client/check) what arrived. Every
// number printed comes from that run; only the choice of when to strike
// comes from the seed.
//
// Files: demo.go (command, scenarios, timeline, table), demo_cluster.go
// (the in-process cluster), demo_produce.go (leader killed mid-stream),
// demo_retry.go (a lost acknowledgement and the relay that loses it),
// demo_group.go (consumers that crash around their commits).

// scenario is one demo.
type scenario struct {
	name    string
	summary string // one line, for --list
	run     func(ctx context.Context, d *demoRun) ([]demoRow, error)
}

// scenarios lists the demos in the order `demo all` plays them.
var scenarios = []scenario{
	{"acks0-leader-killed", "acks=0: the leader is killed mid-stream; what was written but never stored is lost",
		leaderKilled(ackLevel0, false)},
	{"acks1-leader-killed", "acks=1: the leader is killed right after acking a burst; acked messages are lost if the followers did not have them yet",
		leaderKilled(ackLevel1, false)},
	{"acksall-leader-killed", "acks=all: the leader is killed mid-stream; nothing acked is lost (retries may duplicate)",
		leaderKilled(ackLevelAll, false)},
	{"acks1-leader-alone", "acks=1: the followers die, the leader acks alone, then dies; the followers return without those messages: loss",
		leaderKilled(ackLevel1, true)},
	{"acksall-leader-alone", "acks=all under the same fault: the lone leader acks nothing; after recovery the retries store everything",
		leaderKilled(ackLevelAll, true)},
	{"retry-duplicate", "one acknowledgement is lost on its way back; the retry stores the message twice, unless the producer is idempotent",
		runRetryDuplicate},
	{"commit-before-processing", "a consumer commits a batch, then crashes while processing it: the rest of the batch is never processed (at-most-once)",
		groupScenario(commitBefore)},
	{"commit-after-processing", "a consumer processes a batch, then crashes before committing it: the next owner processes it again (at-least-once)",
		groupScenario(commitAfter)},
	{"idempotent-processing", "as commit-after-processing, but processing is keyed by message id: every message takes effect once (effectively-once)",
		groupScenario(idempotentApply)},
}

func leaderKilled(level ackLevel, alone bool) func(context.Context, *demoRun) ([]demoRow, error) {
	return func(ctx context.Context, d *demoRun) ([]demoRow, error) { return runLeaderKilled(ctx, d, level, alone) }
}

func groupScenario(mode groupMode) func(context.Context, *demoRun) ([]demoRow, error) {
	return func(ctx context.Context, d *demoRun) ([]demoRow, error) { return runGroup(ctx, d, mode) }
}

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
type demoSizes struct {
	Messages int           // leader-killed: messages produced
	Burst    int           // leader-killed: messages per burst
	Pace     time.Duration // leader-killed: one burst every Pace
	Retry    int           // retry-duplicate: messages per half
	Group    int           // consumer scenarios: messages in the topic
	Batch    int           // consumer scenarios: records per Poll (MaxPollRecords)
}

var defaultDemoSizes = demoSizes{Messages: 2000, Burst: 4, Pace: 2 * time.Millisecond, Retry: 200, Group: 500, Batch: 50}

// demoRun is what a scenario runs with.
type demoRun struct {
	tl    *timeline
	rng   *rand.Rand
	sizes demoSizes
}

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

// demoSeed derives a scenario's random source from the run's seed and the
// scenario's name, so that `demo NAME --seed N` repeats exactly the
// choices NAME made in `demo all --seed N`.
func demoSeed(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	io.WriteString(h, name)
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

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
produces messages, kills the leader, loses an acknowledgement or crashes a
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
	d := &demoRun{tl: newTimeline(w), rng: demoSeed(seed, s.name), sizes: sizes}
	rows, err := s.run(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("demo %s: %w", s.name, err)
	}
	fmt.Fprintln(w)
	return rows, writeDemoTable(w, rows)
}

// writeDemoTable writes rows as "scenario | sent | ... | effects" with
// aligned columns.
func writeDemoTable(w io.Writer, rows []demoRow) error {
	cells := [][]string{{"scenario", "sent", "acked", "delivered", "lost", "duplicated", "effects"}}
	num := func(n int) string {
		if n < 0 {
			return "-"
		}
		return strconv.Itoa(n)
	}
	for _, r := range rows {
		cells = append(cells, []string{r.scenario, num(r.sent), num(r.acked), num(r.delivered), num(r.lost), num(r.duplicated), num(r.effects)})
	}
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for _, row := range cells {
		for i, c := range row {
			if i > 0 {
				b.WriteString(" | ")
			}
			if i == 0 {
				fmt.Fprintf(&b, "%-*s", width[i], c)
			} else {
				fmt.Fprintf(&b, "%*s", width[i], c)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// timeline prints a scenario's events, each stamped with the time since
// the scenario began. Safe for concurrent use (callbacks and the killer
// goroutine print too).
type timeline struct {
	start time.Time
	mu    sync.Mutex // guards w
	w     io.Writer
}

func newTimeline(w io.Writer) *timeline { return &timeline{start: time.Now(), w: w} }

// say prints an event that happens now.
func (tl *timeline) say(format string, args ...any) { tl.sayAt(time.Now(), format, args...) }

// sayAt prints an event that happened at t.
func (tl *timeline) sayAt(t time.Time, format string, args ...any) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	fmt.Fprintf(tl.w, "  %8s  %s\n", tl.rel(t), fmt.Sprintf(format, args...))
}

// rel formats t relative to the scenario's start: "+1.234s".
func (tl *timeline) rel(t time.Time) string {
	return fmt.Sprintf("+%.3fs", t.Sub(tl.start).Seconds())
}
