package replication

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	mlog "github.com/minibroker/minibroker/log"
)

// partKey names a partition.
type partKey struct {
	topic string
	id    int32
}

// partition is one partition's log plus what the FSM tracks about it.
type partition struct {
	topic *Topic
	id    int32
	log   *mlog.Log

	// lastIndex is the Raft index of the last batch in the log (its batch
	// meta). Owned by the FSM goroutine. Replay skips Append entries at or
	// below it.
	lastIndex uint64

	// replayGap and replayGapRecords hold, while raft replays entries at
	// or below lastIndex, the idempotent batches retention had removed
	// before the restart, whose offsets are not known yet, and the records
	// of every gone batch from the first of them on (see replayAppend).
	// Owned by the FSM goroutine.
	replayGap        []gapBatch
	replayGapRecords int64

	nmu    sync.Mutex    // guards notify
	notify chan struct{} // closed when data is appended, then replaced
}

// topicDir is where a topic's partitions live, relative to the state dir.
func topicDir(name string, createIndex uint64) string {
	return filepath.Join("topics", fmt.Sprintf("%s-%d", name, createIndex))
}

// openPartition opens (creating or recovering) one partition's log. now is
// the FSM's clock: the leader-stamped time of the entry being applied.
func openPartition(stateDir string, t *Topic, id int32, fsys mlog.FS, sync mlog.SyncMode, now func() time.Time, logger *slog.Logger) (*partition, error) {
	if fsys == nil {
		fsys = mlog.OSFS{}
	}
	dir := filepath.Join(stateDir, topicDir(t.Name, t.CreateIndex), fmt.Sprint(id))
	if err := makePartitionDir(fsys, stateDir, dir); err != nil {
		return nil, fmt.Errorf("replication: open partition %s/%d: %w", t.Name, id, err)
	}
	l, err := mlog.Open(dir, mlog.Config{
		FS:             fsys,
		SegmentBytes:   t.Config.SegmentBytes,
		RetentionBytes: t.Config.RetentionBytes,
		RetentionAge:   time.Duration(t.Config.RetentionMs) * time.Millisecond,
		Sync:           sync,
		Now:            now,
		Logger:         logger.With("topic", t.Name, "partition", id),
	})
	if err != nil {
		return nil, fmt.Errorf("replication: open partition %s/%d: %w", t.Name, id, err)
	}
	return &partition{topic: t, id: id, log: l, lastIndex: l.LastMeta(), notify: make(chan struct{})}, nil
}

// makePartitionDir creates a partition's directory, stateDir/topics/<topic>/
// <partition>, and makes the creation durable: it fsyncs the parent of each
// directory it created (the log fsyncs the partition directory itself once
// it has created its first segment). Without this, a machine crash could
// drop a partition's or a topic's directory entry with all the data under
// it, although the data was fsynced by a snapshot and raft no longer has the
// entries (the partition logs' SyncNever relies on snapshots, see
// FSMConfig.LogSync). A directory left by a process crash before its parent
// was fsynced is covered by syncStateDirs at the next start.
func makePartitionDir(fsys mlog.FS, stateDir, dir string) error {
	exists := func(p string) bool { _, err := fsys.ReadDir(p); return err == nil }
	topic := filepath.Dir(dir)
	newTopic, newPart := !exists(topic), !exists(dir)
	if !newPart {
		return nil
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create dir: %w", err)
	}
	dirs := []string{topic}
	if newTopic { // and maybe topics/ too
		dirs = append(dirs, filepath.Dir(topic), stateDir)
	}
	for _, d := range dirs {
		if err := fsys.SyncDir(d); err != nil {
			return fmt.Errorf("sync dir: %w", err)
		}
	}
	return nil
}

// changed returns a channel that is closed the next time data is appended.
func (p *partition) changed() <-chan struct{} {
	p.nmu.Lock()
	defer p.nmu.Unlock()
	return p.notify
}

// wake closes the current notify channel, waking every waiter.
func (p *partition) wake() {
	p.nmu.Lock()
	close(p.notify)
	p.notify = make(chan struct{})
	p.nmu.Unlock()
}
