package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
)

// toolCLI returns a cli whose tools talk to a fresh in-process broker.
func toolCLI(t *testing.T) *cli {
	b := brokertest.NewBroker(t)
	c := newCLI(t)
	c.env["MINIBROKER_BROKERS"] = b.Addr()
	return c
}

func TestTopicCommands(t *testing.T) {
	c := toolCLI(t)
	r := c.run("topic", "create", "orders", "--partitions", "3", "--retention-ms", "60000", "--segment-bytes", "1048576")
	if r.code != exitOK || r.stdout != "created topic \"orders\" with 3 partitions\n" {
		t.Fatalf("create: %+v", r)
	}
	wantExit(t, c.run("topic", "create", "orders"), exitRuntime,
		`topic "orders" already exists`, "minibroker topic describe orders")
	wantExit(t, c.run("topic", "create", "logs"), exitOK)

	c.stdin = "a\nb\nc\n"
	wantExit(t, c.run("produce", "orders", "--partition", "2"), exitOK, "sent 3, acked 3, failed 0")

	r = c.run("topic", "list")
	want := "TOPIC   PARTITIONS  RECORDS\nlogs    1           0\norders  3           3\n"
	if r.code != exitOK || r.stdout != want {
		t.Fatalf("list: %+v\nwant %q", r, want)
	}
	r = c.run("topic", "list", "--format", "json")
	var list []topicSummary
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || !slices.Equal(list, []topicSummary{{"logs", 1, 0}, {"orders", 3, 3}}) {
		t.Fatalf("list json: %v %+v", err, r)
	}

	r = c.run("topic", "describe", "orders")
	wantTable := regexp.MustCompile(`^topic orders: 3 partitions, cluster leader n1 \(127\.0\.0\.1:\d+\)
PARTITION  START  HIGH-WATERMARK  RECORDS
0          0      0               0
1          0      0               0
2          0      3               3
$`)
	if r.code != exitOK || !wantTable.MatchString(r.stdout) {
		t.Fatalf("describe: %+v", r)
	}
	r = c.run("topic", "describe", "orders", "--format", "json")
	var d topicDetail
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.Name != "orders" || d.Leader != "n1" || len(d.Partitions) != 3 ||
		d.Partitions[2] != (partitionDetail{Partition: 2, StartOffset: 0, HighWatermark: 3, Records: 3}) {
		t.Fatalf("describe json: %v %+v", err, r)
	}

	r = c.run("topic", "delete", "orders")
	if r.code != exitOK || r.stdout != "deleted topic \"orders\"\n" {
		t.Fatalf("delete: %+v", r)
	}
	for _, args := range [][]string{{"topic", "describe", "orders"}, {"topic", "delete", "orders"}, {"consume", "orders"}, {"produce", "orders"}} {
		wantExit(t, c.run(args...), exitRuntime, `topic "orders" does not exist — create it with `+"`minibroker topic create orders`")
	}
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	c := toolCLI(t)
	wantExit(t, c.run("topic", "create", "t"), exitOK)
	big := strings.Repeat("x", maxLineBytes-100) // a line far above bufio.Scanner's 64 KiB
	lines := []string{"first", "", "with spaces and ünïcödé", big, "windows"}
	c.stdin = strings.Join(lines[:4], "\n") + "\nwindows\r\n"
	wantExit(t, c.run("produce", "t"), exitOK, "sent 5, acked 5, failed 0")

	r := c.run("consume", "t", "--from-beginning", "--max", "5")
	if r.code != exitOK || r.stdout != strings.Join(lines, "\n")+"\n" {
		t.Fatalf("consume: exit %d, %d bytes of stdout, stderr %q", r.code, len(r.stdout), r.stderr)
	}
	r = c.run("consume", "t", "--offset", "2", "--max", "1")
	if r.code != exitOK || r.stdout != lines[2]+"\n" {
		t.Fatalf("consume --offset: %+v", r)
	}
	// Default: start at the end; --idle ends the wait.
	start := time.Now()
	r = c.run("consume", "t", "--idle", "200ms")
	if r.code != exitOK || r.stdout != "" || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("consume from latest: %+v", r)
	}
}

func TestProduceKeysAndJSONOutput(t *testing.T) {
	c := toolCLI(t)
	wantExit(t, c.run("topic", "create", "k", "--partitions", "4"), exitOK)
	c.stdin = "alice:1\nbob:2\nalice:3\n"
	wantExit(t, c.run("produce", "k", "--key-sep", ":"), exitOK, "sent 3, acked 3, failed 0")
	c.stdin = "\xff\xfe binary\n"
	wantExit(t, c.run("produce", "k", "--key", "bin", "--acks", "1"), exitOK, "sent 1, acked 1, failed 0")
	c.stdin = "fire\n"
	r := c.run("produce", "k", "--partition", "3", "--acks", "0")
	if r.code != exitOK || r.stderr != "sent 1\n" {
		t.Fatalf("acks 0: %+v", r)
	}

	r = c.run("consume", "k", "--from-beginning", "--max", "5", "--format", "json")
	if r.code != exitOK {
		t.Fatalf("consume: %+v", r)
	}
	var recs []jsonRecord
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var j jsonRecord
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if _, err := time.Parse(time.RFC3339Nano, j.Timestamp); err != nil || time.Since(mustTime(t, j.Timestamp)) > time.Minute {
			t.Fatalf("timestamp %q: %v", j.Timestamp, err)
		}
		recs = append(recs, j)
	}
	if len(recs) != 5 {
		t.Fatalf("got %d records: %s", len(recs), r.stdout)
	}
	byKey := map[string][]string{}
	for _, j := range recs {
		k := "<nil>"
		if j.Key != nil {
			k = *j.Key
		}
		v := j.Value
		if j.ValueBase64 {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatal(err)
			}
			v = "b64:" + string(b)
		}
		byKey[k] = append(byKey[k], v)
		if j.Topic != "k" || (k == "<nil>" && j.Partition != 3) {
			t.Fatalf("record %+v", j)
		}
	}
	want := map[string][]string{"alice": {"1", "3"}, "bob": {"2"}, "bin": {"b64:\xff\xfe binary"}, "<nil>": {"fire"}}
	for k, v := range want {
		if !slices.Equal(byKey[k], v) {
			t.Fatalf("key %s: %q, want %q (all: %q)", k, byKey[k], v, byKey)
		}
	}
	// The raw line shows what a JSON reader sees.
	if !strings.Contains(r.stdout, `"key":null`) || !strings.Contains(r.stdout, `"value_base64":true`) {
		t.Fatalf("json: %s", r.stdout)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestProduceFailures(t *testing.T) {
	c := toolCLI(t)
	wantExit(t, c.run("topic", "create", "t"), exitOK)
	c.stdin = "ok\n" + strings.Repeat("y", maxLineBytes+1) + "\nno separator\nk:v\n"
	r := c.run("produce", "t", "--key-sep", ":")
	wantExit(t, r, exitRuntime, "sent 1, acked 1, failed 3", "line 1: no key separator", "line 2: message too large",
		"line 3: no key separator", "3 of 4 messages not delivered")

	wantExit(t, c.run("produce", "t", "--partition", "1"), exitRuntime, `topic "t" has no partition 1: it has 1`)
	wantExit(t, c.run("consume", "t", "--partition", "4"), exitRuntime, `topic "t" has no partition 4`)
	wantExit(t, c.run("consume", "t", "--offset", "99", "--max", "1"), exitRuntime, "partition 0 has no offset 99 yet")
}

func TestProduceProgressOnlyOnTerminal(t *testing.T) {
	c := toolCLI(t)
	wantExit(t, c.run("topic", "create", "t"), exitOK)
	c.stdin = "a\nb\n"
	if r := c.run("produce", "t"); r.code != exitOK || strings.Contains(r.stderr, "\r") {
		t.Fatalf("piped: %+v", r)
	}
	c.term = true
	if r := c.run("produce", "t"); r.code != exitOK || !strings.Contains(r.stderr, "\r\033[K") {
		t.Fatalf("terminal: %+v", r)
	}
}

func TestReadLine(t *testing.T) {
	in := "a\r\n\nlong-line\nb\r\nlast"
	br := bufio.NewReaderSize(strings.NewReader(in), 16) // lines longer than the buffer
	type line struct {
		s       string
		tooLong bool
	}
	var got []line
	for {
		l, tooLong, err := readLine(br, 5)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, line{string(l), tooLong})
	}
	want := []line{{"a", false}, {"", false}, {"", true}, {"b", false}, {"last", false}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	br = bufio.NewReaderSize(strings.NewReader(strings.Repeat("z", 100)+"\nok\n"), 16)
	for i, w := range []line{{"", true}, {"ok", false}} {
		l, tooLong, err := readLine(br, 10)
		if err != nil || (line{string(l), tooLong}) != w {
			t.Fatalf("line %d: %q %v %v", i, l, tooLong, err)
		}
	}
}

// FuzzReadLine: readLine splits any input into its lines, without the
// "\n" or "\r\n", and flags exactly the lines longer than max.
func FuzzReadLine(f *testing.F) {
	f.Add("a\r\n\nlong-line\nb\r\nlast", 5)
	f.Add("\n\n", 0)
	f.Add(strings.Repeat("z", 40)+"\r\r\n", 39)
	f.Fuzz(func(t *testing.T, in string, max int) {
		if max < 0 || max > 1<<16 {
			return
		}
		var want []string
		if in != "" {
			want = strings.Split(strings.TrimSuffix(in, "\n"), "\n")
		}
		br := bufio.NewReaderSize(strings.NewReader(in), 16)
		for i := 0; ; i++ {
			l, tooLong, err := readLine(br, max)
			if errors.Is(err, io.EOF) {
				if i != len(want) {
					t.Fatalf("%d lines, want %d", i, len(want))
				}
				return
			}
			if err != nil || i >= len(want) {
				t.Fatalf("line %d: %v (want %d lines)", i, err, len(want))
			}
			w := strings.TrimSuffix(want[i], "\r")
			if tooLong != (len(w) > max) || (!tooLong && string(l) != w) {
				t.Fatalf("line %d: %q tooLong=%v, want %q (max %d)", i, l, tooLong, w, max)
			}
		}
	})
}
