package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/tests/internal/testutil"
)

// cliRecord is one line of `consume --format json`.
type cliRecord struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Value     string `json:"value"`
}

// parseJSONLines parses consume --format json output. A last line without
// a newline (a process killed in the middle of a write) is left out: it
// was not committed either, as commits follow complete writes.
func parseJSONLines(t *testing.T, out string) []cliRecord {
	t.Helper()
	if i := strings.LastIndexByte(out, '\n'); i+1 < len(out) {
		out = out[:i+1]
	}
	var recs []cliRecord
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		var r cliRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// cliGroup is the part of `group describe --format json` the tests read.
type cliGroup struct {
	State   string `json:"state"`
	Members []struct {
		MemberID string `json:"member_id"`
	} `json:"members"`
	Offsets []struct {
		Partition     int32  `json:"partition"`
		Committed     *int64 `json:"committed"`
		HighWatermark int64  `json:"high_watermark"`
		Lag           int64  `json:"lag"`
	} `json:"offsets"`
}

// describeGroupCLI runs `group describe --format json` through the binary.
func describeGroupCLI(t *testing.T, group, brokers string) cliGroup {
	t.Helper()
	out, _ := mustCLI(t, "", "group", "describe", group, "--format", "json", brokers)
	var g cliGroup
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatalf("group describe: %v\n%s", err, out)
	}
	return g
}

// countLines counts the newlines of s.
func countLines(s string) int { return strings.Count(s, "\n") }

// TestCLIGroupConsumerResumesAfterKill: a `consume --group` process is
// killed with SIGKILL while lines are being produced; started again with
// the same command, it resumes exactly at the group's last commit. No line
// is missing from the two runs together, the first run never committed
// past what it printed, and the only duplicates are its uncommitted tail.
func TestCLIGroupConsumerResumesAfterKill(t *testing.T) {
	addrs := testutil.FreeAddrs(t, 2)
	srv := startProc(t, "serve", nil, "serve", "--kafka-addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data"), "--addr", addrs[0], "--raft-addr", addrs[1])
	srv.waitStdout(servingLine)
	brokers := "--brokers=" + addrs[0]
	mustCLI(t, "", "topic", "create", "events", "--partitions", "3", brokers)

	const total = 3000
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdinW.Close()
	prod := startProc(t, "produce", stdinR, "produce", "events", brokers)
	stdinR.Close()
	if _, err := stdinW.WriteString(numberedLines(0, 1000)); err != nil {
		t.Fatal(err)
	}
	// A short session, so that the second run need not wait long for the
	// group to drop the killed member.
	consumeArgs := []string{"consume", "events", "--group", "g", "--from-beginning", "--format", "json", "--session-timeout", "2s", brokers}
	first := startProc(t, "consume (killed)", nil, consumeArgs...)
	waitUntil(t, "the first consumer to print 300 lines", func() bool { return countLines(first.stdout.String()) >= 300 })
	if _, err := stdinW.WriteString(numberedLines(1000, 2000)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first consumer to print more than 1000 lines", func() bool { return countLines(first.stdout.String()) > 1000 })
	first.kill() // mid-stream: lines are still arriving
	t.Logf("killed the first consumer")
	if _, err := stdinW.WriteString(numberedLines(2000, total)); err != nil {
		t.Fatal(err)
	}
	stdinW.Close()
	if code := prod.wait(60 * time.Second); code != 0 {
		t.Fatalf("produce exited %d: %s", code, prod.stderr.String())
	}

	// What the group committed, against what the first run printed.
	run1 := parseJSONLines(t, first.stdout.String())
	printedUpTo := map[int32]int64{} // per partition, the offset after the last printed
	for _, r := range run1 {
		printedUpTo[r.Partition] = max(printedUpTo[r.Partition], r.Offset+1)
	}
	commits := map[int32]int64{}
	for _, o := range describeGroupCLI(t, "g", brokers).Offsets {
		if o.Committed == nil {
			continue
		}
		commits[o.Partition] = *o.Committed
		if *o.Committed > printedUpTo[o.Partition] {
			t.Fatalf("partition %d: committed %d, but the killed consumer printed only up to %d", o.Partition, *o.Committed, printedUpTo[o.Partition])
		}
	}
	if len(commits) == 0 {
		t.Fatalf("the killed consumer committed nothing after printing %d lines", len(run1))
	}

	// The same command again resumes at the commits.
	t.Logf("starting the second consumer")
	second := startProc(t, "consume (again)", nil, consumeArgs...)
	seen := map[string]int{}
	waitUntil(t, "every line consumed by one run or the other", func() bool {
		clear(seen)
		for _, r := range append(run1, parseJSONLines(t, second.stdout.String())...) {
			seen[r.Value]++
		}
		return len(seen) == total
	})
	t.Logf("stopping the second consumer")
	second.signal(syscall.SIGTERM)
	if code := second.wait(30 * time.Second); code != 0 {
		t.Fatalf("second consumer exited %d after SIGTERM: %s", code, second.stderr.String())
	}
	run2 := parseJSONLines(t, second.stdout.String())
	next := map[int32]int64{} // per partition, the offset run2 must print next
	for p, c := range commits {
		next[p] = c
	}
	for _, r := range run2 {
		if r.Offset != next[r.Partition] {
			t.Fatalf("second run printed partition %d offset %d, want %d (it resumes at the commit %d, in order, once each)",
				r.Partition, r.Offset, next[r.Partition], commits[r.Partition])
		}
		next[r.Partition]++
	}
	dups := 0
	for _, r := range run1 {
		if c, ok := commits[r.Partition]; !ok || r.Offset >= c {
			dups++ // printed, not committed: printed again
		}
	}
	if len(run1)+len(run2) != total+dups {
		t.Fatalf("first run %d lines, second %d, %d duplicates: want %d in all", len(run1), len(run2), dups, total+dups)
	}
	for _, o := range describeGroupCLI(t, "g", brokers).Offsets {
		if o.Lag != 0 {
			t.Fatalf("after the second run: partition %d has lag %d", o.Partition, o.Lag)
		}
	}
	t.Logf("killed consumer printed %d lines, committed %v; the second printed %d: %d duplicates (the uncommitted tail)",
		len(run1), commits, len(run2), dups)
}
