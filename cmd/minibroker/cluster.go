package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/minibroker/minibroker/client"
)

func newClusterCmd(a *app) *cobra.Command {
	var brokers []string
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show the cluster's nodes and Raft state, verify replicas, remove a node",
		Args:  groupArgs,
		RunE:  showHelp,
	}
	brokersFlag(cmd.PersistentFlags(), &brokers)
	a.loginFlags(cmd.PersistentFlags(), "password-file")
	cmd.AddCommand(newClusterStatusCmd(a, &brokers), newClusterVerifyCmd(a, &brokers), newClusterRemoveCmd(a, &brokers))
	return cmd
}

// clusterDetail is the output of `cluster status --format json`.
type clusterDetail struct {
	Leader       string       `json:"leader"` // "" while none is known
	Term         uint64       `json:"term"`
	CommitIndex  uint64       `json:"commit_index"`
	AppliedIndex uint64       `json:"applied_index"`
	LastLogIndex uint64       `json:"last_log_index"`
	AnsweredBy   string       `json:"answered_by"`
	Nodes        []nodeDetail `json:"nodes"`
}

type nodeDetail struct {
	ID        string `json:"id"`
	Num       int32  `json:"num"`        // numeric (Kafka broker) id; 0 if the node has not registered
	Addr      string `json:"addr"`       // client address; "" if the node has not registered one
	KafkaAddr string `json:"kafka_addr"` // Kafka listener address; "" if none
	RaftAddr  string `json:"raft_addr"`
	Voter     bool   `json:"voter"`
	Leader    bool   `json:"leader"`
}

func newClusterStatusCmd(a *app, brokers *[]string) *cobra.Command {
	format := newEnum("table", "table", "json")
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the cluster's nodes, leader, term and log indexes",
		Long: `Show the members of the cluster's Raft configuration (id, numeric id, which
Kafka clients know as the broker id, client address, Kafka address, Raft
address, whether it votes, which one leads), then the leader's id, the
Raft term, and the leader's commit index (the highest log entry a majority
has) and applied index (the highest its state machine has applied). The
leader answers; during an election it waits for one.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(*brokers, func(cl *client.Client) error {
				st, err := cl.ClusterStatus(cmd.Context())
				if err != nil {
					return explain(err, *brokers, "")
				}
				d := clusterDetail{Leader: st.LeaderID, Term: st.Term, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
					LastLogIndex: st.LastLogIndex, AnsweredBy: st.AnsweredBy, Nodes: make([]nodeDetail, 0, len(st.Nodes))}
				rows := make([][]string, 0, len(st.Nodes))
				for _, n := range st.Nodes {
					d.Nodes = append(d.Nodes, nodeDetail{ID: n.ID, Num: n.Num, Addr: n.Addr, KafkaAddr: n.KafkaAddr,
						RaftAddr: n.RaftAddr, Voter: n.Voter, Leader: n.Leader})
					num := "-"
					if n.Num != 0 {
						num = fmt.Sprint(n.Num)
					}
					rows = append(rows, []string{n.ID, num, dash(n.Addr), dash(n.KafkaAddr), n.RaftAddr, yesNo(n.Voter), yesNo(n.Leader)})
				}
				if format.value == "json" {
					return writeJSON(a.stdout, d)
				}
				if err := writeTable(a.stdout, []string{"NODE", "NUM", "ADDR", "KAFKA-ADDR", "RAFT-ADDR", "VOTER", "LEADER"}, rows); err != nil {
					return err
				}
				leader := d.Leader
				if leader == "" {
					leader = "none (election in progress)"
				}
				_, err = fmt.Fprintf(a.stdout, "\nleader %s, term %d, commit index %d, applied index %d, last log index %d (as %s sees it)\n",
					leader, d.Term, d.CommitIndex, d.AppliedIndex, d.LastLogIndex, d.AnsweredBy)
				return err
			})
		},
	}
	cmd.Flags().Var(format, "format", "output format: table or json")
	return cmd
}

// dash renders an empty string as "-" in a table.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// yesNo renders a boolean in a table.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func newClusterRemoveCmd(a *app, brokers *[]string) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a node from the cluster for good",
		Long: `Remove node ID from the cluster: from the Raft configuration and from the
client addresses the cluster hands out. Use it to retire a node for good (its
id is not to be used again; a node that is only down for a while needs
nothing). A removed node that still runs stays out of the cluster: stop it.
Removing the leader makes it step down and the others elect a new one. The
cluster's last voter cannot be removed.

Mind the quorum: a cluster of 3 that loses one node keeps working with 2,
and removing a stopped node from it makes a cluster of 2, which needs both.`,
		Example: `  minibroker cluster remove n3`,
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			return a.withClient(*brokers, func(cl *client.Client) error {
				err := cl.RemoveNode(cmd.Context(), id)
				if errors.Is(err, client.ErrUnknownNode) && errors.Is(err, client.ErrOutcomeUnknown) {
					err = nil // an earlier attempt of this call removed it
				}
				if err != nil {
					return explainNode(err, *brokers, id)
				}
				_, err = fmt.Fprintf(a.stdout, "removed node %q from the cluster; stop its process, it will not rejoin\n", id)
				return err
			})
		},
	}
}
