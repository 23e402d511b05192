package replication

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"time"

	"github.com/hashicorp/raft"
)

// The model test: a random history of Raft entries (every command type,
// hostile ones included; model_gen_test.go) must leave the same state,
// by FSM.Digest, however it reaches the FSM:
//
//	straight    applied once on a fresh FSM: the reference
//	crash       with machine crashes at random points (crashFS cuts the
//	            partition logs back to their last fsync), each followed by
//	            a reopen and raft's replay from the newest persisted
//	            snapshot's index + 1; snapshots taken and persisted at
//	            random points, some persisted late, some lost
//	restore     a snapshot of the reference restored on a fresh FSM, then
//	            the rest applied
//	restore-cut a node that applied a prefix gets a snapshot stream cut
//	            short, is reopened (after a crash or a clean stop), then
//	            gets the whole snapshot or replays the log, then the rest
//
// No Apply may panic. Runs:
//
//	go test -run TestModel ./replication/                 240 fixed seeds (CI)
//	MINIBROKER_MODEL=1 [MINIBROKER_MODEL_DURATION=10m]    new random seeds for minutes (default 3m)
//	MINIBROKER_MODEL_SEED=N                               one history, verbosely
//	MINIBROKER_MODEL_SEED=N MINIBROKER_MODEL_RACY=1       the same with racy crashes
//
// Every failure names its seed; MINIBROKER_MODEL_SEED replays it. What is
// durable at a crash is deterministic in CI (the log flushers are drained
// first); the long run also crashes without draining (every third seed,
// half of its crashes), where what survives depends on the flusher's
// timing: MINIBROKER_MODEL_RACY=1 replays such a seed in that mode, which
// may take a few runs to hit the same timing.
func TestModel(t *testing.T) {
	count, base, until := 240, int64(1), time.Time{}
	racy := false
	if s := os.Getenv("MINIBROKER_MODEL_SEED"); s != "" {
		seed, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("MINIBROKER_MODEL_SEED=%q: %v", s, err)
		}
		runModel(t, seed, modelEntries(seed), os.Getenv("MINIBROKER_MODEL_RACY") != "", true)
		return
	}
	if os.Getenv("MINIBROKER_MODEL") != "" {
		d := 3 * time.Minute
		if s := os.Getenv("MINIBROKER_MODEL_DURATION"); s != "" {
			var err error
			if d, err = time.ParseDuration(s); err != nil {
				t.Fatalf("MINIBROKER_MODEL_DURATION=%q: %v", s, err)
			}
		}
		base, until, racy = time.Now().UnixNano()&(1<<40-1), time.Now().Add(d), true
		count = int(^uint(0) >> 1)
		t.Logf("model: seeds from %d for %v", base, d)
	} else if testing.Short() {
		count = 30
	}
	failures, n := 0, 0
	for i := 0; i < count && (until.IsZero() || time.Now().Before(until)); i++ {
		seed := base + int64(i)
		if !runModel(t, seed, modelEntries(seed), racy && seed%3 == 0, false) {
			failures++
		}
		n++
		if failures >= 10 {
			t.Fatalf("model: stopping after %d failing histories", failures)
		}
	}
	t.Logf("model: %d histories from seed %d, %d failed; crashes lost %d unsynced bytes", n, base, failures, modelLostBytes.Load())
}

// modelEntries is the history length for a seed: mostly short histories,
// some long enough for many segments, snapshots and crashes.
func modelEntries(seed int64) int {
	if seed%10 == 0 {
		return 300
	}
	return 40 + int(seed%7)*15
}

// modelRun is one history's context.
type modelRun struct {
	t       *testing.T
	seed    int64
	entries []*raft.Log
	want    Digest
	wantMet *metaState     // the reference's metadata at the end, for diffs
	snaps   *SnapshotStore // of the reference, for the restore variants
	snapAt  map[uint64]string
	verbose bool
	racy    bool // some crashes do not drain the log flushers first
	ok      bool
	// poisoned FSMs panicked in Apply: they may hold a lock for good, so
	// they are abandoned, not closed.
	poisoned map[*FSM]bool
}

// close closes f unless it panicked.
func (m *modelRun) close(f *FSM) {
	if !m.poisoned[f] {
		f.Close()
	}
}

func (m *modelRun) failf(variant string, events []string, format string, args ...any) {
	m.t.Helper()
	m.ok = false
	msg := fmt.Sprintf(format, args...)
	ev := ""
	if len(events) > 0 {
		ev = "\n  events: " + strings.Join(events, ", ")
	}
	env := ""
	if m.racy {
		env = " MINIBROKER_MODEL_RACY=1"
	}
	m.t.Errorf("model seed=%d variant=%s: %s%s\n  replay: MINIBROKER_MODEL_SEED=%d%s go test -run TestModel ./replication/", m.seed, variant, msg, ev, m.seed, env)
}

// runModel generates the history of seed with n entries and checks every
// variant against it. It reports whether all of them passed.
func runModel(t *testing.T, seed int64, n int, racy, verbose bool) bool {
	t.Helper()
	root := t.TempDir()
	m := &modelRun{t: t, seed: seed, verbose: verbose, racy: racy, ok: true, snapAt: map[uint64]string{}, poisoned: map[*FSM]bool{}}
	if !m.generate(root, n) {
		return false
	}
	rng := rand.New(rand.NewSource(seed*7919 + 1))
	m.runCrash(filepath.Join(root, "crash"), rng, racy)
	m.runRestore(filepath.Join(root, "restore"), rng)
	m.runRestoreCut(filepath.Join(root, "restore-cut"), rng, racy)
	return m.ok
}

// generate builds the history on the reference FSM (variant straight) and
// takes the reference's snapshots for the restore variants.
func (m *modelRun) generate(root string, n int) bool {
	ref, err := NewFSM(FSMConfig{Dir: filepath.Join(root, "ref")})
	if err != nil {
		m.t.Fatal(err)
	}
	defer m.close(ref)
	m.snaps, err = NewSnapshotStore(filepath.Join(root, "ref-snaps"), 4, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	g := &modelGen{rng: rand.New(rand.NewSource(m.seed)), ref: ref, term: 1, base: 1_700_000_000_000}
	for i := range g.skew {
		g.skew[i] = int64(g.pick(600_000)) - 300_000
	}
	snapPoints := map[int]bool{g.pick(n + 1): true, g.pick(n + 1): true}
	for i := 1; i <= n; i++ {
		g.index = uint64(i)
		ct, data, typ := g.step()
		l := &raft.Log{Index: uint64(i), Term: g.term, Type: typ, Data: data}
		m.entries = append(m.entries, l)
		if _, perr := applySafely(ref, []*raft.Log{l}); perr != nil {
			m.poisoned[ref] = true
			m.failf("straight", nil, "Apply panicked on %s (%v): %v", describeEntry(l), ct, perr)
			return false
		}
		if m.verbose {
			m.t.Logf("%s", describeEntry(l))
		}
		if err := ref.Err(); err != nil {
			m.failf("straight", nil, "FSM stopped at %s: %v", describeEntry(l), err)
			return false
		}
		if snapPoints[i] {
			m.snapAt[uint64(i)] = m.persist(ref, m.snaps, uint64(i))
		}
	}
	if m.want, err = ref.Digest(); err != nil {
		m.t.Fatalf("seed %d: reference digest: %v", m.seed, err)
	}
	ref.mu.RLock()
	m.wantMet = ref.meta.clone()
	ref.mu.RUnlock()
	return true
}

// applySafely applies a batch, turning a panic into an error.
func applySafely(f *FSM, batch []*raft.Log) (resps []any, perr error) {
	defer func() {
		if r := recover(); r != nil {
			perr = fmt.Errorf("panic: %v", r)
		}
	}()
	return f.ApplyBatch(batch), nil
}

// persist snapshots f at index into store and returns the snapshot's id.
func (m *modelRun) persist(f *FSM, store *SnapshotStore, index uint64) string {
	m.t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		m.t.Fatalf("seed %d: snapshot at %d: %v", m.seed, index, err)
	}
	defer snap.Release()
	sink, err := store.Create(1, index, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		m.t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		m.t.Fatalf("seed %d: persist at %d: %v", m.seed, index, err)
	}
	return sink.ID()
}

// apply applies entries [from, to) (0-based slice positions, i.e. Raft
// indexes from+1 to to) in random batches. It reports false after a panic
// or a stopped FSM.
func (m *modelRun) apply(variant string, events []string, f *FSM, rng *rand.Rand, from, to int) bool {
	m.t.Helper()
	return m.applyEntries(variant, events, f, rng, m.entries[from:to])
}

// applyEntries is apply of the given entries.
func (m *modelRun) applyEntries(variant string, events []string, f *FSM, rng *rand.Rand, entries []*raft.Log) bool {
	m.t.Helper()
	for i, to := 0, len(entries); i < to; {
		j := min(to, i+1+rng.Intn(8))
		batch := entries[i:j]
		if _, perr := applySafely(f, batch); perr != nil {
			m.poisoned[f] = true
			var ds []string
			for _, l := range batch {
				ds = append(ds, describeEntry(l))
			}
			m.failf(variant, events, "Apply panicked on a batch of %s: %v", strings.Join(ds, "; "), perr)
			return false
		}
		if err := f.Err(); err != nil {
			m.failf(variant, events, "FSM stopped in batch %d..%d: %v", entries[i].Index, entries[j-1].Index, err)
			return false
		}
		i = j
	}
	return true
}

// check compares f's digest with the reference's.
func (m *modelRun) check(variant string, events []string, f *FSM) {
	m.t.Helper()
	d, err := f.Digest()
	if err != nil {
		m.failf(variant, events, "digest: %v", err)
		return
	}
	if d.Sum() != m.want.Sum() {
		f.mu.RLock()
		got := f.meta.clone()
		f.mu.RUnlock()
		m.failf(variant, events, "digest differs from the straight run in %v (index %d vs %d)%s%s",
			m.want.Diff(d), d.Index, m.want.Index, partDiff(d, m.want), metaDiff(got, m.wantMet))
	}
}

// restoreStream opens the reference snapshot taken at index as a stream.
func (m *modelRun) restoreStream(id string) []byte {
	m.t.Helper()
	_, rc, err := m.snaps.Open(id)
	if err != nil {
		m.t.Fatalf("seed %d: open snapshot %s: %v", m.seed, id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		m.t.Fatalf("seed %d: read snapshot %s: %v", m.seed, id, err)
	}
	return b
}

// runRestore: every reference snapshot restored on a fresh FSM, then the
// rest of the history.
func (m *modelRun) runRestore(dir string, rng *rand.Rand) {
	for _, index := range m.snapIndexes() {
		id := m.snapAt[index]
		d := filepath.Join(dir, fmt.Sprint(index))
		events := []string{fmt.Sprintf("restore of the snapshot at %d", index)}
		f, err := NewFSM(FSMConfig{Dir: d})
		if err != nil {
			m.t.Fatal(err)
		}
		if err := f.Restore(io.NopCloser(bytes.NewReader(m.restoreStream(id)))); err != nil {
			m.failf("restore", events, "Restore: %v", err)
		} else if m.apply("restore", events, f, rng, int(index), len(m.entries)) {
			m.check("restore", events, f)
		}
		m.close(f)
	}
}

// snapIndexes lists the reference snapshots' indexes in order.
func (m *modelRun) snapIndexes() []uint64 {
	var out []uint64
	for i := range m.snapAt {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// partDiff prints the partitions whose digests differ.
func partDiff(got, want Digest) string {
	var b strings.Builder
	idx := map[string]PartitionDigest{}
	for _, p := range want.Partitions {
		idx[fmt.Sprintf("%s/%d", p.Topic, p.Partition)] = p
	}
	for _, p := range got.Partitions {
		k := fmt.Sprintf("%s/%d", p.Topic, p.Partition)
		if w, ok := idx[k]; !ok || w != p {
			fmt.Fprintf(&b, "\n  partition %s: got [%d, %d) want [%d, %d) (sums differ: %v)", k, p.StartOffset, p.NextOffset, w.StartOffset, w.NextOffset, w.Sum != p.Sum)
		}
	}
	return b.String()
}

// metaDiff prints the parts of two metadata states that differ (Index
// aside).
func metaDiff(got, want *metaState) string {
	var b strings.Builder
	cmp := func(what string, g, w any) {
		gb, _ := msgpack.Marshal(g)
		wb, _ := msgpack.Marshal(w)
		gs, ws := fmt.Sprintf("%+v", g), fmt.Sprintf("%+v", w)
		if gs != ws || !bytes.Equal(gb, wb) {
			if gs == ws {
				gs, ws = fmt.Sprintf("% x", gb), fmt.Sprintf("% x", wb)
			}
			fmt.Fprintf(&b, "\n  %s:\n    got  %s\n    want %s", what, gs, ws)
		}
	}
	cmp("topics", got.sortedTopicValues(), want.sortedTopicValues())
	cmp("offsets", got.OffsetList, want.OffsetList)
	cmp("nodes", got.Nodes, want.Nodes)
	cmp("kafka addrs", got.KafkaAddrs, want.KafkaAddrs)
	cmp("node nums", got.NodeNumList, want.NodeNumList)
	gp, wp := map[int64]string{}, map[int64]string{}
	for _, p := range got.ProducerList {
		b, _ := msgpack.Marshal(p)
		gp[p.ID] = fmt.Sprintf("%+v %x", *p, b)
	}
	for _, p := range want.ProducerList {
		b, _ := msgpack.Marshal(p)
		wp[p.ID] = fmt.Sprintf("%+v %x", *p, b)
	}
	for id, g := range gp {
		if wp[id] != g {
			fmt.Fprintf(&b, "\n  producer %d:\n    got  %s\n    want %s", id, g, wp[id])
		}
	}
	for id, w := range wp {
		if _, ok := gp[id]; !ok {
			fmt.Fprintf(&b, "\n  producer %d:\n    got  none\n    want %s", id, w)
		}
	}
	var gg, wg []Group
	for _, g := range got.GroupList {
		gg = append(gg, *g)
	}
	for _, g := range want.GroupList {
		wg = append(wg, *g)
	}
	cmp("groups", gg, wg)
	cmp("users", got.Users, want.Users)
	if b.Len() == 0 {
		gc, wc := got.clone(), want.clone()
		gc.Index, wc.Index = 0, 0
		ge, _ := encodeMeta(gc)
		we, _ := encodeMeta(wc)
		i := 0
		for i < len(ge) && i < len(we) && ge[i] == we[i] {
			i++
		}
		fmt.Fprintf(&b, "\n  encodings differ at byte %d of %d/%d:\n    got  % x\n    want % x", i, len(ge), len(we), ge[max(0, i-40):min(len(ge), i+40)], we[max(0, i-40):min(len(we), i+40)])
	}
	return b.String()
}

func (m *metaState) sortedTopicValues() []Topic {
	var out []Topic
	for _, t := range m.sortedTopics() {
		out = append(out, *t)
	}
	return out
}
