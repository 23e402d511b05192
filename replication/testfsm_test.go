package replication

// The test FSM, and helpers to run nodes and clusters in tests.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// Commands with special meaning to testFSM.
const (
	cmdFSMError = "fsm-error" // responds with errFSM instead of an index
	cmdFatal    = "fatal"     // calls Node.Fatal(errDisk) and stops applying
)

var (
	errFSM  = errors.New("testfsm: rejected command")
	errDisk = errors.New("testfsm: disk failure")
)

// testFSM is a raft.BatchingFSM that appends every command to memory and
// responds with the entry's raft index.
type testFSM struct {
	node atomic.Pointer[Node] // for Fatal; set once NewNode returned

	mu      sync.Mutex // guards entries and failed
	entries []string   // applied commands, in log order
	failed  bool       // Fatal was called; refuse everything after it
}

var _ raft.BatchingFSM = (*testFSM)(nil)

func (f *testFSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

func (f *testFSM) ApplyBatch(logs []*raft.Log) []any {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]any, len(logs))
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		if f.failed {
			out[i] = errDisk
			continue
		}
		switch string(l.Data) {
		case cmdFSMError:
			out[i] = errFSM
		case cmdFatal:
			f.failed = true
			f.node.Load().Fatal(errDisk)
			out[i] = errDisk
		default:
			f.entries = append(f.entries, string(l.Data))
			out[i] = l.Index
		}
	}
	return out
}

// Entries returns a copy of the applied commands.
func (f *testFSM) Entries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.entries)
}

func (f *testFSM) Snapshot() (raft.FSMSnapshot, error) {
	return testSnapshot(f.Entries()), nil
}

func (f *testFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var entries []string
	if err := json.NewDecoder(rc).Decode(&entries); err != nil {
		return err
	}
	f.mu.Lock()
	f.entries = entries
	f.mu.Unlock()
	return nil
}

type testSnapshot []string

func (s testSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode([]string(s)); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s testSnapshot) Release() {}

// testWait bounds every wait for a condition. It is generous so that a slow
// machine under -race does not fail; passing runs take milliseconds.
const testWait = 30 * time.Second

// testNode is a running Node with its testFSM.
type testNode struct {
	*Node
	fsm *testFSM
}

func testConfig(t *testing.T, id string, bootstrap bool) NodeConfig {
	return NodeConfig{ID: id, RaftAddr: "127.0.0.1:0", DataDir: t.TempDir(), Bootstrap: bootstrap}.FastTimeouts()
}

// startNode starts a node with a fresh testFSM and closes it at cleanup.
func startNode(t *testing.T, cfg NodeConfig) *testNode {
	t.Helper()
	fsm := &testFSM{}
	n, err := NewNode(cfg, fsm, nil)
	if err != nil {
		t.Fatalf("NewNode(%s): %v", cfg.ID, err)
	}
	fsm.node.Store(n)
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close(%s): %v", cfg.ID, err)
		}
	})
	return &testNode{Node: n, fsm: fsm}
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testWait)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or testWait passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// waitClosed fails the test unless ch is closed within testWait.
func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testWait):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// waitReadyLeader waits until this node is the ready leader.
func waitReadyLeader(t *testing.T, n *testNode) {
	t.Helper()
	id, _, err := n.WaitLeader(waitCtx(t))
	if err != nil || id != n.ID() || !n.IsReady() {
		t.Fatalf("WaitLeader on %s = %q, %v; want itself, ready", n.ID(), id, err)
	}
}

// readyLeader waits until one of nodes is the ready leader and returns it.
func readyLeader(t *testing.T, nodes []*testNode) *testNode {
	t.Helper()
	var leader *testNode
	waitFor(t, "a ready leader", func() bool {
		for _, n := range nodes {
			if n.IsReady() {
				leader = n
				return true
			}
		}
		return false
	})
	return leader
}

// onLeader runs op on the ready leader among nodes until it succeeds,
// retrying while leadership moves (a loaded machine can delay heartbeats
// past the lease). op must be safe to repeat. It returns the node on which
// op succeeded.
func onLeader(t *testing.T, nodes []*testNode, what string, op func(*testNode) error) *testNode {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for {
		leader := readyLeader(t, nodes)
		err := op(leader)
		if err == nil {
			return leader
		}
		retry := errors.Is(err, ErrNotLeader) || errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrTimeout)
		if !retry || time.Now().After(deadline) {
			t.Fatalf("%s on %s: %v", what, leader.ID(), err)
		}
	}
}

// applyAll applies cmd with AcksAll on the current leader, retrying after
// an unknown outcome; the FSMs may then hold cmd twice.
func applyAll(t *testing.T, nodes []*testNode, cmd string) {
	t.Helper()
	onLeader(t, nodes, "apply "+cmd, func(n *testNode) error {
		_, err := n.Apply(waitCtx(t), []byte(cmd), AcksAll)
		return err
	})
}

// startCluster bootstraps n1 and adds n2..n<size> as voters. mod, if not
// nil, adjusts every config.
func startCluster(t *testing.T, size int, mod func(*NodeConfig)) []*testNode {
	t.Helper()
	nodes := make([]*testNode, size)
	for i := range nodes {
		cfg := testConfig(t, fmt.Sprintf("n%d", i+1), i == 0)
		if mod != nil {
			mod(&cfg)
		}
		nodes[i] = startNode(t, cfg)
		if i == 0 {
			nudgeElection(nodes[0])
			waitReadyLeader(t, nodes[0])
			continue
		}
		n := nodes[i]
		onLeader(t, nodes[:i], "add "+n.ID(), func(l *testNode) error {
			return l.AddVoter(waitCtx(t), n.ID(), n.RaftAddr())
		})
	}
	for _, n := range nodes {
		if _, _, err := n.WaitLeader(waitCtx(t)); err != nil {
			t.Fatalf("WaitLeader on %s: %v", n.ID(), err)
		}
	}
	return nodes
}

// containsAll reports whether got holds every element of want.
func containsAll(got, want []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

// nudgeElection makes a bootstrapped node that has never heard from a
// leader start its election now rather than after its heartbeat timeout:
// raft re-checks the timeout at once when a reload shortens it. Raft only
// accepts that if the shorter timeout still is >= LeaderLeaseTimeout, so it
// is best effort; it only saves test time with slow timeouts.
func nudgeElection(n *testNode) {
	rc := n.raft.ReloadableConfig()
	rc.HeartbeatTimeout -= time.Millisecond
	_ = n.raft.ReloadConfig(rc)
}

func mustApply(t *testing.T, n *testNode, cmd string, acks Acks) any {
	t.Helper()
	resp, err := n.Apply(waitCtx(t), []byte(cmd), acks)
	if err != nil {
		t.Fatalf("Apply(%q, acks=%v) on %s: %v", cmd, acks, n.ID(), err)
	}
	return resp
}
