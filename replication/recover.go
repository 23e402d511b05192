package replication

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
)

// ErrNoState is returned by ForceNewCluster for a data directory without
// Raft state: there is nothing to recover.
var ErrNoState = errors.New("replication: no raft state in the data directory")

// Recovered says what ForceNewCluster did.
type Recovered struct {
	Index   uint64        // the Raft index of the new configuration entry
	Dropped []raft.Server // the members the node forgot
}

// ForceNewCluster rewrites the membership of a stopped node's data
// directory so that, started again, the node forms a cluster of one with
// all its data: to restore a cluster from a copy of one node's directory,
// or to go on after a quorum of nodes is lost for good. Other nodes then
// join it with empty data directories, as to any cluster. It is
// hashicorp/raft's RecoverCluster done as a log append, without rebuilding
// the state machine: two kinds of entries go after the last one of the
// Raft log (or snapshot),
//
//   - a configuration entry naming this node (id, raftAddr) the only
//     voter; raft takes the newest configuration entry of its log as the
//     membership when it starts, and with one voter it elects itself and
//     commits the entry;
//   - a RegisterNode entry with an empty address for every other former
//     member, so the state machine forgets their client addresses once
//     committed (Metadata and `cluster status` stop listing them).
//
// Entries the old cluster had not committed when this node stopped are
// committed now, as any new leader would. The former members must never
// run again with their old data (they would form a second cluster with
// the old membership): start them afresh or not at all.
//
// It works on either Raft log store (RaftLogStore): it opens the one the
// directory was created with. It blocks while it opens the store, which
// fails after a second if a running node holds it. Errors: ErrNoState,
// ErrInvalidConfig for an empty id or raftAddr, mlog.ErrOldFormat for a
// directory in another format (CheckDataFormat), or a wrapped I/O error.
func ForceNewCluster(dataDir, id, raftAddr string, logger *slog.Logger) (Recovered, error) {
	if id == "" || raftAddr == "" {
		return Recovered{}, &ConfigError{Field: "ID/RaftAddr", Reason: "ForceNewCluster needs both"}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := CheckDataFormat(dataDir); err != nil {
		return Recovered{}, err
	}
	rl, err := openRaftLog(dataDir, "", false, 0, newHCLogAdapter(logger).Named("raftlog"))
	if err != nil {
		return Recovered{}, err
	}
	defer rl.close()
	db := rl.logs
	snaps, err := NewSnapshotStore(filepath.Join(dataDir, "snapshots"), snapshotsRetained, logger)
	if err != nil {
		return Recovered{}, err
	}
	lastIndex, lastTerm, conf, err := latestState(db, snaps)
	if err != nil {
		return Recovered{}, err
	}
	if lastIndex == 0 {
		return Recovered{}, fmt.Errorf("%w: %s", ErrNoState, dataDir)
	}
	self := raft.ServerID(id)
	now := time.Now() // raft's AppendedAt metadata; no state machine reads it
	next := lastIndex + 1
	entries := []*raft.Log{{
		Index: next, Term: lastTerm, Type: raft.LogConfiguration, AppendedAt: now,
		Data: raft.EncodeConfiguration(raft.Configuration{Servers: []raft.Server{
			{Suffrage: raft.Voter, ID: self, Address: raft.ServerAddress(raftAddr)},
		}}),
	}}
	var rec Recovered
	rec.Index = next
	for _, s := range conf.Servers {
		if s.ID == self {
			continue
		}
		rec.Dropped = append(rec.Dropped, s)
		cmd, err := encodeCommand(CmdRegisterNode, RegisterNodeCmd{ID: string(s.ID)})
		if err != nil {
			return Recovered{}, err
		}
		next++
		entries = append(entries, &raft.Log{Index: next, Term: lastTerm, Type: raft.LogCommand, Data: cmd, AppendedAt: now})
	}
	if err := dropStaleLog(db, lastIndex); err != nil {
		return Recovered{}, err
	}
	if err := db.StoreLogs(entries); err != nil {
		return Recovered{}, fmt.Errorf("replication: force new cluster: %w", err)
	}
	logger.Warn("replication: membership rewritten: this node is the only member", "node", id,
		"raft_addr", raftAddr, "index", rec.Index, "dropped", len(rec.Dropped))
	return rec, nil
}

// latestState returns the index and term of the last entry of the Raft
// log or of the newest snapshot, whichever is later, and the newest
// configuration among them.
func latestState(logs raft.LogStore, snaps raft.SnapshotStore) (index, term uint64, conf raft.Configuration, err error) {
	metas, err := snaps.List()
	if err != nil {
		return 0, 0, conf, fmt.Errorf("replication: list snapshots: %w", err)
	}
	if len(metas) > 0 { // newest first
		index, term, conf = metas[0].Index, metas[0].Term, metas[0].Configuration
	}
	first, err := logs.FirstIndex()
	if err != nil {
		return 0, 0, conf, fmt.Errorf("replication: raft log: %w", err)
	}
	last, err := logs.LastIndex()
	if err != nil {
		return 0, 0, conf, fmt.Errorf("replication: raft log: %w", err)
	}
	if last == 0 {
		return index, term, conf, nil
	}
	for i := max(first, index+1); i <= last; i++ {
		var e raft.Log
		if err := logs.GetLog(i, &e); err != nil {
			return 0, 0, conf, fmt.Errorf("replication: raft log entry %d: %w", i, err)
		}
		if e.Type == raft.LogConfiguration {
			conf = raft.DecodeConfiguration(e.Data)
		}
		if i == last {
			index, term = e.Index, e.Term
		}
	}
	return index, term, conf, nil
}

// dropStaleLog deletes a log's entries when they all precede index, the
// newest snapshot's, so that entries appended at index+1 follow on: a
// store like raft-wal (raft.MonotonicLogStore) refuses a gap, which a
// node that crashed between installing a snapshot and removing its older
// entries can leave. Those entries are covered by the snapshot. Stores
// that allow gaps are left as they are.
func dropStaleLog(logs raft.LogStore, index uint64) error {
	if !isMonotonic(logs) {
		return nil
	}
	first, err := logs.FirstIndex()
	if err != nil {
		return fmt.Errorf("replication: raft log: %w", err)
	}
	last, err := logs.LastIndex()
	if err != nil {
		return fmt.Errorf("replication: raft log: %w", err)
	}
	if last == 0 || last >= index {
		return nil
	}
	if err := logs.DeleteRange(first, last); err != nil {
		return fmt.Errorf("replication: drop raft log entries %d-%d before snapshot %d: %w", first, last, index, err)
	}
	return nil
}
