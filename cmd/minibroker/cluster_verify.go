package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minibroker/minibroker/client"
)

// verifyDetail is the output of `cluster verify --format json`.
type verifyDetail struct {
	OK     bool               `json:"ok"`
	Index  uint64             `json:"index"` // the Raft index every digest was taken at
	Leader string             `json:"leader"`
	Nodes  []verifyNodeDetail `json:"nodes"`
}

type verifyNodeDetail struct {
	ID         string                  `json:"id"`
	Addr       string                  `json:"addr"`
	Error      string                  `json:"error,omitempty"` // why it gave no digest
	Meta       string                  `json:"meta,omitempty"`
	Partitions []verifyPartitionDetail `json:"partitions,omitempty"`
	Differs    []string                `json:"differs,omitempty"`
}

type verifyPartitionDetail struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	StartOffset int64  `json:"start_offset"`
	NextOffset  int64  `json:"next_offset"`
	Sum         string `json:"sum"`
}

// errVerifyFailed is returned (exit code 1) after the report is printed
// when a replica differs or gave no digest.
var errVerifyFailed = errors.New("replica verification failed")

func newClusterVerifyCmd(a *app, brokers *[]string) *cobra.Command {
	format := newEnum("table", "table", "json")
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that every node holds the same data and metadata",
		Long: `Check that every replica holds the same replicated state. The leader
writes a digest entry to the Raft log; each node, when it applies that entry,
fingerprints its state right there: SHA-256 of its metadata (topics,
committed offsets, consumer groups, producers) and of every partition's
stored bytes. The fingerprints of all nodes, taken at the same log index,
must be equal; writes may go on meanwhile.

The table shows, per node, the index, the metadata sum and whether the node
agrees with the majority; a node that differs is named with what differs
("metadata" or topic/partition), and a table of the differing partitions
follows. A node that cannot be reached, or did not apply the entry in time,
is listed too. The command exits 1 if any node differs or gave no answer.

Every node reads all its partition data to compute its digest, and applies
nothing else meanwhile: expect a pause in writes on large clusters.`,
		Example: `  minibroker cluster verify
  minibroker cluster verify --brokers 10.0.0.1:9094 --format json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(*brokers, func(cl *client.Client) error {
				r, err := cl.VerifyCluster(cmd.Context())
				if err != nil {
					return explain(err, *brokers, "")
				}
				if format.value == "json" {
					if err := writeJSON(a.stdout, verifyJSON(r)); err != nil {
						return err
					}
				} else if err := writeVerifyTable(a, r); err != nil {
					return err
				}
				if err := r.Err(); err != nil {
					return &hintError{msg: fmt.Sprintf("%v: %v", errVerifyFailed, err), err: errors.Join(errVerifyFailed, err)}
				}
				return nil
			})
		},
	}
	cmd.Flags().Var(format, "format", "output format: table or json")
	return cmd
}

func verifyJSON(r client.VerifyReport) verifyDetail {
	d := verifyDetail{OK: r.OK(), Index: r.Index, Leader: r.LeaderID, Nodes: make([]verifyNodeDetail, 0, len(r.Nodes))}
	for _, n := range r.Nodes {
		nd := verifyNodeDetail{ID: n.ID, Addr: n.Addr, Meta: n.Meta, Differs: n.Differs}
		if n.Err != nil {
			nd.Error = n.Err.Error()
		}
		for _, p := range n.Partitions {
			nd.Partitions = append(nd.Partitions, verifyPartitionDetail{p.Topic, p.Partition, p.StartOffset, p.NextOffset, p.Sum})
		}
		d.Nodes = append(d.Nodes, nd)
	}
	return d
}

// short abbreviates a hex sum for a table.
func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

func writeVerifyTable(a *app, r client.VerifyReport) error {
	rows := make([][]string, 0, len(r.Nodes))
	var differing []string // "<topic>/<partition>" that some node holds differently
	for _, n := range r.Nodes {
		addr := n.Addr
		if addr == "" {
			addr = "-"
		}
		switch {
		case n.Err != nil:
			rows = append(rows, []string{n.ID, addr, "-", "-", "-", "NO ANSWER: " + n.Err.Error()})
			continue
		case len(n.Differs) > 0:
			rows = append(rows, []string{n.ID, addr, fmt.Sprint(r.Index), short(n.Meta), fmt.Sprint(len(n.Partitions)), "DIFFERS: " + strings.Join(n.Differs, ", ")})
		default:
			rows = append(rows, []string{n.ID, addr, fmt.Sprint(r.Index), short(n.Meta), fmt.Sprint(len(n.Partitions)), "ok"})
		}
		for _, d := range n.Differs {
			if d != "metadata" && !slices.Contains(differing, d) {
				differing = append(differing, d)
			}
		}
	}
	if err := writeTable(a.stdout, []string{"NODE", "ADDR", "INDEX", "META", "PARTITIONS", "STATUS"}, rows); err != nil {
		return err
	}
	if len(differing) > 0 {
		slices.Sort(differing)
		var prows [][]string
		for _, name := range differing {
			for _, n := range r.Nodes {
				if n.Err != nil {
					continue
				}
				row := []string{name, n.ID, "-", "-", "(absent)", "differs"}
				for _, p := range n.Partitions {
					if fmt.Sprintf("%s/%d", p.Topic, p.Partition) == name {
						row = []string{name, n.ID, fmt.Sprint(p.StartOffset), fmt.Sprint(p.NextOffset), short(p.Sum), "differs"}
					}
				}
				if !slices.Contains(n.Differs, name) {
					row[5] = "majority"
				}
				prows = append(prows, row)
			}
		}
		fmt.Fprintln(a.stdout)
		if err := writeTable(a.stdout, []string{"PARTITION", "NODE", "START", "NEXT", "SUM", ""}, prows); err != nil {
			return err
		}
	}
	verdict := "all replicas agree"
	if err := r.Err(); err != nil {
		verdict = err.Error()
	}
	_, err := fmt.Fprintf(a.stdout, "\ndigests at Raft index %d (proposed by leader %s): %s\n", r.Index, r.LeaderID, verdict)
	return err
}
