package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testDemoSizes keep each scenario to a second or two.
var testDemoSizes = demoSizes{Messages: 200, Burst: 4, Pace: 2 * time.Millisecond, Retry: 20, Group: 60, Batch: 10}

func TestDemoList(t *testing.T) {
	r := newCLI(t).run("demo", "--list")
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("demo --list: %+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(scenarios)+2 || !strings.HasPrefix(lines[0], "SCENARIO") {
		t.Fatalf("want a header, %d scenarios and all:\n%s", len(scenarios), r.stdout)
	}
	for i, name := range scenarioNames() {
		if f := strings.Fields(lines[i+1]); len(f) < 2 || f[0] != name {
			t.Fatalf("line %d: want scenario %s with its description, got %q", i+1, name, lines[i+1])
		}
	}
	for _, want := range []string{"acks1-leader-killed", "retry-duplicate", "commit-before-processing", "idempotent-processing"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("--list lacks %s:\n%s", want, r.stdout)
		}
	}
}

func TestDemoUsageErrors(t *testing.T) {
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"demo", "nope"}, append([]string{`demo: unknown scenario "nope"`}, scenarioNames()...)},
		{[]string{"demo"}, []string{"demo: missing SCENARIO", "all"}},
		{[]string{"demo", "all", "retry-duplicate"}, []string{`unexpected argument "retry-duplicate"`}},
		{[]string{"demo", "--list", "all"}, []string{"--list takes no scenario"}},
		{[]string{"demo", "all", "--seed", "x"}, []string{"--seed"}},
	} {
		r := c.run(tc.args...)
		wantExit(t, r, exitUsage, tc.want...)
		if r.stdout != "" || strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("%v: want one line on stderr and nothing on stdout: %+v", tc.args, r)
		}
	}
}

// TestDemoScenarios plays every scenario at small sizes and checks that
// its row says what the scenario is there to show.
func TestDemoScenarios(t *testing.T) {
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			var out lockedBuffer
			rows, err := playScenario(ctx, &out, s, 1, testDemoSizes)
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			t.Logf("\n%s", out.String())
			if len(rows) == 0 {
				t.Fatal("no rows")
			}
			for _, r := range rows {
				checkRow(t, r, out.String())
			}
			r := rows[0]
			switch s.name {
			case "acksall-leader-killed", "acksall-leader-alone", "acksall-leader-cut-off":
				if r.lost != 0 {
					t.Fatalf("acks=all lost %d acknowledged messages", r.lost)
				}
			case "retry-duplicate":
				// Without idempotence a busy machine may add duplicates of
				// its own (a timeout, a leader change): at least one.
				if len(rows) != 2 || rows[0].duplicated < 1 || rows[1].duplicated != 0 || rows[0].lost+rows[1].lost != 0 {
					t.Fatalf("want the lost ack's duplicate without idempotence, none with it, nothing lost: %+v", rows)
				}
				for _, want := range []string{"ACK IS LOST", "attempt 2: the producer's retry", "a DUPLICATE", "is there once"} {
					if !strings.Contains(out.String(), want) {
						t.Fatalf("timeline lacks %q", want)
					}
				}
			case "kafka-producer-leader-killed":
				if len(rows) != 2 || rows[0].duplicated < 1 || rows[1].duplicated != 0 || rows[0].lost+rows[1].lost != 0 {
					t.Fatalf("want franz-go's retries stored twice without idempotence, once with it, nothing lost: %+v", rows)
				}
			case "kafka-consumer-crash":
				if r.lost != 0 || r.duplicated == 0 || r.effects != r.delivered+r.duplicated {
					t.Fatalf("a franz-go member crashed before committing: want its batch processed again and no loss: %+v", r)
				}
			case "commit-before-processing":
				if r.lost == 0 || r.duplicated != 0 {
					t.Fatalf("commit before processing and crash: want loss and no duplicates: %+v", r)
				}
			case "commit-after-processing":
				if r.lost != 0 || r.duplicated == 0 || r.effects != r.delivered+r.duplicated {
					t.Fatalf("commit after processing and crash: want duplicates (each one more effect) and no loss: %+v", r)
				}
			case "idempotent-processing":
				if r.lost != 0 || r.duplicated == 0 || r.effects != r.delivered {
					t.Fatalf("idempotent processing: want duplicate deliveries but one effect per distinct message: %+v", r)
				}
			}
		})
	}
}

// checkRow checks a row's internal consistency and that the table in
// out shows it.
func checkRow(t *testing.T, r demoRow, out string) {
	t.Helper()
	if r.sent <= 0 || r.delivered > r.sent || r.lost < 0 || r.duplicated > r.delivered || r.acked > r.sent {
		t.Fatalf("inconsistent row %+v", r)
	}
	if r.acked >= 0 && r.lost > r.acked {
		t.Fatalf("more lost than acked: %+v", r)
	}
	if r.acked < 0 && !strings.HasPrefix(r.scenario, "acks0") {
		t.Fatalf("acked is n/a only for acks=0: %+v", r)
	}
	num := func(n int) string {
		if n < 0 {
			return "-"
		}
		return fmt.Sprint(n)
	}
	line := regexp.MustCompile(fmt.Sprintf(`(?m)^%s +\| +%s \| +%s \| +%s \| +%s \| +%s \| +%s$`,
		regexp.QuoteMeta(r.scenario), num(r.sent), regexp.QuoteMeta(num(r.acked)), num(r.delivered), num(r.lost), num(r.duplicated), regexp.QuoteMeta(num(r.effects))))
	if !line.MatchString(out) {
		t.Fatalf("the table does not show %+v:\n%s", r, out)
	}
}

// TestDemoCommand runs one scenario through the command line at its
// real size.
func TestDemoCommand(t *testing.T) {
	r := newCLI(t).run("demo", "idempotent-processing", "--seed", "42")
	if r.code != exitOK {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{
		"seed 42 (repeat the same choices with --seed 42)",
		"== idempotent-processing:",
		"cluster up: n1, n2, n3",
		"CRASHED before committing",
		"scenario              | sent | acked | delivered | lost | duplicated | effects\n",
		"idempotent-processing |  500 |   500 |       500 |    0 |",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if regexp.MustCompile(`(?m)^ +\+\d+\.\d{3}s  `).FindAllString(r.stdout, -1) == nil {
		t.Fatalf("no timestamped timeline:\n%s", r.stdout)
	}
}

func TestDemoSeedRepeatsChoices(t *testing.T) {
	a, b, c := demoSeed(7, "retry-duplicate"), demoSeed(7, "retry-duplicate"), demoSeed(7, "commit-after-processing")
	same, differ := true, false
	for range 10 {
		x, y, z := a.Uint64(), b.Uint64(), c.Uint64()
		same = same && x == y
		differ = differ || x != z
	}
	if !same || !differ {
		t.Fatalf("a seed must repeat a scenario's choices (%v) and differ between scenarios (%v)", same, differ)
	}
}
