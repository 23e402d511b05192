package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minibroker/minibroker/client"
)

func newGroupCmd(a *app) *cobra.Command {
	var brokers []string
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe, reset and delete consumer groups",
		Long: `Inspect and manage consumer groups: the groups that 'minibroker consume
--group' (or the Go client's Consumer) joins. A group's committed offsets are
kept by the cluster: the next offset each partition's reader will process.`,
		Args: groupArgs,
		RunE: showHelp,
	}
	brokersFlag(cmd.PersistentFlags(), &brokers)
	a.loginFlags(cmd.PersistentFlags(), "password-file")
	cmd.AddCommand(
		newGroupListCmd(a, &brokers),
		newGroupDescribeCmd(a, &brokers),
		newGroupResetCmd(a, &brokers),
		newGroupDeleteCmd(a, &brokers),
	)
	return cmd
}

// groupSummary is one group of `group list --format json`.
type groupSummary struct {
	Group      string `json:"group"`
	State      string `json:"state"`
	Members    int    `json:"members"`
	Generation int32  `json:"generation"`
	Type       string `json:"type"` // "native", or "kafka:<protocol type>"
}

// groupType names who runs a group: native minibroker consumers, or Kafka
// clients with their protocol type ("kafka:consumer").
func groupType(protocolType string) string {
	if protocolType == "" {
		return "native"
	}
	return "kafka:" + protocolType
}

func newGroupListCmd(a *app, brokers *[]string) *cobra.Command {
	format := newEnum("table", "table", "json")
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List consumer groups",
		Long: `List the cluster's consumer groups with their state (Stable, Rebalancing, or
Empty: no members, committed offsets kept), members, generation and type
(native minibroker consumers, or kafka:consumer for Kafka clients).`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(*brokers, func(cl *client.Client) error {
				groups, err := cl.ListGroups(cmd.Context())
				if err != nil {
					return explain(err, *brokers, "")
				}
				out := make([]groupSummary, 0, len(groups))
				rows := make([][]string, 0, len(groups))
				for _, g := range groups {
					typ := groupType(g.ProtocolType)
					out = append(out, groupSummary{Group: g.Group, State: g.State, Members: g.Members, Generation: g.Generation, Type: typ})
					rows = append(rows, []string{g.Group, g.State, strconv.Itoa(g.Members), strconv.Itoa(int(g.Generation)), typ})
				}
				if format.value == "json" {
					return writeJSON(a.stdout, out)
				}
				return writeTable(a.stdout, []string{"GROUP", "STATE", "MEMBERS", "GENERATION", "TYPE"}, rows)
			})
		},
	}
	cmd.Flags().Var(format, "format", "output format: table or json")
	return cmd
}

// groupDetail is the output of `group describe --format json`.
type groupDetail struct {
	Group      string              `json:"group"`
	State      string              `json:"state"`
	Generation int32               `json:"generation"`
	Strategy   string              `json:"strategy"`
	Type       string              `json:"type"` // "native", or "kafka:<protocol type>"
	Members    []groupMemberDetail `json:"members"`
	Offsets    []groupOffsetDetail `json:"offsets"`
}

type groupMemberDetail struct {
	MemberID   string           `json:"member_id"`
	ClientID   string           `json:"client_id"`
	ClientHost string           `json:"client_host"`
	Topics     []string         `json:"topics"`
	Assignment []topicPartition `json:"assignment"`
}

type topicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

type groupOffsetDetail struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the next offset the group will process; null when it
	// has committed none for this partition.
	Committed     *int64 `json:"committed"`
	HighWatermark int64  `json:"high_watermark"`
	Lag           int64  `json:"lag"`
	Member        string `json:"member"` // the member assigned the partition, "" if none
}

// newGroupDetail converts d for output.
func newGroupDetail(d client.GroupDescription) groupDetail {
	out := groupDetail{Group: d.Group, State: d.State, Generation: d.Generation, Strategy: d.Strategy, Type: groupType(d.ProtocolType),
		Members: make([]groupMemberDetail, 0, len(d.Members)), Offsets: make([]groupOffsetDetail, 0, len(d.Offsets))}
	owner := map[client.TopicPartition]string{}
	for _, m := range d.Members {
		md := groupMemberDetail{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			Topics: m.Topics, Assignment: make([]topicPartition, 0, len(m.Assignment))}
		if md.Topics == nil {
			md.Topics = []string{}
		}
		for _, tp := range m.Assignment {
			md.Assignment = append(md.Assignment, topicPartition{tp.Topic, tp.Partition})
			owner[tp] = m.MemberID
		}
		out.Members = append(out.Members, md)
	}
	for _, o := range d.Offsets {
		od := groupOffsetDetail{Topic: o.Topic, Partition: o.Partition, HighWatermark: o.HighWatermark, Lag: o.Lag,
			Member: owner[client.TopicPartition{Topic: o.Topic, Partition: o.Partition}]}
		if o.Committed >= 0 {
			c := o.Committed
			od.Committed = &c
		}
		out.Offsets = append(out.Offsets, od)
	}
	return out
}

func newGroupDescribeCmd(a *app, brokers *[]string) *cobra.Command {
	format := newEnum("table", "table", "json")
	cmd := &cobra.Command{
		Use:   "describe GROUP",
		Short: "Show a group's members, assignment, committed offsets and lag",
		Long: `Show a consumer group: its state, generation and assignment strategy; each
member with the partitions assigned to it; and for each partition of the
topics it reads, the committed offset (the next one the group will process;
"-" if none), the high-water mark (the offset the next record will get) and
the lag (records the group has yet to process).`,
		Args: exactArgs("GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			return a.withClient(*brokers, func(cl *client.Client) error {
				d, err := cl.DescribeGroup(cmd.Context(), group)
				if err != nil {
					return explainGroup(err, *brokers, group, "")
				}
				out := newGroupDetail(d)
				if format.value == "json" {
					return writeJSON(a.stdout, out)
				}
				return writeGroupDetail(a, out)
			})
		},
	}
	cmd.Flags().Var(format, "format", "output format: table or json")
	return cmd
}

// writeGroupDetail writes d as a summary line and two tables: members,
// then offsets.
func writeGroupDetail(a *app, d groupDetail) error {
	total := int64(0)
	for _, o := range d.Offsets {
		total += o.Lag
	}
	fmt.Fprintf(a.stdout, "group %s: %s, generation %d, strategy %s, %d %s, total lag %d, %s\n",
		d.Group, d.State, d.Generation, d.Strategy, len(d.Members), plural(len(d.Members), "member"), total, d.Type)
	if len(d.Members) > 0 {
		fmt.Fprintln(a.stdout)
		rows := make([][]string, 0, len(d.Members))
		for _, m := range d.Members {
			parts := make([]string, 0, len(m.Assignment))
			for _, tp := range m.Assignment {
				parts = append(parts, tp.Topic+"/"+strconv.Itoa(int(tp.Partition)))
			}
			assigned := strings.Join(parts, ",")
			if assigned == "" {
				assigned = "-"
			}
			rows = append(rows, []string{m.MemberID, m.ClientID, m.ClientHost, assigned})
		}
		if err := writeTable(a.stdout, []string{"MEMBER", "CLIENT-ID", "HOST", "ASSIGNMENT"}, rows); err != nil {
			return err
		}
	}
	fmt.Fprintln(a.stdout)
	rows := make([][]string, 0, len(d.Offsets))
	for _, o := range d.Offsets {
		committed := "-"
		if o.Committed != nil {
			committed = strconv.FormatInt(*o.Committed, 10)
		}
		member := o.Member
		if member == "" {
			member = "-"
		}
		rows = append(rows, []string{o.Topic, strconv.Itoa(int(o.Partition)), committed,
			strconv.FormatInt(o.HighWatermark, 10), strconv.FormatInt(o.Lag, 10), member})
	}
	return writeTable(a.stdout, []string{"TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG", "MEMBER"}, rows)
}

// parseResetTo parses group reset's --to: earliest, latest or an offset.
func parseResetTo(s string) (client.OffsetSpec, int64, error) {
	switch s {
	case "earliest":
		return client.Earliest, 0, nil
	case "latest":
		return client.Latest, 0, nil
	}
	off, err := strconv.ParseInt(s, 10, 64)
	if err != nil || off < 0 {
		return 0, 0, usageErrorf("group reset: --to %q: must be earliest, latest or an offset (0 or more)", s)
	}
	return client.AtOffset, off, nil
}

func newGroupResetCmd(a *app, brokers *[]string) *cobra.Command {
	var (
		topic, to  string
		partitions []int32
	)
	cmd := &cobra.Command{
		Use:   "reset GROUP --topic TOPIC --to earliest|latest|OFFSET",
		Short: "Move a group's committed offsets (the group must have no members)",
		Long: `Set the committed offsets of GROUP in the partitions of TOPIC (all of them, or
those given with --partition) to each partition's first stored offset
(earliest), its high-water mark (latest: skip everything stored so far), or
an offset. Offsets may go backwards: the group then reads those records
again. Only a group without members can be reset: stop its consumers first.
A group that does not exist yet is created with these offsets.`,
		Example: `  minibroker group reset billing --topic orders --to earliest
  minibroker group reset billing --topic orders --to 1200 --partition 2`,
		Args: exactArgs("GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			if topic == "" {
				return usageErrorf("group reset: --topic is required")
			}
			if to == "" {
				return usageErrorf("group reset: --to is required: earliest, latest or an offset")
			}
			spec, off, err := parseResetTo(to)
			if err != nil {
				return err
			}
			for _, p := range partitions {
				if p < 0 {
					return usageErrorf("group reset: --partition %d: must be a partition number", p)
				}
			}
			return a.withClient(*brokers, func(cl *client.Client) error {
				set, err := cl.ResetGroupOffsets(cmd.Context(), group, topic, spec, off, partitions...)
				if err != nil {
					return explainReset(err, *brokers, group, topic, off)
				}
				fmt.Fprintf(a.stdout, "group %s: committed offsets of %s set to %s\n", group, topic, to)
				rows := make([][]string, 0, len(set))
				for _, o := range set {
					rows = append(rows, []string{o.Topic, strconv.Itoa(int(o.Partition)), strconv.FormatInt(o.Offset, 10)})
				}
				return writeTable(a.stdout, []string{"TOPIC", "PARTITION", "COMMITTED"}, rows)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "the topic whose offsets to set (required)")
	f.StringVar(&to, "to", "", "earliest, latest or an offset (required)")
	f.Int32SliceVar(&partitions, "partition", nil, "only these partitions (repeat or comma-separate; default: all)")
	return cmd
}

// explainReset is explainGroup for group reset.
func explainReset(err error, brokers []string, group, topic string, off int64) error {
	switch {
	case errors.Is(err, client.ErrUnknownPartition):
		return &hintError{err: err, msg: fmt.Sprintf("topic %q has no such partition — see its partitions with `minibroker topic describe %s`: %v",
			topic, topic, oneLine(err.Error()))}
	case errors.Is(err, client.ErrOffsetOutOfRange):
		return &hintError{err: err, msg: fmt.Sprintf("offset %d is beyond the stored records of %q — see its offsets with `minibroker topic describe %s`",
			off, topic, topic)}
	}
	return explainGroup(err, brokers, group, topic)
}

func newGroupDeleteCmd(a *app, brokers *[]string) *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP",
		Short: "Delete a group and its committed offsets (the group must have no members)",
		Args:  exactArgs("GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			return a.withClient(*brokers, func(cl *client.Client) error {
				err := cl.DeleteGroup(cmd.Context(), group)
				if errors.Is(err, client.ErrUnknownGroup) && errors.Is(err, client.ErrOutcomeUnknown) {
					err = nil // an earlier attempt of this call deleted it
				}
				if err != nil {
					return explainGroup(err, *brokers, group, "")
				}
				_, err = fmt.Fprintf(a.stdout, "deleted group %q\n", group)
				return err
			})
		},
	}
}
