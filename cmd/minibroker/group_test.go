package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lines returns "<prefix>0\n" ... "<prefix><n-1>\n".
func lines(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s%d\n", prefix, i)
	}
	return b.String()
}

// parseRecords parses consume --format json output.
func parseRecords(t *testing.T, out string) []jsonRecord {
	t.Helper()
	var recs []jsonRecord
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var j jsonRecord
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		recs = append(recs, j)
	}
	return recs
}

// describeGroup runs group describe --format json.
func describeGroup(t *testing.T, c *cli, group string) groupDetail {
	t.Helper()
	r := c.run("group", "describe", group, "--format", "json")
	var d groupDetail
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &d) != nil {
		t.Fatalf("group describe %s: %+v", group, r)
	}
	return d
}

// committed returns d's committed offsets by partition (-1 for none).
func committed(d groupDetail) map[int32]int64 {
	out := map[int32]int64{}
	for _, o := range d.Offsets {
		out[o.Partition] = -1
		if o.Committed != nil {
			out[o.Partition] = *o.Committed
		}
	}
	return out
}

// TestConsumeGroupCommitsWhatItPrinted: --max N commits exactly the N
// printed (not the rest of the batch), the next run resumes there, and
// together they print every message once.
func TestConsumeGroupCommitsWhatItPrinted(t *testing.T) {
	c := toolCLI(t)
	wantExit(t, c.run("topic", "create", "t", "--partitions", "3"), exitOK)
	c.stdin = lines("m", 10)
	wantExit(t, c.run("produce", "t"), exitOK, "acked 10")

	r := c.run("consume", "t", "--group", "g", "--from-beginning", "--max", "4", "--format", "json")
	first := parseRecords(t, r.stdout)
	if r.code != exitOK || len(first) != 4 {
		t.Fatalf("first run: %+v", r)
	}
	want := map[int32]int64{} // a group without members shows the partitions it committed
	for _, j := range first {
		want[j.Partition] = max(want[j.Partition], j.Offset+1)
	}
	d := describeGroup(t, c, "g")
	if got := committed(d); fmt.Sprint(got) != fmt.Sprint(want) || len(d.Members) != 0 || d.State != "Empty" {
		t.Fatalf("after --max 4: committed %v, want %v (what was printed); %+v", got, want, d)
	}

	// The second run resumes at the commits (and, for partitions without
	// one, at the beginning), then idles out.
	r = c.run("consume", "t", "--group", "g", "--from-beginning", "--idle", "1s", "--format", "json")
	second := parseRecords(t, r.stdout)
	seen := map[string]int{}
	for _, j := range append(first, second...) {
		seen[j.Value]++
	}
	for i := range 10 {
		if n := seen["m"+strconv.Itoa(i)]; n != 1 {
			t.Fatalf("m%d printed %d times; first run %v, second %v", i, n, first, second)
		}
	}
	if len(second) != 6 || r.code != exitOK {
		t.Fatalf("second run: %+v", r)
	}
	for _, o := range describeGroup(t, c, "g").Offsets {
		if o.Committed == nil || *o.Committed != o.HighWatermark || o.Lag != 0 {
			t.Fatalf("after reading all: %+v", o)
		}
	}
	if r := c.run("consume", "t", "--group", "g", "--idle", "300ms"); r.code != exitOK || r.stdout != "" {
		t.Fatalf("third run: %+v", r)
	}
}

// TestConsumeGroupStartsAtLatest: without --from-beginning a new group
// starts at the end (as Kafka's console consumer) and commits that start,
// so its next run prints what was produced in between.
func TestConsumeGroupStartsAtLatest(t *testing.T) {
	c := toolCLI(t)
	wantExit(t, c.run("topic", "create", "t", "--partitions", "2"), exitOK)
	c.stdin = lines("old", 4)
	wantExit(t, c.run("produce", "t"), exitOK)
	if r := c.run("consume", "t", "--group", "g", "--idle", "500ms"); r.code != exitOK || r.stdout != "" {
		t.Fatalf("new group: %+v", r)
	}
	for _, o := range describeGroup(t, c, "g").Offsets {
		if o.Committed == nil || *o.Committed != o.HighWatermark {
			t.Fatalf("the start at the end was not committed: %+v", o)
		}
	}
	c.stdin = "new0\nnew1\n"
	wantExit(t, c.run("produce", "t", "--partition", "1"), exitOK)
	if r := c.run("consume", "t", "--group", "g", "--idle", "500ms"); r.code != exitOK || r.stdout != "new0\nnew1\n" {
		t.Fatalf("second run: %+v", r)
	}
}

// TestGroupCommands: list, describe, reset and delete, with and without a
// member.
func TestGroupCommands(t *testing.T) {
	c := toolCLI(t)
	wantExit(t, c.run("topic", "create", "t", "--partitions", "2"), exitOK)
	c.stdin = lines("m", 6)
	wantExit(t, c.run("produce", "t", "--partition", "0"), exitOK)
	if r := c.run("group", "list"); r.code != exitOK || r.stdout != "GROUP  STATE  MEMBERS  GENERATION  TYPE\n" {
		t.Fatalf("empty list: %+v", r)
	}

	// A member reads everything, and stays.
	var out, errb lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, c.app(strings.NewReader(""), &out, &errb), []string{"consume", "t", "--group", "g", "--from-beginning"})
	}()
	waitFor(t, "the member to print 6 messages", func() bool { return out.String() == lines("m", 6) })
	d := describeGroup(t, c, "g")
	if d.State != "Stable" || len(d.Members) != 1 || len(d.Members[0].Assignment) != 2 || d.Strategy != "range" ||
		d.Members[0].ClientID != "minibroker-go" || d.Offsets[0].Member != d.Members[0].MemberID {
		t.Fatalf("describe: %+v", d)
	}
	waitFor(t, "the commit of what was printed", func() bool {
		o := describeGroup(t, c, "g").Offsets[0]
		return o.Committed != nil && *o.Committed == 6 && o.Lag == 0
	})
	r := c.run("group", "describe", "g")
	table := regexp.MustCompile(`^group g: Stable, generation \d+, strategy range, 1 member, total lag 0, native

MEMBER +CLIENT-ID +HOST +ASSIGNMENT
minibroker-go-\w+ +minibroker-go +\S+ +t/0,t/1

TOPIC +PARTITION +COMMITTED +HIGH-WATERMARK +LAG +MEMBER
t +0 +6 +6 +0 +minibroker-go-\w+
t +1 +(0|-) +0 +0 +minibroker-go-\w+
$`)
	if r.code != exitOK || !table.MatchString(r.stdout) {
		t.Fatalf("describe table:\n%s", r.stdout)
	}
	if r := c.run("group", "list"); r.code != exitOK || !regexp.MustCompile(`\ng +Stable +1 +\d+ +native\n$`).MatchString(r.stdout) {
		t.Fatalf("list: %+v", r)
	}
	for _, args := range [][]string{{"group", "reset", "g", "--topic", "t", "--to", "earliest"}, {"group", "delete", "g"}} {
		if r := c.run(args...); r.code != exitRuntime || r.stderr != "minibroker: group g has active members; stop its consumers first\n" {
			t.Fatalf("%v with a member: %+v", args, r)
		}
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("consume exited %d: %s", code, errb.String())
	}

	// Without members: reset, list, delete.
	d = describeGroup(t, c, "g")
	if d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("after the member left: %+v", d)
	}
	r = c.run("group", "reset", "g", "--topic", "t", "--to", "earliest")
	if r.code != exitOK || r.stdout != "group g: committed offsets of t set to earliest\nTOPIC  PARTITION  COMMITTED\nt      0          0\nt      1          0\n" {
		t.Fatalf("reset earliest: %+v", r)
	}
	if r := c.run("group", "reset", "g", "--topic", "t", "--to", "2", "--partition", "0"); r.code != exitOK || !strings.HasSuffix(r.stdout, "t      0          2\n") {
		t.Fatalf("reset to 2: %+v", r)
	}
	if got := committed(describeGroup(t, c, "g")); got[0] != 2 || got[1] != 0 {
		t.Fatalf("after reset: %v", got)
	}
	if r := c.run("consume", "t", "--group", "g", "--max", "1"); r.code != exitOK || r.stdout != "m2\n" {
		t.Fatalf("consume after reset: %+v", r)
	}
	wantExit(t, c.run("group", "reset", "g", "--topic", "t", "--to", "99", "--partition", "0"), exitRuntime,
		"offset 99 is beyond the stored records of \"t\"", "minibroker topic describe t")
	wantExit(t, c.run("group", "reset", "g", "--topic", "t", "--to", "0", "--partition", "5"), exitRuntime,
		"topic \"t\" has no such partition")
	wantExit(t, c.run("group", "reset", "g", "--topic", "nope", "--to", "latest"), exitRuntime, `topic "nope" does not exist`)
	if r := c.run("group", "reset", "g", "--topic", "t", "--to", "latest"); r.code != exitOK || !strings.HasSuffix(r.stdout, "t      0          6\nt      1          0\n") {
		t.Fatalf("reset latest: %+v", r)
	}
	r = c.run("group", "list", "--format", "json")
	var list []groupSummary
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &list) != nil || len(list) != 1 || list[0].Group != "g" || list[0].State != "Empty" {
		t.Fatalf("list json: %+v", r)
	}
	if r := c.run("group", "delete", "g"); r.code != exitOK || r.stdout != "deleted group \"g\"\n" {
		t.Fatalf("delete: %+v", r)
	}
	for _, args := range [][]string{{"group", "describe", "g"}, {"group", "delete", "g"}} {
		wantExit(t, c.run(args...), exitRuntime, `group "g" does not exist — see the groups with `+"`minibroker group list`")
	}
}

func TestClusterCommands(t *testing.T) {
	c := toolCLI(t)
	wantExit(t, c.run("cluster", "remove", "n1"), exitRuntime, `the cluster refused to remove node "n1"`, "only voter")
	wantExit(t, c.run("cluster", "remove", "n9"), exitRuntime,
		`node "n9" is not in the cluster — see the nodes with `+"`minibroker cluster status`")
	r := c.run("cluster", "status")
	want := regexp.MustCompile(`^NODE +NUM +ADDR +KAFKA-ADDR +RAFT-ADDR +VOTER +LEADER
n1 +1 +127\.0\.0\.1:\d+ +127\.0\.0\.1:\d+ +127\.0\.0\.1:\d+ +yes +yes

leader n1, term \d+, commit index \d+, applied index \d+, last log index \d+ \(as n1 sees it\)
$`)
	if r.code != exitOK || !want.MatchString(r.stdout) {
		t.Fatalf("status:\n%s%s", r.stdout, r.stderr)
	}
	r = c.run("cluster", "status", "--format", "json")
	var d clusterDetail
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &d) != nil || d.Leader != "n1" || d.Term == 0 ||
		d.CommitIndex == 0 || d.AppliedIndex == 0 || len(d.Nodes) != 1 || !d.Nodes[0].Voter || !d.Nodes[0].Leader ||
		d.Nodes[0].Addr != c.env["MINIBROKER_BROKERS"] {
		t.Fatalf("status json: %+v", r)
	}
}

// failingWriter fails every write, as stdout does when its reader is gone.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestConsumeGroupCommitsNothingUnwritten: records that could not be
// written out are not committed; the next run prints them.
func TestConsumeGroupCommitsNothingUnwritten(t *testing.T) {
	c := toolCLI(t)
	wantExit(t, c.run("topic", "create", "t"), exitOK)
	c.stdin = lines("m", 10)
	wantExit(t, c.run("produce", "t"), exitOK)
	var out, errb lockedBuffer
	a := c.app(strings.NewReader(""), &out, &errb)
	a.stdout = failingWriter{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if code := run(ctx, a, []string{"consume", "t", "--group", "g", "--from-beginning"}); code != exitRuntime ||
		!strings.Contains(errb.String(), "writing output: broken pipe") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	for _, o := range describeGroup(t, c, "g").Offsets {
		if o.Committed != nil && *o.Committed > 0 {
			t.Fatalf("committed what was not written: %+v", o)
		}
	}
	if r := c.run("consume", "t", "--group", "g", "--from-beginning", "--idle", "500ms"); r.code != exitOK || r.stdout != lines("m", 10) {
		t.Fatalf("next run: %+v", r)
	}
}
