package replication

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// crashNode is one simulated node of the model test: an FSM on a crashFS,
// its snapshot store, and what raft would know: the index of the newest
// snapshot it recorded.
type crashNode struct {
	m       *modelRun
	variant string
	dir     string
	fs      *crashFS
	f       *FSM
	store   *SnapshotStore
	// rlog is the node's Raft log, in the real store the seed picks (bolt
	// or wal): entries reach the FSM, and replay after a crash, as read
	// back from it.
	rlog    *raftLog
	snapIdx int // Raft index of the newest recorded snapshot; 0: none
	events  []string

	pending    *fsmSnapshot // taken by Snapshot, not persisted yet
	pendingIdx int
}

func (m *modelRun) newCrashNode(variant, dir string) *crashNode {
	m.t.Helper()
	n := &crashNode{m: m, variant: variant, dir: dir, fs: newCrashFS()}
	var err error
	if n.store, err = NewSnapshotStore(filepath.Join(dir, "snaps"), 2, nil); err != nil {
		m.t.Fatal(err)
	}
	if n.f, err = NewFSM(FSMConfig{Dir: filepath.Join(dir, "fsm"), FS: n.fs}); err != nil {
		m.t.Fatal(err)
	}
	n.openLog()
	m.t.Cleanup(func() { n.rlog.close() })
	return n
}

// modelStore is the Raft log store of a seed's crash variant: both stores
// are covered, one seed in two each.
func modelStore(seed int64) RaftLogStore { return RaftLogStores[seed&1] }

// openLog opens (or reopens, after a crash) the node's Raft log store.
func (n *crashNode) openLog() {
	dir := filepath.Join(n.dir, "raft")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		n.m.t.Fatal(err)
	}
	// No fsyncs: the store is closed cleanly at a crash (its own crash
	// safety is tested elsewhere), and they would cost most of the run.
	rl, err := openRaftLog(dir, modelStore(n.m.seed), true, 1<<20, nil)
	if err != nil {
		n.m.t.Fatalf("seed %d: open raft log: %v", n.m.seed, err)
	}
	n.rlog = rl
}

// logged stores entries [from, to) of the history in the node's Raft log,
// as raft does before it applies them, and returns them read back.
func (n *crashNode) logged(from, to int) []*raft.Log {
	if err := n.rlog.logs.StoreLogs(n.m.entries[from:to]); err != nil {
		n.m.t.Fatalf("seed %d: store logs %d..%d: %v", n.m.seed, from+1, to, err)
	}
	return n.readBack(from, to)
}

// readBack reads entries [from, to) of the history from the Raft log store
// and checks that they are what was stored.
func (n *crashNode) readBack(from, to int) []*raft.Log {
	out := make([]*raft.Log, 0, to-from)
	for i := from; i < to; i++ {
		want := n.m.entries[i]
		var l raft.Log
		if err := n.rlog.logs.GetLog(want.Index, &l); err != nil {
			n.m.t.Fatalf("seed %d: %s raft log: entry %d: %v", n.m.seed, modelStore(n.m.seed), want.Index, err)
		}
		if l.Index != want.Index || l.Term != want.Term || l.Type != want.Type || !bytes.Equal(l.Data, want.Data) {
			n.m.t.Fatalf("seed %d: %s raft log: entry %d read back differs", n.m.seed, modelStore(n.m.seed), want.Index)
		}
		out = append(out, &l)
	}
	return out
}

func (n *crashNode) event(format string, args ...any) {
	n.events = append(n.events, fmt.Sprintf(format, args...))
}

// snapshot takes a snapshot at applied index i, as raft would.
func (n *crashNode) snapshot(i int) bool {
	snap, err := n.f.Snapshot()
	if err != nil {
		n.m.failf(n.variant, n.events, "Snapshot at %d: %v", i, err)
		return false
	}
	if n.pending != nil {
		n.pending.Release()
	}
	n.pending, n.pendingIdx = snap.(*fsmSnapshot), i
	n.event("snapshot@%d", i)
	return true
}

// persistPending persists the pending snapshot. lost: the node dies before
// raft records it (Persist runs, its sink fails to close).
func (n *crashNode) persistPending(now int, lost bool) bool {
	s := n.pending
	n.pending = nil
	defer s.Release()
	var sink raft.SnapshotSink
	if lost {
		sink = &failingSink{bufSink{Buffer: &bytes.Buffer{}}}
	} else {
		var err error
		if sink, err = n.store.Create(1, uint64(n.pendingIdx), 1, raft.Configuration{}, 1, nil); err != nil {
			n.m.t.Fatal(err)
		}
	}
	err := s.Persist(sink)
	// Persist fsynced each partition's last segment through its staging
	// link: tell the crashFS.
	for _, p := range s.m.Parts {
		if k := len(p.Segments); k > 0 {
			n.fs.markSynced(filepath.Join(s.stage, p.rel(), p.Segments[k-1].Name))
		}
	}
	switch {
	case lost && err == nil:
		n.m.t.Fatal("Persist into a failing sink succeeded")
	case lost:
		n.event("persist@%d lost (at %d)", n.pendingIdx, now)
	case err != nil:
		n.m.failf(n.variant, n.events, "Persist of the snapshot at %d: %v", n.pendingIdx, err)
		return false
	default:
		n.snapIdx = n.pendingIdx
		n.event("persist@%d (at %d)", n.pendingIdx, now)
	}
	return true
}

// modelLostBytes counts the unsynced bytes crashes threw away, to show in
// the test's log that crashes do lose data.
var modelLostBytes atomic.Int64

type failingSink struct{ bufSink }

func (failingSink) Close() error {
	return errors.New("model: node died before raft recorded the snapshot")
}

// crash kills the node at applied index i and reopens it; the caller then
// replays from snapIdx+1. racy: do not wait for the log flushers first.
func (n *crashNode) crash(i int, racy bool) bool {
	if n.pending != nil {
		n.pending.Release()
		n.pending = nil
	}
	if !racy {
		n.drainFlushers()
	}
	lost, err := n.fs.crash()
	if err != nil {
		n.m.t.Fatalf("seed %d: crashFS: %v", n.m.seed, err)
	}
	modelLostBytes.Add(lost)
	n.f.Close() // dead handles: it changes nothing on disk
	n.fs.revive()
	// The Raft log store is closed and reopened, as a restarted node's is
	// (its own durability is raft-boltdb's and raft-wal's; see the fault
	// tests for real process kills).
	if err := n.rlog.close(); err != nil {
		n.m.t.Fatalf("seed %d: close raft log: %v", n.m.seed, err)
	}
	n.openLog()
	n.event("crash@%d (racy=%v, %d unsynced bytes lost), replay from %d", i, racy, lost, n.snapIdx+1)
	return n.reopen()
}

// stop closes the node cleanly and reopens it.
func (n *crashNode) stop(i int) bool {
	if err := n.f.Close(); err != nil {
		n.m.failf(n.variant, n.events, "Close: %v", err)
		return false
	}
	n.event("stop@%d, replay from %d", i, n.snapIdx+1)
	return n.reopen()
}

func (n *crashNode) reopen() bool {
	f, err := NewFSM(FSMConfig{Dir: filepath.Join(n.dir, "fsm"), FS: n.fs})
	if err != nil {
		n.m.failf(n.variant, n.events, "reopen: %v", err)
		return false
	}
	n.f = f
	return true
}

// drainFlushers waits until every partition log's flusher is idle (each
// LinkSegments waits for it), so what a crash keeps does not depend on
// timing.
func (n *crashNode) drainFlushers() {
	tmp, err := os.MkdirTemp(n.dir, "drain")
	if err != nil {
		n.m.t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	n.f.mu.RLock()
	defer n.f.mu.RUnlock()
	for i, p := range n.f.sortedPartsLocked() {
		d := filepath.Join(tmp, fmt.Sprint(i))
		if err := os.Mkdir(d, 0o755); err != nil {
			n.m.t.Fatal(err)
		}
		if _, err := p.log.LinkSegments(d); err != nil {
			n.m.t.Fatalf("seed %d: drain: %v", n.m.seed, err)
		}
	}
}

// sortedPartsLocked lists the open partitions by topic and id; f.mu held.
func (f *FSM) sortedPartsLocked() []*partition {
	var out []*partition
	for _, t := range f.meta.sortedTopics() {
		for i := int32(0); i < t.Partitions; i++ {
			if p := f.parts[partKey{t.Name, i}]; p != nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// runCrash applies the history with snapshots and crashes at random
// points.
func (m *modelRun) runCrash(dir string, rng *rand.Rand, racy bool) {
	n := m.newCrashNode("crash", dir)
	defer func() { m.close(n.f) }()
	total := len(m.entries)
	crashes := 1 + rng.Intn(4)
loop:
	for i := 0; i <= total; {
		switch r := rng.Intn(100); {
		case r < 6 && i > 0:
			if !n.snapshot(i) {
				return
			}
			if rng.Intn(3) > 0 && !n.persistPending(i, rng.Intn(8) == 0) {
				return
			}
			continue
		case r < 12 && n.pending != nil:
			if !n.persistPending(i, rng.Intn(8) == 0) {
				return
			}
			continue
		case r < 16 && crashes > 0:
			crashes--
			if !n.crash(i, racy && rng.Intn(2) == 0) || !m.applyEntries("crash", n.events, n.f, rng, n.readBack(n.snapIdx, i)) {
				return
			}
			continue
		}
		if i == total {
			break loop
		}
		j := min(total, i+1+rng.Intn(6))
		if !m.applyEntries("crash", n.events, n.f, rng, n.logged(i, j)) {
			return
		}
		i = j
	}
	m.check("crash", n.events, n.f)
}

// runRestoreCut: a node that applied a prefix gets a snapshot stream cut
// short (the restore fails), is reopened (crash or clean stop, then raft's
// replay of its own log), then restores the whole snapshot or replays the
// log to the end.
func (m *modelRun) runRestoreCut(dir string, rng *rand.Rand, racy bool) {
	for _, index := range m.snapIndexes() {
		id := m.snapAt[index]
		n := m.newCrashNode("restore-cut", filepath.Join(dir, fmt.Sprint(index)))
		m.restoreCut(n, rng, int(index), m.restoreStream(id), racy)
		m.close(n.f)
	}
}

func (m *modelRun) restoreCut(n *crashNode, rng *rand.Rand, index int, stream []byte, racy bool) {
	prefix := rng.Intn(index + 1) // what the follower applied before
	if !m.apply(n.variant, n.events, n.f, rng, 0, prefix) {
		return
	}
	if prefix > 0 && rng.Intn(2) == 0 {
		if !n.snapshot(prefix) || !n.persistPending(prefix, false) {
			return
		}
	}
	cut := rng.Intn(len(stream))
	n.event("applied %d, restore of the snapshot at %d cut at %d of %d bytes", prefix, index, cut, len(stream))
	if err := n.f.Restore(io.NopCloser(bytes.NewReader(stream[:cut]))); err == nil {
		m.failf(n.variant, n.events, "Restore of a stream cut at %d of %d bytes succeeded", cut, len(stream))
		return
	}
	ok := false
	if rng.Intn(2) == 0 {
		ok = n.crash(prefix, racy && rng.Intn(2) == 0)
	} else {
		ok = n.stop(prefix)
	}
	if !ok || !m.apply(n.variant, n.events, n.f, rng, n.snapIdx, prefix) {
		return
	}
	if rng.Intn(2) == 0 {
		n.event("full restore")
		if err := n.f.Restore(io.NopCloser(bytes.NewReader(stream))); err != nil {
			m.failf(n.variant, n.events, "Restore of the whole stream after a cut one: %v", err)
			return
		}
		if !m.apply(n.variant, n.events, n.f, rng, index, len(m.entries)) {
			return
		}
	} else {
		n.event("log replay to the end")
		if !m.apply(n.variant, n.events, n.f, rng, prefix, len(m.entries)) {
			return
		}
	}
	m.check(n.variant, n.events, n.f)
}
