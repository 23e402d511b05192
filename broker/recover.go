package broker

import (
	"fmt"

	"github.com/minibroker/minibroker/replication"
)

// ForceNewCluster rewrites the membership kept in a stopped node's data
// directory (cfg.DataDir) so that the next Start of that directory forms
// a cluster of one, this node, with all its data: to restore a cluster
// from a copy of one node's data directory, or to go on after a quorum of
// nodes is lost for good. Other nodes then join it with empty data
// directories (Config.Join). The former members must not run again with
// their old data. See replication.ForceNewCluster for what is written.
//
// cfg.RaftAddr is the Raft address recorded for the node: the one it
// will listen on (a leader started on another corrects the record, see
// Broker.register); cfg.ID, if set, must match the id saved in the
// directory. It returns the ids of the members it dropped.
// It blocks while it opens the Raft log, and fails (after about a
// second) if a running node holds it. Errors: ErrInvalidConfig, an error
// wrapping replication.ErrNoState for a directory without a cluster, or
// an I/O error.
func ForceNewCluster(cfg Config) (dropped []string, err error) {
	if cfg.DataDir == "" || cfg.RaftAddr == "" {
		return nil, fmt.Errorf("%w: ForceNewCluster needs DataDir and RaftAddr", ErrInvalidConfig)
	}
	id, err := savedID(cfg)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, fmt.Errorf("broker: force new cluster: %s holds no node (no %s file): %w", cfg.DataDir, idFile, replication.ErrNoState)
	}
	rec, err := replication.ForceNewCluster(cfg.DataDir, id, cfg.RaftAddr, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("broker: force new cluster: %w", err)
	}
	for _, s := range rec.Dropped {
		dropped = append(dropped, string(s.ID))
	}
	return dropped, nil
}
