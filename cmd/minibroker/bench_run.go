package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/minibroker/minibroker/client/bench"
)

func newBenchProduceCmd(a *app) *cobra.Command {
	o := newBenchOpts()
	var producers, maxInFlight int
	var rate float64
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Producers send messages as fast as acknowledgements allow",
		Long: `Producers send --count messages in all (or for --duration) of --size bytes
to --topic, each producer with its own connection, and report throughput
and the latency from send to acknowledgement (--acks: all, 1 or 0).

--max-in-flight bounds the messages each producer has sent and not yet had
acknowledged: 1 sends one message at a time (a latency test); the default,
0, lets the producer's buffers fill up (a throughput test, where latency
includes the wait in the producer's buffer). --rate sends at a fixed total
rate instead of as fast as possible.`,
		Example: `  minibroker bench produce --embedded 3 --count 1000000
  minibroker bench produce --embedded 3 --max-in-flight 1 --duration 10s`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("bench produce", benchDefaultCount, 0); err != nil {
				return err
			}
			if producers < 1 || maxInFlight < 0 || rate < 0 {
				return usageErrorf("bench produce: --producers must be at least 1, --max-in-flight and --rate not negative")
			}
			ctx := cmd.Context()
			env, err := o.setup(ctx, a)
			if err != nil {
				return err
			}
			defer env.close()
			res, err := bench.Produce(ctx, env.target, o.topic, bench.ProduceConfig{
				Size: o.size, Count: o.count, Duration: o.duration, Producers: producers,
				MaxInFlight: maxInFlight, Rate: rate, Progress: o.progress(a),
			})
			if err != nil {
				return explain(err, o.brokers, o.topic)
			}
			return o.report(a, res)
		},
	}
	o.flags(cmd.Flags())
	a.loginFlags(cmd.Flags(), "password-file")
	cmd.Flags().IntVar(&producers, "producers", 1, "producers sending at once, each with its own connection")
	cmd.Flags().IntVar(&maxInFlight, "max-in-flight", 0, "unacknowledged messages per producer (1: one at a time; 0: as many as the producer buffers)")
	cmd.Flags().Float64Var(&rate, "rate", 0, "total messages per second (0: as fast as possible)")
	return cmd
}

func newBenchConsumeCmd(a *app) *cobra.Command {
	o := newBenchOpts()
	var group string
	var consumers int
	var fill int64
	commit := newEnum("poll", "poll", "auto")
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "A consumer group reads and commits",
		Long: `Members of a consumer group (--consumers, each with its own connection) read
--count messages (or for --duration) from --topic and report throughput,
from the first delivery to the last, and the latency from each message's
send time (stamped by bench produce) to its delivery; for messages that
waited in the topic that includes their wait.

--commit poll (the default) commits after every poll and waits for the
commit; --commit auto lets each poll commit the previous one's records in
the background. The group is new (bench-XXXXXXXX) unless --group names one,
so it reads from the beginning of the topic.

--fill N first produces N messages (acks all, as fast as possible);
with --embedded it defaults to --count (or 100000 with --duration).`,
		Example: `  minibroker bench consume --embedded 3 --count 200000
  minibroker bench consume --topic orders --group audit --duration 30s`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("bench consume", benchDefaultCount, 0); err != nil {
				return err
			}
			if consumers < 1 || fill < 0 {
				return usageErrorf("bench consume: --consumers must be at least 1, --fill not negative")
			}
			if !cmd.Flags().Changed("fill") && o.embedded > 0 {
				fill = o.count
				if fill == 0 {
					fill = benchDefaultCount
				}
			}
			if group == "" {
				group = newGroupName()
			}
			ctx := cmd.Context()
			env, err := o.setup(ctx, a)
			if err != nil {
				return err
			}
			defer env.close()
			if fill > 0 {
				fmt.Fprintf(a.stderr, "filling %q with %d messages\n", o.topic, fill)
				res, err := bench.Produce(ctx, env.target, o.topic, bench.ProduceConfig{Size: o.size, Count: fill})
				if err != nil {
					return explain(err, o.brokers, o.topic)
				}
				if res.Errors > 0 {
					return fmt.Errorf("filling the topic: %d messages failed; the first: %s", res.Errors, res.FirstError)
				}
			}
			if env.mb != nil {
				env.mb.CommitEveryPoll = commit.value == "poll"
			}
			if env.kafka != nil {
				env.kafka.CommitEveryPoll = commit.value == "poll"
			}
			res, err := bench.Consume(ctx, env.target, o.topic, group, bench.ConsumeConfig{
				Count: o.count, Duration: o.duration, Consumers: consumers, Progress: o.progress(a),
			})
			if err != nil {
				return explain(err, o.brokers, o.topic)
			}
			return o.report(a, res)
		},
	}
	o.flags(cmd.Flags())
	a.loginFlags(cmd.Flags(), "password-file")
	cmd.Flags().StringVar(&group, "group", "", "consumer group (default: a new one, bench-XXXXXXXX)")
	cmd.Flags().IntVar(&consumers, "consumers", 1, "group members polling at once")
	cmd.Flags().Var(commit, "commit", "poll: commit after every poll and wait; auto: background auto-commit")
	cmd.Flags().Int64Var(&fill, "fill", 0, "produce this many messages first (default with --embedded: --count)")
	return cmd
}

func newBenchE2ECmd(a *app) *cobra.Command {
	o := newBenchOpts()
	var group string
	var rate float64
	var drain time.Duration
	cmd := &cobra.Command{
		Use:   "e2e",
		Short: "Produce and consume at a fixed rate; latency from send to delivery",
		Long: `One producer sends to --topic at --rate messages per second for --duration
(default 10s; or --count messages) while a member of a new consumer group
(auto-commit) reads them; the result is the latency from each message's
send to its delivery, the figure that matters at moderate load. A warm-up
message goes first, so the group join is not measured. After the last
send, the consumer gets up to --drain to receive what was acknowledged.`,
		Example: `  minibroker bench e2e --embedded 3 --rate 5000 --duration 20s`,
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check("bench e2e", 0, benchDefaultE2E); err != nil {
				return err
			}
			if rate <= 0 || drain <= 0 {
				return usageErrorf("bench e2e: --rate and --drain must be positive")
			}
			if o.size < bench.StampSize {
				return usageErrorf("bench e2e: --size %d: at least %d bytes, to carry the send time", o.size, bench.StampSize)
			}
			if group == "" {
				group = newGroupName()
			}
			ctx := cmd.Context()
			env, err := o.setup(ctx, a)
			if err != nil {
				return err
			}
			defer env.close()
			res, err := bench.EndToEnd(ctx, env.target, o.topic, group, bench.E2EConfig{
				Rate: rate, Size: o.size, Count: o.count, Duration: o.duration, DrainTimeout: drain,
				Progress: o.progress(a),
			})
			if err != nil {
				return explain(err, o.brokers, o.topic)
			}
			return o.report(a, res)
		},
	}
	o.flags(cmd.Flags())
	a.loginFlags(cmd.Flags(), "password-file")
	cmd.Flags().StringVar(&group, "group", "", "consumer group (default: a new one, bench-XXXXXXXX)")
	cmd.Flags().Float64Var(&rate, "rate", benchDefaultRate, "messages per second")
	cmd.Flags().DurationVar(&drain, "drain", 10*time.Second, "after the last send, how long to wait for the consumer to catch up")
	return cmd
}
