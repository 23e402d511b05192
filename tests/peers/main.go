// Command peers runs the same workloads (package client/bench) against
// embedded NATS JetStream and embedded minibroker, alternating, and
// prints a table with the ratio minibroker/NATS:
//
//   - one message in flight, acks=all / PublishAsync with one pending:
//     latency p50 and p99, msgs/s;
//   - pipelined produce: throughput with a window of unacknowledged
//     messages;
//   - consume with acks/commits: a group consumer committing after every
//     poll (minibroker) and a durable pull consumer acking every message
//     (NATS), from a stream of -consume messages;
//   - end to end at a fixed rate: latency from send to delivery.
//
// NATS runs with file storage and SyncAlways (every write fsynced, as
// minibroker's Raft log is), R1 on one server and R3 on three clustered
// servers; minibroker with 1 and 3 nodes (localcluster: production Raft
// timeouts), on each Raft log store of -raft-log (default both: bolt and
// wal, each its own column with its own ratio to NATS). Everything runs in this process on loopback.
//
//	go run . -duration 3s -rounds 2 > table.md
//
// With -kafka it compares instead, on one 3-node minibroker cluster, the
// native client with franz-go through the nodes' Kafka listeners, and
// franz-go against kfake, franz-go's in-memory Kafka (no fsync, no
// replication: the ceiling), all acks=all (kafka.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/minibroker/minibroker/client/bench"
	"github.com/minibroker/minibroker/replication"
)

type options struct {
	duration time.Duration
	rounds   int
	size     int
	window   int
	rate     float64
	consume  int64
	systems  string
	raftLogs string
	kafka    bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 2*time.Second, "duration of each measured workload")
	flag.IntVar(&o.rounds, "rounds", 2, "rounds; each system runs once per round, and the best of the rounds is reported")
	flag.IntVar(&o.size, "size", 100, "message size in bytes")
	flag.IntVar(&o.window, "window", 16384, "unacknowledged messages per producer in the pipelined produce")
	flag.Float64Var(&o.rate, "rate", 1000, "messages per second in the end-to-end workload")
	flag.Int64Var(&o.consume, "consume", 100_000, "messages the consume workload reads (fewer if filling the stream takes over twice -duration)")
	flag.StringVar(&o.systems, "pairs", "1,3", "cluster sizes to compare (1: minibroker 1 node vs NATS R1; 3: 3 nodes vs R3)")
	flag.StringVar(&o.raftLogs, "raft-log", "bolt,wal", "minibroker Raft log stores to measure, each as its own column: bolt, wal or bolt,wal")
	flag.BoolVar(&o.kafka, "kafka", false, "instead: compare the native client with franz-go through the Kafka listeners of a 3-node cluster, and franz-go against kfake (on the first -raft-log store)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	runner := run
	if o.kafka {
		runner = runKafka
	}
	if err := runner(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

// figures is what one system measured in one round.
type figures struct {
	oneP50, oneP99, oneRate float64 // one in flight: ms, ms, msgs/s
	pipelined               float64 // msgs/s
	consume                 float64 // msgs/s
	e2eP50, e2eP99          float64 // ms
}

// best merges two rounds: the higher throughput, the lower latency.
func best(a, b figures, first bool) figures {
	if first {
		return b
	}
	return figures{
		oneP50: min(a.oneP50, b.oneP50), oneP99: min(a.oneP99, b.oneP99), oneRate: max(a.oneRate, b.oneRate),
		pipelined: max(a.pipelined, b.pipelined), consume: max(a.consume, b.consume),
		e2eP50: min(a.e2eP50, b.e2eP50), e2eP99: min(a.e2eP99, b.e2eP99),
	}
}

// system is a broker setup to measure.
type system struct {
	name    string
	nodes   int
	nats    bool
	raftLog replication.RaftLogStore // minibroker's Raft log store
}

// group is the systems of one cluster size: minibroker on each Raft log
// store, and NATS, which each of them is compared with.
type group struct {
	mbs  []system
	nats system
}

func run(ctx context.Context, o options) error {
	stores, err := parseStores(o.raftLogs)
	if err != nil {
		return err
	}
	var pairs []group
	for _, n := range parseSizes(o.systems) {
		g := group{nats: system{name: fmt.Sprintf("NATS R%d", n), nodes: n, nats: true}}
		for _, s := range stores {
			g.mbs = append(g.mbs, system{name: fmt.Sprintf("minibroker %d %s", n, s), nodes: n, raftLog: s})
		}
		pairs = append(pairs, g)
	}
	if len(pairs) == 0 {
		return fmt.Errorf("-pairs %q: want 1, 3 or 1,3", o.systems)
	}
	results := map[string]figures{}
	start, load := time.Now(), loadAvg()
	for round := 0; round < o.rounds; round++ {
		for _, pair := range pairs {
			order := append(slices.Clone(pair.mbs), pair.nats)
			if round%2 == 1 { // alternate which goes first
				slices.Reverse(order)
			}
			for _, sys := range order {
				f, err := measure(ctx, o, sys)
				if err != nil {
					return fmt.Errorf("%s: %w", sys.name, err)
				}
				fmt.Fprintf(os.Stderr, "round %d %-13s one-in-flight p50 %.3f ms p99 %.3f ms %.0f msgs/s | pipelined %.0f msgs/s | consume %.0f msgs/s | e2e p50 %.3f ms p99 %.3f ms\n",
					round+1, sys.name, f.oneP50, f.oneP99, f.oneRate, f.pipelined, f.consume, f.e2eP50, f.e2eP99)
				results[sys.name] = best(results[sys.name], f, round == 0)
			}
		}
	}
	printTable(o, pairs, results, time.Since(start), load)
	return nil
}

// parseStores returns the Raft log stores listed in s ("bolt,wal").
func parseStores(s string) ([]replication.RaftLogStore, error) {
	var out []replication.RaftLogStore
	for _, f := range strings.Split(s, ",") {
		st := replication.RaftLogStore(strings.TrimSpace(f))
		if !slices.Contains(replication.RaftLogStores, st) || slices.Contains(out, st) {
			return nil, fmt.Errorf("-raft-log %q: want bolt, wal or bolt,wal", s)
		}
		out = append(out, st)
	}
	return out, nil
}

// parseSizes returns the cluster sizes listed in s ("1,3").
func parseSizes(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(f) {
		case "1":
			out = append(out, 1)
		case "3":
			out = append(out, 3)
		default:
			return nil
		}
	}
	return out
}

// measure starts sys in a temporary directory, runs the four workloads
// and stops it.
func measure(ctx context.Context, o options, sys system) (figures, error) {
	dir, err := os.MkdirTemp("", "peers-")
	if err != nil {
		return figures{}, err
	}
	defer os.RemoveAll(dir)
	setupCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var target, e2eTarget bench.Target
	var create func(ctx context.Context, topic string) error
	var stop func()
	if sys.nats {
		c, err := startNATS(setupCtx, sys.nodes, dir)
		if err != nil {
			return figures{}, err
		}
		stop = c.close
		target = &natsTarget{url: c.url, maxAckPending: 1 << 16}
		e2eTarget = target
		create = c.createStream
	} else {
		c, err := startMinibroker(sys.nodes, sys.raftLog, dir)
		if err != nil {
			return figures{}, err
		}
		stop = func() { c.close() }
		target, e2eTarget = c.target(), c.e2eTarget()
		create = c.createTopic
	}
	defer stop()
	for _, topic := range []string{"one", "pipelined", "consume", "e2e"} {
		if err := create(setupCtx, topic); err != nil {
			return figures{}, fmt.Errorf("create %s: %w", topic, err)
		}
	}
	runtime.GC()
	var f figures
	res, err := checked(bench.Produce(ctx, target, "one", bench.ProduceConfig{Size: o.size, Duration: o.duration, MaxInFlight: 1}))
	if err != nil {
		return f, fmt.Errorf("one in flight: %w", err)
	}
	f.oneP50, f.oneP99, f.oneRate = res.Latency.P50Ms, res.Latency.P99Ms, res.MsgsPerSec
	runtime.GC()
	if res, err = checked(bench.Produce(ctx, target, "pipelined", bench.ProduceConfig{Size: o.size, Duration: o.duration, MaxInFlight: o.window})); err != nil {
		return f, fmt.Errorf("pipelined: %w", err)
	}
	f.pipelined = res.MsgsPerSec
	// Fill the consume topic with up to -consume messages, for at most
	// twice -duration (NATS R1 with SyncAlways fsyncs every message).
	fillCtx, cancelFill := context.WithTimeout(ctx, 2*o.duration)
	fill, _ := bench.Produce(fillCtx, target, "consume", bench.ProduceConfig{Size: o.size, Count: o.consume, MaxInFlight: o.window})
	cancelFill()
	if fill.Messages == 0 {
		return f, fmt.Errorf("fill: nothing acknowledged (%s)", fill.FirstError)
	}
	runtime.GC()
	if res, err = checked(bench.Consume(ctx, target, "consume", "g", bench.ConsumeConfig{Count: fill.Messages})); err != nil {
		return f, fmt.Errorf("consume: %w", err)
	}
	f.consume = res.MsgsPerSec
	runtime.GC()
	if res, err = checked(bench.EndToEnd(ctx, e2eTarget, "e2e", "g", bench.E2EConfig{Size: o.size, Rate: o.rate, Duration: o.duration})); err != nil {
		return f, fmt.Errorf("e2e: %w", err)
	}
	f.e2eP50, f.e2eP99 = res.Latency.P50Ms, res.Latency.P99Ms
	return f, nil
}

// checked turns failed messages into an error.
func checked(res bench.Result, err error) (bench.Result, error) {
	if err == nil && res.Errors > 0 {
		err = fmt.Errorf("%d errors, the first: %s", res.Errors, res.FirstError)
	}
	return res, err
}
