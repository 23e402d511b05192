package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/bench"
)

// lastJSON decodes the last line of stdout as a bench.Result.
func lastJSON(t *testing.T, r result) bench.Result {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	var res bench.Result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line of stdout %q: %v", lines[len(lines)-1], err)
	}
	if !strings.Contains(lines[len(lines)-1], `"msgs_per_sec":`) {
		t.Fatalf("no msgs_per_sec in %q", lines[len(lines)-1])
	}
	return res
}

func TestBenchProduceEmbeddedJSON(t *testing.T) {
	c := newCLI(t)
	prof := filepath.Join(t.TempDir(), "cpu.out")
	r := c.run("bench", "produce", "--embedded", "3", "--count", "500", "--producers", "2", "--size", "50",
		"--format", "json", "--cpuprofile", prof)
	wantExit(t, r, exitOK, "starting an embedded cluster of 3 nodes", `created topic "bench" with 1 partition`)
	res := lastJSON(t, r)
	if res.Workload != "produce" || res.Messages != 500 || res.Bytes != 500*50 || res.MsgsPerSec <= 0 || res.Latency.Count != 500 {
		t.Fatalf("result %+v", res)
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Fatalf("cpu profile: %v", err)
	}
}

func TestBenchProduceProgressAndText(t *testing.T) {
	c := toolCLI(t)
	// 250 messages at 100/s take 2.5s: progress lines at 1s and 2s.
	r := c.run("bench", "produce", "--topic", "p", "--partitions", "2", "--count", "250", "--rate", "100", "--max-in-flight", "1")
	wantExit(t, r, exitOK, `created topic "p" with 2 partitions`, "msgs/s", "MB/s", "p99")
	for _, want := range []string{"produce: 250 messages", "latency ms: p50", "p99.9"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("stdout %q lacks %q", r.stdout, want)
		}
	}
	// The topic exists now: a second run uses it.
	r = c.run("bench", "produce", "--topic", "p", "--count", "10", "--acks", "all")
	wantExit(t, r, exitOK)
	if strings.Contains(r.stderr, "created topic") {
		t.Fatalf("topic created twice: %s", r.stderr)
	}
	cl, err := client.New(client.Config{Brokers: []string{c.env["MINIBROKER_BROKERS"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var n int64
	for p := int32(0); p < 2; p++ {
		hw, err := cl.ListOffsets(context.Background(), "p", p, client.Latest)
		if err != nil {
			t.Fatal(err)
		}
		n += hw
	}
	if n != 260 {
		t.Fatalf("%d messages stored, want 260", n)
	}
}

func TestBenchConsumeEmbedded(t *testing.T) {
	c := newCLI(t)
	r := c.run("bench", "consume", "--embedded", "1", "--count", "1000", "--format", "json")
	wantExit(t, r, exitOK, `filling "bench" with 1000 messages`)
	res := lastJSON(t, r)
	if res.Workload != "consume" || res.Messages < 1000 || res.Latency.Count != res.Messages {
		t.Fatalf("result %+v", res)
	}
}

func TestBenchConsumeCommitsTheGroup(t *testing.T) {
	c := toolCLI(t)
	wantExit(t, c.run("bench", "produce", "--count", "300"), exitOK)
	r := c.run("bench", "consume", "--count", "300", "--group", "g1", "--commit", "poll", "--format", "json")
	wantExit(t, r, exitOK)
	if res := lastJSON(t, r); res.Messages < 300 {
		t.Fatalf("result %+v", res)
	}
	cl, err := client.New(client.Config{Brokers: []string{c.env["MINIBROKER_BROKERS"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	d, err := cl.DescribeGroup(context.Background(), "g1")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Offsets) != 1 || d.Offsets[0].Committed != 300 {
		t.Fatalf("group g1 offsets %+v, want 300 committed", d.Offsets)
	}
}

func TestBenchE2EEmbedded(t *testing.T) {
	c := newCLI(t)
	r := c.run("bench", "e2e", "--embedded", "1", "--rate", "500", "--count", "100", "--format", "json")
	wantExit(t, r, exitOK)
	res := lastJSON(t, r)
	if res.Workload != "e2e" || res.Messages < 100 || res.Latency.Count < 100 || res.Latency.P50Ms <= 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{
		{"bench", "produce", "--count", "5", "--duration", "1s"},
		{"bench", "produce", "--embedded", "20"},
		{"bench", "produce", "--format", "xml"},
		{"bench", "produce", "--producers", "0"},
		{"bench", "produce", "--acks", "2"},
		{"bench", "e2e", "--size", "4"},
		{"bench", "e2e", "--rate", "0"},
		{"bench", "consume", "--commit", "never"},
		{"bench", "produce", "extra"},
		{"bench", "nosuch"},
	} {
		if r := c.run(args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, r.code, exitUsage, r.stderr)
		}
	}
}

func TestBenchNoBroker(t *testing.T) {
	c := newCLI(t)
	r := c.run("bench", "produce", "--brokers", "127.0.0.1:1", "--count", "1")
	wantExit(t, r, exitRuntime, "no broker reachable")
}

// TestBenchKafkaEmbedded: --kafka drives franz-go through the embedded
// cluster's Kafka listeners: produce (the topic created through
// CreateTopics) and consume read back every message.
func TestBenchKafkaEmbedded(t *testing.T) {
	c := newCLI(t)
	r := c.run("bench", "produce", "--embedded", "3", "--kafka", "--count", "500", "--size", "50", "--partitions", "3", "--format", "json")
	wantExit(t, r, exitOK, `created topic "bench" with 3 partitions`)
	if res := lastJSON(t, r); res.Workload != "produce" || res.Messages != 500 || res.Errors != 0 {
		t.Fatalf("produce result %+v", res)
	}
	r = c.run("bench", "consume", "--embedded", "1", "--kafka", "--count", "700", "--format", "json")
	wantExit(t, r, exitOK, `filling "bench" with 700 messages`)
	if res := lastJSON(t, r); res.Workload != "consume" || res.Messages != 700 {
		t.Fatalf("consume result %+v", res)
	}
}

// TestBenchKafkaNoListener: --kafka against an address where nothing
// listens fails with an error that says what was expected there.
func TestBenchKafkaNoListener(t *testing.T) {
	c := newCLI(t)
	r := c.run("bench", "produce", "--kafka", "--brokers", "127.0.0.1:1", "--count", "10")
	wantExit(t, r, exitRuntime, "is a Kafka listener at 127.0.0.1:1?")
}
