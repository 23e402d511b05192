package replication

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestRaftLogStoreRestartSnapshotCompaction: on either store a node
// applies, snapshots and compacts its log (the first index moves past the
// snapshot's trailing entries), restarts with its raft state, replays only
// the entries after the snapshot and goes on taking writes.
func TestRaftLogStoreRestartSnapshotCompaction(t *testing.T) {
	for _, store := range RaftLogStores {
		t.Run(string(store), func(t *testing.T) {
			cfg := testConfig(t, "solo", true)
			cfg.RaftLog = store
			cfg.TrailingLogs = 2
			first := startNode(t, cfg)
			waitReadyLeader(t, first)
			for i := range 10 {
				mustApply(t, first, fmt.Sprint("a", i), AcksAll)
			}
			if err := first.Snapshot(); err != nil {
				t.Fatalf("Snapshot: %v", err)
			}
			before := first.Stats()
			firstIndex, err := first.rlog.logs.FirstIndex()
			if err != nil {
				t.Fatal(err)
			}
			if want := before.LastSnapshotIndex - cfg.TrailingLogs + 1; firstIndex != want {
				t.Fatalf("first index after compaction %d, want %d (snapshot %d, 2 trailing)", firstIndex, want, before.LastSnapshotIndex)
			}
			mustApply(t, first, "b", AcksAll)
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}
			if got, err := DataDirRaftLog(cfg.DataDir); err != nil || got != store {
				t.Fatalf("DataDirRaftLog = %q, %v; want %q", got, err, store)
			}

			cfg.RaftAddr = first.RaftAddr()
			second := startNode(t, cfg)
			waitReadyLeader(t, second)
			after := second.Stats()
			if after.LastSnapshotIndex != before.LastSnapshotIndex || after.Term <= before.Term {
				t.Fatalf("Stats after restart = %+v; before = %+v", after, before)
			}
			if got := second.fsm.Entries(); !slices.Equal(got, []string{"b"}) {
				t.Fatalf("FSM after restart = %q; want [b]", got)
			}
			mustApply(t, second, "c", AcksAll)
		})
	}
}

// TestWALFollowerCatchesUpThroughSnapshot: a follower whose raft log ends
// long before the leader's snapshot installs it and then appends the
// entries after it. raft-wal refuses a gap in the log, so raft must know
// that the store is monotonic (through the log cache and the acks wrapper)
// and remove the follower's older entries after the install.
func TestWALFollowerCatchesUpThroughSnapshot(t *testing.T) {
	c := newStoreCluster(t, 3, func(cfg *Config) {
		cfg.Node.RaftLog = RaftLogWAL
		// Small segments: the follower's log and the leader's span
		// several, rotated and sealed.
		cfg.Node.walSegmentBytes = 4 << 10
		cfg.Node.TrailingLogs = 4
		cfg.Node.SnapshotThreshold = 8
	})
	lead := c.waitLeader()
	mustCreate(t, c.stores[lead], "t", 1, TopicConfig{})
	c.append("t", 0, "a", 1)
	lead = c.waitLeader()
	c.waitSame(lead, "t", 1)
	follower := (lead + 1) % 3
	c.kill(follower)
	for i := range 100 { // the Store keeps at least 64 entries after a snapshot
		c.append("t", 0, fmt.Sprint("b", i), 1)
	}
	lead = c.waitLeader()
	if err := c.stores[lead].Node().Snapshot(); err != nil {
		t.Fatal(err)
	}
	if st := c.stores[lead].Node().Stats(); st.LastSnapshotIndex < 50 {
		t.Fatalf("leader snapshot at %d", st.LastSnapshotIndex)
	}
	s := c.start(follower)
	stateDir := s.FSM().liveStateDir()
	c.waitSame(lead, "t", 1)
	if s.FSM().liveStateDir() == stateDir {
		t.Fatal("the follower caught up without installing a snapshot")
	}
	for i := range 5 {
		c.append("t", 0, fmt.Sprint("c", i), 1)
	}
	c.waitSame(c.waitLeader(), "t", 1)
	if err := s.Node().Err(); err != nil {
		t.Fatalf("follower: %v", err)
	}
}

// TestRaftLogStoreMismatchRefused: a data directory keeps the store it
// was created with; the other one is refused with a *StoreMismatchError
// that says how to go on, and nothing is changed. A directory from before
// the marker (raft.db only) is bolt.
func TestRaftLogStoreMismatchRefused(t *testing.T) {
	for _, tc := range []struct{ created, other RaftLogStore }{{RaftLogBolt, RaftLogWAL}, {RaftLogWAL, RaftLogBolt}} {
		t.Run(string(tc.created), func(t *testing.T) {
			cfg := testConfig(t, "solo", true)
			cfg.RaftLog = tc.created
			n := startNode(t, cfg)
			waitReadyLeader(t, n)
			mustApply(t, n, "a", AcksAll)
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			entries := func() []string {
				des, err := os.ReadDir(cfg.DataDir)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, de := range des {
					names = append(names, de.Name())
				}
				return names
			}
			was := entries()

			wrong := cfg
			wrong.RaftLog = tc.other
			_, err := NewNode(wrong, &testFSM{}, nil)
			var me *StoreMismatchError
			if !errors.Is(err, ErrStoreMismatch) || !errors.As(err, &me) {
				t.Fatalf("NewNode with %s on a %s dir = %v; want a *StoreMismatchError", tc.other, tc.created, err)
			}
			if me.Created != tc.created || me.Requested != tc.other {
				t.Fatalf("mismatch %+v", me)
			}
			if want := "start with --raft-log " + string(tc.created) + ", or move the data away"; !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
			if now := entries(); !slices.Equal(now, was) {
				t.Fatalf("data dir changed by the refused start: %q, was %q", now, was)
			}

			second := startNode(t, cfg)
			waitReadyLeader(t, second)
			mustApply(t, second, "b", AcksAll)
		})
	}

	t.Run("legacy bolt dir", func(t *testing.T) {
		cfg := testConfig(t, "solo", true)
		n := startNode(t, cfg)
		waitReadyLeader(t, n)
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(cfg.DataDir, raftLogMarkerFile)); err != nil {
			t.Fatal(err)
		}
		wal := cfg
		wal.RaftLog = RaftLogWAL
		if _, err := NewNode(wal, &testFSM{}, nil); !errors.Is(err, ErrStoreMismatch) {
			t.Fatalf("wal on a raft.db dir without marker = %v; want ErrStoreMismatch", err)
		}
		cfg.RaftAddr = n.RaftAddr()
		startNode(t, cfg)
		if got, err := os.ReadFile(filepath.Join(cfg.DataDir, raftLogMarkerFile)); err != nil || string(got) != "bolt\n" {
			t.Fatalf("marker after reopening = %q, %v; want bolt", got, err)
		}
	})
}

// TestWALOpenWaitsForLock: a second node on the data dir of a running
// wal node fails after the lock timeout instead of hanging on raft-wal's
// meta db.
func TestWALOpenWaitsForLock(t *testing.T) {
	cfg := testConfig(t, "solo", true)
	cfg.RaftLog = RaftLogWAL
	startNode(t, cfg)
	done := make(chan error, 1)
	go func() {
		n, err := NewNode(cfg, &testFSM{}, nil)
		if err == nil {
			n.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "locked") {
			t.Fatalf("second NewNode on a locked wal = %v; want a lock error", err)
		}
	case <-time.After(testWait):
		t.Fatal("second NewNode on a locked wal hangs")
	}
}

func TestRaftLogStoreConfig(t *testing.T) {
	for in, want := range map[string]RaftLogStore{"": RaftLogBolt, "bolt": RaftLogBolt, "wal": RaftLogWAL} {
		if got, err := ParseRaftLogStore(in); err != nil || got != want {
			t.Errorf("ParseRaftLogStore(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseRaftLogStore("sqlite"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ParseRaftLogStore(sqlite) = %v; want ErrInvalidConfig", err)
	}
	cfg := testConfig(t, "n1", false)
	cfg.RaftLog = "WAL"
	if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Validate with RaftLog %q = %v; want ErrInvalidConfig", cfg.RaftLog, err)
	}
}

// TestDropStaleLogBeforeSnapshot: on raft-wal, a log that ends before the
// newest snapshot (a crash between installing it and removing the older
// entries) is emptied, so that ForceNewCluster can append after the
// snapshot; raft-wal refuses the gap otherwise.
func TestDropStaleLogBeforeSnapshot(t *testing.T) {
	rl, err := openRaftLog(t.TempDir(), RaftLogWAL, false, 0, newHCLogAdapter(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.close()
	var logs []*raft.Log
	for i := uint64(1); i <= 5; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand})
	}
	if err := rl.logs.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	next := []*raft.Log{{Index: 11, Term: 2, Type: raft.LogCommand}}
	if err := rl.logs.StoreLogs(next); err == nil {
		t.Fatal("raft-wal took a gap in the log")
	}
	if err := dropStaleLog(rl.logs, 10); err != nil {
		t.Fatal(err)
	}
	if err := rl.logs.StoreLogs(next); err != nil {
		t.Fatalf("append after the snapshot: %v", err)
	}
	if first, _ := rl.logs.FirstIndex(); first != 11 {
		t.Fatalf("first index %d, want 11", first)
	}
}

// TestWALReopensAfterTailTruncation: raft truncates a deposed leader's log
// tail; raft-wal v0.4.0 then leaves a segment marked sealed without an
// index (hashicorp/raft-wal#31), on which the next open failed, so the
// node could never start again. It must reopen with every entry, the
// rewritten ones included.
func TestWALReopensAfterTailTruncation(t *testing.T) {
	dir := t.TempDir()
	open := func() *raftLog {
		rl, err := openRaftLog(dir, RaftLogWAL, false, 0, newHCLogAdapter(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		return rl
	}
	store := func(rl *raftLog, from, to, term uint64) {
		var logs []*raft.Log
		for i := from; i <= to; i++ {
			logs = append(logs, &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: []byte(fmt.Sprint(i, "@", term))})
		}
		if err := rl.logs.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
	}
	rl := open()
	store(rl, 1, 10, 1)
	if err := rl.logs.DeleteRange(8, 10); err != nil { // "clearing log suffix"
		t.Fatal(err)
	}
	store(rl, 8, 12, 2)
	if err := rl.close(); err != nil {
		t.Fatal(err)
	}
	rl = open()
	defer rl.close()
	for i := uint64(1); i <= 12; i++ {
		term := uint64(1)
		if i >= 8 {
			term = 2
		}
		var l raft.Log
		if err := rl.logs.GetLog(i, &l); err != nil || string(l.Data) != fmt.Sprint(i, "@", term) {
			t.Fatalf("entry %d after reopening: %q, %v; want %q", i, l.Data, err, fmt.Sprint(i, "@", term))
		}
	}
	if last, _ := rl.logs.LastIndex(); last != 12 {
		t.Fatalf("last index %d, want 12", last)
	}
}
