package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/minibroker/minibroker/client/bench"
	"github.com/minibroker/minibroker/client/bench/kbench"
	"github.com/minibroker/minibroker/replication"
)

// kafkaFigures is what one Kafka-comparison system measured in one round.
type kafkaFigures struct {
	oneP50    float64 // ms, one record in flight
	pipelined float64 // msgs/s
	consume   float64 // msgs/s
}

// runKafka measures, on one 3-node minibroker cluster, the native client
// and franz-go through the Kafka listeners, and franz-go against kfake
// (franz-go's in-memory fake: no fsync, no replication; the ceiling), all
// acks=all with 100-byte records by default, and prints a table with the
// ratio Kafka listener / native client.
func runKafka(ctx context.Context, o options) error {
	stores, err := parseStores(o.raftLogs)
	if err != nil {
		return err
	}
	store := stores[0]
	names := []string{"native client", "franz-go → Kafka listener", "franz-go → kfake"}
	best := map[string]kafkaFigures{}
	start, load := time.Now(), loadAvg()
	for round := 0; round < o.rounds; round++ {
		got, err := kafkaRound(ctx, o, store, round)
		if err != nil {
			return err
		}
		for i, n := range names {
			f := got[i]
			fmt.Fprintf(os.Stderr, "round %d %-28s one-in-flight p50 %.3f ms | pipelined %.0f msgs/s | consume %.0f msgs/s\n",
				round+1, n, f.oneP50, f.pipelined, f.consume)
			b, ok := best[n]
			if !ok {
				best[n] = f
				continue
			}
			best[n] = kafkaFigures{oneP50: min(b.oneP50, f.oneP50), pipelined: max(b.pipelined, f.pipelined), consume: max(b.consume, f.consume)}
		}
	}
	w := os.Stdout
	fmt.Fprintf(w, "Measured %s on %d cores (%s), %s; %d rounds, best of rounds; %v per workload, %d-byte records, acks=all; 3 minibroker nodes (%s Raft log), kfake with 3 brokers; took %v; load average %s at the start, %s at the end.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), cpuModel(), runtime.Version(),
		o.rounds, o.duration, o.size, store, time.Since(start).Round(time.Second), load, loadAvg())
	fmt.Fprintln(w, "| workload | figure | native client | franz-go → Kafka listener | franz-go → kfake | Kafka listener / native |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|")
	n, k, f := best[names[0]], best[names[1]], best[names[2]]
	fmt.Fprintf(w, "| one in flight | p50 ms (lower is better) | %.3f | %.3f | %.3f | %.2f |\n", n.oneP50, k.oneP50, f.oneP50, k.oneP50/n.oneP50)
	fmt.Fprintf(w, "| pipelined produce (window %d) | msgs/s | %.0f | %.0f | %.0f | %.2f |\n", o.window, n.pipelined, k.pipelined, f.pipelined, k.pipelined/n.pipelined)
	fmt.Fprintf(w, "| group consume, commit per poll | msgs/s | %.0f | %.0f | %.0f | %.2f |\n", n.consume, k.consume, f.consume, k.consume/n.consume)
	return nil
}

// kafkaRound runs the workloads once on each system: a fresh 3-node
// cluster for the native client and the Kafka listener (alternating which
// goes first), and a fresh kfake.
func kafkaRound(ctx context.Context, o options, store replication.RaftLogStore, round int) ([3]kafkaFigures, error) {
	var out [3]kafkaFigures
	dir, err := os.MkdirTemp("", "peers-kafka-")
	if err != nil {
		return out, err
	}
	defer os.RemoveAll(dir)
	c, err := startMinibroker(3, store, dir)
	if err != nil {
		return out, err
	}
	defer c.close()
	setupCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// Both consume as group members committing after every poll and
	// waiting for the commit.
	native := c.target()
	kafka := &kbench.Kafka{Brokers: c.c.KafkaAddrs(), Acks: -1, Group: true, CommitEveryPoll: true}
	order := []int{0, 1}
	if round%2 == 1 {
		order = []int{1, 0}
	}
	for _, i := range order {
		var target bench.Target = native
		prefix := "native-"
		if i == 1 {
			target, prefix = kafka, "kafka-"
		}
		for _, topic := range []string{"one", "pipelined", "consume"} {
			if err := c.createTopic(setupCtx, prefix+topic); err != nil {
				return out, fmt.Errorf("create %s: %w", prefix+topic, err)
			}
		}
		if out[i], err = kafkaWorkloads(ctx, o, target, prefix); err != nil {
			return out, fmt.Errorf("%s: %w", prefix, err)
		}
	}
	fake, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		return out, err
	}
	defer fake.Close()
	for _, topic := range []string{"one", "pipelined", "consume"} {
		if _, err := kbench.CreateTopic(setupCtx, fake.ListenAddrs(), "kfake-"+topic, 1); err != nil {
			return out, err
		}
	}
	if out[2], err = kafkaWorkloads(ctx, o, &kbench.Kafka{Brokers: fake.ListenAddrs(), Acks: -1, Group: true, CommitEveryPoll: true}, "kfake-"); err != nil {
		return out, fmt.Errorf("kfake: %w", err)
	}
	return out, nil
}

func kafkaWorkloads(ctx context.Context, o options, target bench.Target, prefix string) (kafkaFigures, error) {
	var f kafkaFigures
	runtime.GC()
	res, err := checked(bench.Produce(ctx, target, prefix+"one", bench.ProduceConfig{Size: o.size, Duration: o.duration, MaxInFlight: 1}))
	if err != nil {
		return f, fmt.Errorf("one in flight: %w", err)
	}
	f.oneP50 = res.Latency.P50Ms
	runtime.GC()
	if res, err = checked(bench.Produce(ctx, target, prefix+"pipelined", bench.ProduceConfig{Size: o.size, Duration: o.duration, MaxInFlight: o.window})); err != nil {
		return f, fmt.Errorf("pipelined: %w", err)
	}
	f.pipelined = res.MsgsPerSec
	fillCtx, cancelFill := context.WithTimeout(ctx, 4*o.duration)
	fill, _ := bench.Produce(fillCtx, target, prefix+"consume", bench.ProduceConfig{Size: o.size, Count: o.consume, MaxInFlight: o.window})
	cancelFill()
	if fill.Messages == 0 {
		return f, fmt.Errorf("fill: nothing acknowledged (%s)", fill.FirstError)
	}
	runtime.GC()
	if res, err = checked(bench.Consume(ctx, target, prefix+"consume", "g", bench.ConsumeConfig{Count: fill.Messages})); err != nil {
		return f, fmt.Errorf("consume: %w", err)
	}
	f.consume = res.MsgsPerSec
	return f, nil
}
