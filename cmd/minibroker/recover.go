package main

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/replication"
)

func newRecoverCmd(a *app) *cobra.Command {
	var cfg broker.Config
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Make a stopped node's data directory a one-node cluster (restore from a backup, or after losing a quorum)",
		Long: `Rewrite the membership kept in a stopped node's data directory so that
'minibroker serve' on it forms a cluster of one, this node, with all the
data it has: topics, records, consumer-group offsets. Use it to restore a
cluster from a copy of one node's data directory (see docs/operations.md,
Backup), or to go on after a majority of the nodes is lost for good.

Then start the node with serve, the same --data and --raft-addr, and add
nodes with empty data directories and --join, as to any cluster. The
former members must not be started again with their old data directories:
they would still believe in the old membership.

The node must be stopped: recover fails if a running node holds the data
directory. --raft-addr is the Raft address the node will listen on; if it
starts on another one, it corrects the address in the membership itself.`,
		Example: `  minibroker recover --data d2 --raft-addr 127.0.0.1:9202
  minibroker serve --data d2 --addr 127.0.0.1:9102 --kafka-addr 127.0.0.1:9402 --raft-addr 127.0.0.1:9202`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := net.SplitHostPort(cfg.RaftAddr); err != nil {
				return usageErrorf("recover: --raft-addr %q is not HOST:PORT: %w", cfg.RaftAddr, err)
			}
			dropped, err := broker.ForceNewCluster(cfg)
			if errors.Is(err, replication.ErrNoState) {
				return &hintError{err: err, msg: fmt.Sprintf("%s holds no cluster to recover (is --data right?)", cfg.DataDir)}
			}
			if err != nil {
				return err
			}
			left := "none"
			if len(dropped) > 0 {
				left = strings.Join(dropped, ", ")
			}
			fmt.Fprintf(a.stdout, "%s is now a one-node cluster (raft %s); former members dropped: %s\n", cfg.DataDir, cfg.RaftAddr, left)
			fmt.Fprintf(a.stdout, "start it with: minibroker serve --data %s --raft-addr %s [--addr HOST:PORT] [--kafka-addr HOST:PORT]\n", cfg.DataDir, cfg.RaftAddr)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.ID, "id", "", "the node's id, checked against the one saved in the data dir (default: that one)")
	f.StringVar(&cfg.DataDir, "data", defaultDataDir, "data directory of the stopped node")
	f.StringVar(&cfg.RaftAddr, "raft-addr", defaultRaftAddr, "Raft address the node will listen on (HOST:PORT)")
	markSettings(f, "id", "data", "raft-addr")
	return cmd
}
