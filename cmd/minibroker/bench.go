package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/minibroker/minibroker/broker/localcluster"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/bench"
	"github.com/minibroker/minibroker/client/bench/kbench"
	"github.com/minibroker/minibroker/replication"
)

// Defaults of the bench commands.
const (
	benchDefaultCount = 100_000
	benchDefaultE2E   = 10 * time.Second
	benchDefaultRate  = 1000
	benchMaxEmbedded  = 9
)

// benchOpts are the flags the bench commands share.
type benchOpts struct {
	brokers    []string
	embedded   int
	topic      string
	partitions int32
	size       int
	count      int64
	duration   time.Duration
	acks       *enumValue
	batch      int
	linger     time.Duration
	format     *enumValue
	cpuProfile string
	raftLog    *enumValue // the embedded cluster's Raft log store
	kafka      bool       // drive franz-go through Kafka listeners
}

func newBenchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and latency (produce, consume, e2e)",
		Long: `Load a cluster and measure it, like kafka-producer-perf-test and nats bench.

  bench produce   producers send as fast as acknowledgements allow (or --rate)
  bench consume   a consumer group reads and commits
  bench e2e       produce and consume at a fixed rate: latency from send to delivery

Every second a progress line goes to stderr (msgs/s, MB/s, p50/p99 latency
of that second); at the end the result goes to stdout: throughput and the
latency percentiles p50/p95/p99/p99.9/max (HdrHistogram), as text or, with
--format json, as one JSON object on the last line (msgs_per_sec, ...).
MB is 10^6 bytes of message values.

--embedded N starts a cluster of N nodes inside the command, in a
temporary directory, so nothing else needs to run; otherwise --brokers
names a running cluster; --raft-log wal gives the embedded nodes raft-wal
instead of raft-boltdb as their Raft log. The topic is created if it does
not exist.

--kafka runs the same workloads with franz-go, the Go Kafka client,
through Kafka listeners: the embedded cluster's, or those --brokers names
(default 127.0.0.1:9092), which may be any Kafka-compatible broker, so one
tool measures minibroker and its peers alike. Its consumers are members of
a Kafka consumer group, committing as --commit says.`,
		Example: `  minibroker bench produce --embedded 3 --count 1000000
  minibroker bench produce --producers 4 --duration 30s --acks 1 --format json
  minibroker bench consume --embedded 3 --count 200000
  minibroker bench e2e --embedded 3 --rate 5000 --duration 20s
  minibroker bench produce --embedded 3 --kafka --count 1000000
  minibroker bench produce --kafka --brokers kafka1:9092 --acks all`,
		Args: groupArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(newBenchProduceCmd(a), newBenchConsumeCmd(a), newBenchE2ECmd(a))
	return cmd
}

// newBenchOpts returns the shared options with their defaults.
func newBenchOpts() *benchOpts {
	return &benchOpts{acks: newAcksEnum(), format: newEnum("text", "text", "json"),
		raftLog: newEnum(string(replication.RaftLogBolt), string(replication.RaftLogBolt), string(replication.RaftLogWAL))}
}

// flags adds the shared flags to fs.
func (o *benchOpts) flags(fs *pflag.FlagSet) {
	brokersFlag(fs, &o.brokers)
	fs.IntVar(&o.embedded, "embedded", 0, fmt.Sprintf("start an in-process cluster of this many nodes (1-%d) in a temporary directory instead of using --brokers", benchMaxEmbedded))
	fs.StringVar(&o.topic, "topic", "bench", "topic to use; created if missing")
	fs.Int32Var(&o.partitions, "partitions", 1, "partitions of the topic when it is created")
	fs.IntVar(&o.size, "size", bench.DefaultSize, "bytes per message value")
	fs.Int64Var(&o.count, "count", 0, fmt.Sprintf("number of messages (default %d, or --duration)", benchDefaultCount))
	fs.DurationVar(&o.duration, "duration", 0, "run this long instead of --count messages")
	fs.Var(o.acks, "acks", "acknowledgement the producer waits for: 0, 1 or all")
	fs.IntVar(&o.batch, "batch", client.DefaultBatchBytes, "producer batch size in bytes, per partition")
	fs.DurationVar(&o.linger, "linger", 0, "how long a partial batch waits for more messages")
	fs.Var(o.format, "format", "result format: text or json (one JSON object on the last line)")
	fs.Var(o.raftLog, "raft-log", "Raft log store of the --embedded cluster: bolt (raft-boltdb) or wal (raft-wal)")
	fs.BoolVar(&o.kafka, "kafka", false, "drive franz-go through Kafka listeners (--brokers are Kafka addresses, default "+defaultKafkaAddr+")")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run (embedded brokers included) to this file, for go tool pprof")
}

// check validates the shared flags; defCount and defDuration apply when
// neither --count nor --duration is given.
func (o *benchOpts) check(name string, defCount int64, defDuration time.Duration) error {
	switch {
	case o.count != 0 && o.duration != 0:
		return usageErrorf("%s: --count and --duration exclude each other", name)
	case o.count < 0 || o.duration < 0:
		return usageErrorf("%s: --count and --duration must be positive", name)
	case o.embedded < 0 || o.embedded > benchMaxEmbedded:
		return usageErrorf("%s: --embedded %d: must be 1 to %d nodes", name, o.embedded, benchMaxEmbedded)
	case o.size < 0 || o.size > 1<<20:
		return usageErrorf("%s: --size %d: must be 0 to 1048576 bytes", name, o.size)
	case o.partitions < 1:
		return usageErrorf("%s: --partitions %d: must be at least 1", name, o.partitions)
	case o.batch < 1:
		return usageErrorf("%s: --batch %d: must be positive", name, o.batch)
	case o.topic == "":
		return usageErrorf("%s: --topic must not be empty", name)
	case o.raftLog.value != string(replication.RaftLogBolt) && o.embedded == 0:
		return usageErrorf("%s: --raft-log applies to an --embedded cluster only (a running cluster keeps its own)", name)
	}
	if o.count == 0 && o.duration == 0 {
		o.count, o.duration = defCount, defDuration
	}
	return nil
}

// benchEnv is what a bench command runs against: target is mb (the
// native client) or kafka (franz-go, with --kafka).
type benchEnv struct {
	target  bench.Target
	mb      *bench.Minibroker
	kafka   *kbench.Kafka
	cluster *localcluster.Cluster // nil unless --embedded
	stopCPU func()
}

// setup starts the embedded cluster (or checks --brokers), connects,
// creates the topic if needed and starts the CPU profile.
func (o *benchOpts) setup(ctx context.Context, a *app) (_ *benchEnv, err error) {
	env := &benchEnv{stopCPU: func() {}}
	defer func() {
		if err != nil {
			env.close()
		}
	}()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		env.stopCPU = func() { pprof.StopCPUProfile(); f.Close() }
	}
	brokers := o.brokers
	if o.kafka && o.embedded == 0 && len(brokers) == 1 && brokers[0] == defaultBrokers {
		// --brokers not given: its default is the native listener's.
		brokers = []string{defaultKafkaAddr}
	}
	if o.embedded > 0 {
		fmt.Fprintf(a.stderr, "starting an embedded cluster of %d %s (raft log %s)\n", o.embedded, plural(o.embedded, "node"), o.raftLog.value)
		opts := localcluster.Options{RaftLog: replication.RaftLogStore(o.raftLog.value)}
		if env.cluster, err = localcluster.Start(o.embedded, opts); err != nil {
			return nil, err
		}
		brokers = env.cluster.Addrs()
		if o.kafka {
			brokers = env.cluster.KafkaAddrs()
		}
		o.brokers = brokers
	}
	if o.kafka {
		return o.setupKafka(ctx, a, env, brokers)
	}
	err = a.withClient(brokers, func(cl *client.Client) error {
		err := cl.CreateTopic(ctx, o.topic, client.TopicConfig{Partitions: o.partitions})
		switch {
		case err == nil:
			fmt.Fprintf(a.stderr, "created topic %q with %d %s\n", o.topic, o.partitions, plural(int(o.partitions), "partition"))
		case errors.Is(err, client.ErrTopicExists):
		default:
			return explain(err, brokers, o.topic)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	env.mb = &bench.Minibroker{
		Client: a.clientConfig(brokers),
		ProducerConfig: client.ProducerConfig{
			Acks:       parseAcks(o.acks.value),
			BatchBytes: o.batch,
			Linger:     o.linger,
			Retries:    produceRetries,
		},
	}
	env.target = env.mb
	return env, nil
}

// setupKafka creates the topic through CreateTopics and makes env's target
// franz-go at brokers (Kafka addresses).
func (o *benchOpts) setupKafka(ctx context.Context, a *app, env *benchEnv, brokers []string) (*benchEnv, error) {
	created, err := (&kbench.Kafka{Brokers: brokers, TLS: a.tls.cfg}).CreateTopic(ctx, o.topic, o.partitions)
	if err != nil {
		return nil, fmt.Errorf("%w (is a Kafka listener at %s?)", err, strings.Join(brokers, ","))
	}
	if created {
		fmt.Fprintf(a.stderr, "created topic %q with %d %s\n", o.topic, o.partitions, plural(int(o.partitions), "partition"))
	}
	acks := map[client.Acks]int{client.AcksNone: 0, client.AcksLeader: 1, client.AcksAll: -1}[parseAcks(o.acks.value)]
	env.kafka = &kbench.Kafka{Brokers: brokers, Acks: acks, Linger: o.linger, BatchBytes: int32(min(o.batch, 1<<30)), Group: true, TLS: a.tls.cfg}
	env.target = env.kafka
	return env, nil
}

// close stops the profile and the embedded cluster.
func (env *benchEnv) close() {
	env.stopCPU()
	if env.cluster != nil {
		env.cluster.Close()
	}
}

// progress returns the progress callback: one line per report on stderr.
func (o *benchOpts) progress(a *app) func(bench.Progress) {
	return func(p bench.Progress) { fmt.Fprintln(a.stderr, p.String()) }
}

// report writes res as o.format asks and turns failed messages into an
// error (exit code 1).
func (o *benchOpts) report(a *app, res bench.Result) error {
	if o.format.value == "json" {
		line, err := json.Marshal(res)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(a.stdout, "%s\n", line); err != nil {
			return err
		}
	} else if err := res.WriteText(a.stdout); err != nil {
		return err
	}
	if res.Errors > 0 {
		return fmt.Errorf("%d %s failed; the first: %s", res.Errors, plural(int(res.Errors), "message or poll"), res.FirstError)
	}
	return nil
}

// newGroupName returns a fresh consumer group name: a new group reads
// the topic from the beginning.
func newGroupName() string {
	var b [4]byte
	rand.Read(b[:])
	return "bench-" + hex.EncodeToString(b[:])
}
