package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/minibroker/minibroker/client"
)

func newTopicCmd(a *app) *cobra.Command {
	var brokers []string
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe and delete topics",
		Args:  groupArgs,
		RunE:  showHelp,
	}
	brokersFlag(cmd.PersistentFlags(), &brokers)
	a.loginFlags(cmd.PersistentFlags(), "password-file")
	cmd.AddCommand(
		newTopicCreateCmd(a, &brokers),
		newTopicListCmd(a, &brokers),
		newTopicDescribeCmd(a, &brokers),
		newTopicDeleteCmd(a, &brokers),
	)
	return cmd
}

func newTopicCreateCmd(a *app, brokers *[]string) *cobra.Command {
	var tc client.TopicConfig
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Long: `Create a topic with the given number of partitions. Retention and segment
sizes left at 0 take the broker's defaults; a negative retention means no
limit.`,
		Example: `  minibroker topic create orders --partitions 3 --retention-ms 604800000`,
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if tc.Partitions < 1 {
				return usageErrorf("topic create: --partitions %d: a topic needs at least 1", tc.Partitions)
			}
			if tc.SegmentBytes < 0 {
				return usageErrorf("topic create: --segment-bytes %d: must not be negative", tc.SegmentBytes)
			}
			return a.withClient(*brokers, func(cl *client.Client) error {
				if err := cl.CreateTopic(cmd.Context(), name, tc); err != nil {
					return explain(err, *brokers, name)
				}
				_, err := fmt.Fprintf(a.stdout, "created topic %q with %d %s\n", name, tc.Partitions, plural(int(tc.Partitions), "partition"))
				return err
			})
		},
	}
	f := cmd.Flags()
	f.Int32Var(&tc.Partitions, "partitions", 1, "number of partitions")
	f.Int64Var(&tc.RetentionBytes, "retention-bytes", 0, "delete a partition's oldest segments above this size (0: broker default, <0: no limit)")
	f.Int64Var(&tc.RetentionMs, "retention-ms", 0, "delete records older than this many milliseconds (0: broker default, <0: no limit)")
	f.Int64Var(&tc.SegmentBytes, "segment-bytes", 0, "roll a partition's segment over at this size (0: broker default)")
	return cmd
}

func newTopicListCmd(a *app, brokers *[]string) *cobra.Command {
	format := newEnum("table", "table", "json")
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Long: `List the cluster's topics with their partition count and the number of
records they hold (high-water mark less start offset, summed over partitions).`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(*brokers, func(cl *client.Client) error {
				topics, err := cl.ListTopics(cmd.Context())
				if err != nil {
					return explain(err, *brokers, "")
				}
				out := make([]topicSummary, 0, len(topics))
				for _, t := range topics {
					s := topicSummary{Name: t.Name, Partitions: len(t.Partitions)}
					for _, p := range t.Partitions {
						s.Records += p.HighWatermark - p.StartOffset
					}
					out = append(out, s)
				}
				if format.value == "json" {
					return writeJSON(a.stdout, out)
				}
				rows := make([][]string, 0, len(out))
				for _, s := range out {
					rows = append(rows, []string{s.Name, strconv.Itoa(s.Partitions), strconv.FormatInt(s.Records, 10)})
				}
				return writeTable(a.stdout, []string{"TOPIC", "PARTITIONS", "RECORDS"}, rows)
			})
		},
	}
	cmd.Flags().Var(format, "format", "output format: table or json")
	return cmd
}

// topicSummary is one topic of `topic list`.
type topicSummary struct {
	Name       string `json:"name"`
	Partitions int    `json:"partitions"`
	Records    int64  `json:"records"`
}

// topicDetail is the output of `topic describe`.
type topicDetail struct {
	Name       string            `json:"name"`
	Leader     string            `json:"leader"`      // the cluster leader's id, "" if none
	LeaderAddr string            `json:"leader_addr"` // its client address
	Partitions []partitionDetail `json:"partitions"`
}

type partitionDetail struct {
	Partition     int32 `json:"partition"`
	StartOffset   int64 `json:"start_offset"`
	HighWatermark int64 `json:"high_watermark"`
	Records       int64 `json:"records"`
}

func newTopicDescribeCmd(a *app, brokers *[]string) *cobra.Command {
	format := newEnum("table", "table", "json")
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's partitions and offsets",
		Long: `Show each partition of a topic with its start offset (the first record still
stored), its high-water mark (the offset the next record will get) and the
number of records between them, as the cluster's leader reports them.`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return a.withClient(*brokers, func(cl *client.Client) error {
				d, err := describeTopic(cmd.Context(), cl, name)
				if err != nil {
					return explain(err, *brokers, name)
				}
				if format.value == "json" {
					return writeJSON(a.stdout, d)
				}
				leader := "none (election in progress)"
				if d.Leader != "" {
					leader = fmt.Sprintf("%s (%s)", d.Leader, d.LeaderAddr)
				}
				fmt.Fprintf(a.stdout, "topic %s: %d %s, cluster leader %s\n", d.Name, len(d.Partitions), plural(len(d.Partitions), "partition"), leader)
				rows := make([][]string, 0, len(d.Partitions))
				for _, p := range d.Partitions {
					rows = append(rows, []string{strconv.Itoa(int(p.Partition)),
						strconv.FormatInt(p.StartOffset, 10), strconv.FormatInt(p.HighWatermark, 10), strconv.FormatInt(p.Records, 10)})
				}
				return writeTable(a.stdout, []string{"PARTITION", "START", "HIGH-WATERMARK", "RECORDS"}, rows)
			})
		},
	}
	cmd.Flags().Var(format, "format", "output format: table or json")
	return cmd
}

// partitionCount returns the number of partitions of topic among topics
// (a Metadata answer). A topic not among them does not exist or is one the
// user may not describe (left out of an all-topics answer): the cluster is
// asked about it by name, for the error that says which.
func partitionCount(ctx context.Context, cl *client.Client, topics []client.TopicInfo, topic string) (int32, error) {
	for _, t := range topics {
		if t.Name == topic {
			return int32(len(t.Partitions)), nil
		}
	}
	return cl.TopicPartitions(ctx, topic)
}

// noPartition is the error for partition part of a topic that has n.
func noPartition(topic string, part, n int32) error {
	return &hintError{err: client.ErrUnknownPartition, msg: fmt.Sprintf(
		"topic %q has no partition %d: it has %d (0 to %d)", topic, part, n, n-1)}
}

// describeTopic finds topic name in the cluster's metadata and asks for
// each partition's offsets (ListOffsets goes to the leader, whose
// high-water marks are the freshest).
func describeTopic(ctx context.Context, cl *client.Client, name string) (topicDetail, error) {
	md, err := cl.Metadata(ctx)
	if err != nil {
		return topicDetail{}, err
	}
	d := topicDetail{Name: name, Leader: md.LeaderID, LeaderAddr: md.LeaderAddr}
	n, err := partitionCount(ctx, cl, md.Topics, name)
	if err != nil {
		return d, err
	}
	d.Partitions = make([]partitionDetail, 0, n)
	for p := range int32(n) {
		start, err := cl.ListOffsets(ctx, name, p, client.Earliest)
		if err != nil {
			return d, err
		}
		end, err := cl.ListOffsets(ctx, name, p, client.Latest)
		if err != nil {
			return d, err
		}
		d.Partitions = append(d.Partitions, partitionDetail{Partition: p, StartOffset: start, HighWatermark: end, Records: end - start})
	}
	return d, nil
}

func newTopicDeleteCmd(a *app, brokers *[]string) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a topic and all its records",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			return a.withClient(*brokers, func(cl *client.Client) error {
				if err := cl.DeleteTopic(cmd.Context(), name); err != nil {
					return explain(err, *brokers, name)
				}
				_, err := fmt.Fprintf(a.stdout, "deleted topic %q\n", name)
				return err
			})
		},
	}
}
