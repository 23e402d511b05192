package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestSingleNodeAppliesWithEveryAcksLevel(t *testing.T) {
	n := startNode(t, testConfig(t, "solo", true))
	waitReadyLeader(t, n)
	if id, addr := n.Leader(); id != "solo" || addr != n.RaftAddr() || !n.IsLeader() {
		t.Fatalf("Leader() = %q, %q, IsLeader %v; want solo, %s, true", id, addr, n.IsLeader(), n.RaftAddr())
	}

	resp := mustApply(t, n, "all", AcksAll)
	idx, ok := resp.(uint64)
	if !ok || idx == 0 {
		t.Fatalf("AcksAll response = %#v; want the entry's raft index", resp)
	}
	if got := n.fsm.Entries(); !slices.Equal(got, []string{"all"}) {
		t.Fatalf("FSM after AcksAll = %q; want [all]", got)
	}
	if st := n.Stats(); st.State != "Leader" || st.Term == 0 || st.CommitIndex < idx || st.LastLogIndex < idx {
		t.Fatalf("Stats() = %+v; want Leader with indexes >= %d", st, idx)
	}
	// Raft's main loop records the applied index after the FSM goroutine
	// may already have resolved the future.
	waitFor(t, "AppliedIndex to catch up", func() bool { return n.Stats().AppliedIndex >= idx })
	if resp := mustApply(t, n, "leader", AcksLeader); resp != nil {
		t.Fatalf("AcksLeader response = %#v; want nil", resp)
	}
	if resp := mustApply(t, n, "none", AcksNone); resp != nil {
		t.Fatalf("AcksNone response = %#v; want nil", resp)
	}
	want := []string{"all", "leader", "none"}
	waitFor(t, "all entries applied", func() bool { return slices.Equal(n.fsm.Entries(), want) })

	if _, err := n.Apply(waitCtx(t), []byte(cmdFSMError), AcksAll); !errors.Is(err, errFSM) {
		t.Fatalf("Apply of a command the FSM rejects = %v; want %v", err, errFSM)
	}
	if _, err := n.Apply(waitCtx(t), []byte("x"), Acks(7)); err == nil {
		t.Fatal("Apply with an unknown acks level succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := n.Apply(ctx, []byte("x"), AcksAll); !errors.Is(err, context.Canceled) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("Apply with a cancelled ctx = %v; want context.Canceled, not handed over", err)
	}
}

func TestClusterReplicatesAndManagesMembership(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	var want []Server
	for _, n := range nodes {
		want = append(want, Server{ID: n.ID(), Addr: n.RaftAddr(), Voter: true})
	}
	for _, n := range nodes {
		waitFor(t, n.ID()+" knows all voters", func() bool {
			servers, err := n.Servers()
			return err == nil && slices.Equal(servers, want)
		})
	}
	onLeader(t, nodes, "re-add n2", func(l *testNode) error {
		before := l.raft.GetConfiguration().Index()
		if err := l.AddVoter(waitCtx(t), "n2", nodes[1].RaftAddr()); err != nil {
			return err
		}
		if after := l.raft.GetConfiguration().Index(); after != before {
			t.Fatalf("AddVoter of an existing voter changed the configuration: index %d -> %d", before, after)
		}
		return nil
	})

	var cmds []string
	for i := range 20 {
		cmds = append(cmds, fmt.Sprintf("e%02d", i))
		applyAll(t, nodes, cmds[i])
	}
	waitFor(t, "every FSM to hold the same entries", func() bool {
		first := nodes[0].fsm.Entries()
		for _, n := range nodes[1:] {
			if !slices.Equal(n.fsm.Entries(), first) {
				return false
			}
		}
		return containsAll(first, cmds)
	})

	onLeader(t, nodes, "remove n3", func(l *testNode) error { return l.RemoveServer(waitCtx(t), "n3") })
	leader := onLeader(t, nodes[:2], "remove n3 again", func(l *testNode) error { return l.RemoveServer(waitCtx(t), "n3") })
	if servers, _ := leader.Servers(); !slices.Equal(servers, want[:2]) {
		t.Fatalf("Servers() after removal = %+v; want %+v", servers, want[:2])
	}
	applyAll(t, nodes[:2], "after-removal")
	for _, n := range nodes[:2] {
		waitFor(t, n.ID()+" applies after the removal", func() bool { return slices.Contains(n.fsm.Entries(), "after-removal") })
	}
}

func TestApplyOnFollowerReturnsNotLeaderError(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	// Retried only if leadership moves while checking.
	waitFor(t, "followers to name the leader", func() bool {
		leader := readyLeader(t, nodes)
		for _, f := range nodes {
			if f == leader {
				continue
			}
			for _, acks := range []Acks{AcksNone, AcksLeader, AcksAll} {
				_, err := f.Apply(waitCtx(t), []byte("x"), acks)
				var nle *NotLeaderError
				if err == nil || errors.Is(err, ErrOutcomeUnknown) {
					return false // f became leader meanwhile
				}
				if !errors.Is(err, ErrNotLeader) || !errors.As(err, &nle) {
					t.Fatalf("Apply on follower %s = %v; want *NotLeaderError", f.ID(), err)
				}
				if nle.LeaderID != leader.ID() || nle.LeaderAddr != leader.RaftAddr() {
					return false
				}
			}
		}
		return true
	})
}

func TestLeaderLossElectsNewLeaderWithAckedEntries(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	var acked []string
	for i := range 10 {
		acked = append(acked, fmt.Sprintf("acked-%d", i))
		applyAll(t, nodes, acked[i])
	}
	old := readyLeader(t, nodes)
	var rest []*testNode
	var changed []<-chan struct{}
	for _, n := range nodes {
		if n != old {
			rest = append(rest, n)
			changed = append(changed, n.LeaderChanged())
		}
	}
	if err := old.Close(); err != nil {
		t.Fatalf("Close(leader): %v", err)
	}
	for i, ch := range changed {
		waitClosed(t, rest[i].ID()+"'s LeaderChanged", ch)
	}

	next := readyLeader(t, rest)
	// Ready means every earlier committed entry is applied: no waiting.
	if got := next.fsm.Entries(); !containsAll(got, acked) {
		t.Fatalf("new leader %s FSM = %q; want all of %q", next.ID(), got, acked)
	}
	waitFor(t, "both survivors to agree on a ready leader", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		id0, addr0, err0 := rest[0].WaitLeader(ctx)
		id1, addr1, err1 := rest[1].WaitLeader(ctx)
		return err0 == nil && err1 == nil && id0 == id1 && addr0 == addr1 && id0 != old.ID() &&
			(id0 == rest[0].ID() && addr0 == rest[0].RaftAddr() || id0 == rest[1].ID() && addr0 == rest[1].RaftAddr())
	})
	applyAll(t, rest, "after-failover")
}

func TestRestartKeepsRaftState(t *testing.T) {
	cfg := testConfig(t, "solo", true)
	first := startNode(t, cfg)
	waitReadyLeader(t, first)
	for _, c := range []string{"a", "b", "c"} {
		mustApply(t, first, c, AcksAll)
	}
	if err := first.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if err := first.Snapshot(); err != nil {
		t.Fatalf("Snapshot with nothing new: %v", err)
	}
	mustApply(t, first, "d", AcksAll)
	mustApply(t, first, "e", AcksAll)
	before := first.Stats()
	if before.LastSnapshotIndex == 0 {
		t.Fatalf("Stats after Snapshot = %+v; want a snapshot index", before)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.RaftAddr = first.RaftAddr() // same port as before
	second := startNode(t, cfg)     // Bootstrap is still set: harmless
	if second.RaftAddr() != first.RaftAddr() {
		t.Fatalf("restarted node advertises %s; want %s", second.RaftAddr(), first.RaftAddr())
	}
	waitReadyLeader(t, second)
	after := second.Stats()
	if after.LastSnapshotIndex != before.LastSnapshotIndex || after.LastLogIndex <= before.LastLogIndex || after.Term <= before.Term {
		t.Fatalf("Stats after restart = %+v; before = %+v", after, before)
	}
	// NoSnapshotRestoreOnStart: the snapshot is not restored into the
	// (empty) FSM; only the entries after it are applied again.
	if got := second.fsm.Entries(); !slices.Equal(got, []string{"d", "e"}) {
		t.Fatalf("FSM after restart = %q; want [d e]", got)
	}
	mustApply(t, second, "f", AcksAll)
}

func TestAcksLeaderReturnsBeforeCommit(t *testing.T) {
	// A leader without a quorum keeps leading until its lease runs out; a
	// 1s lease leaves ample time for the two applies below. (The extra
	// millisecond lets nudgeElection start the first election at once.)
	nodes := startCluster(t, 3, func(c *NodeConfig) {
		c.HeartbeatTimeout = time.Second + time.Millisecond
		c.ElectionTimeout = time.Second + time.Millisecond
		c.LeaderLeaseTimeout = time.Second
	})
	leader := readyLeader(t, nodes)
	for _, f := range nodes {
		if f == leader {
			continue
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := leader.Apply(waitCtx(t), []byte("one"), AcksLeader); err != nil {
		t.Fatalf("AcksLeader without a quorum: %v", err)
	}
	// Raft records the new last index just after the write that acked.
	waitFor(t, "the acked entry in the log but not committed", func() bool {
		st := leader.Stats()
		return st.LastLogIndex > st.CommitIndex
	})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := leader.Apply(ctx, []byte("all"), AcksAll)
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("AcksAll without a quorum = %v; want ErrOutcomeUnknown after the deadline", err)
	}
	if got := leader.fsm.Entries(); len(got) != 0 {
		t.Fatalf("FSM applied %q without a quorum", got)
	}
}

func TestAcksLeaderReportsLogStoreFailure(t *testing.T) {
	n := startNode(t, testConfig(t, "solo", true))
	waitReadyLeader(t, n)
	fault := func(logs []*raft.Log) error {
		for _, l := range logs {
			if string(l.Data) == "boom" {
				return errDisk
			}
		}
		return nil
	}
	n.store.fault.Store(&fault)
	if _, err := n.Apply(waitCtx(t), []byte("boom"), AcksLeader); !errors.Is(err, errDisk) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("AcksLeader with a failing log store = %v; want %v", err, errDisk)
	}
	// Raft steps down after a failed write; the single node wins again.
	applyAll(t, []*testNode{n}, "ok")
	if got := n.fsm.Entries(); !slices.Equal(got, []string{"ok"}) {
		t.Fatalf("FSM = %q; want [ok]", got)
	}
}

func TestFatalInsideFSMStopsNode(t *testing.T) {
	n := startNode(t, testConfig(t, "solo", true))
	waitReadyLeader(t, n)
	mustApply(t, n, "before", AcksAll)
	changed := n.LeaderChanged()
	if _, err := n.Apply(waitCtx(t), []byte(cmdFatal), AcksAll); err == nil {
		t.Fatal("Apply of the fatal command succeeded")
	}
	waitClosed(t, "Done after Fatal", n.Done())
	waitClosed(t, "LeaderChanged after Fatal", changed)
	if err := n.Err(); !errors.Is(err, errDisk) {
		t.Fatalf("Err() = %v; want %v", err, errDisk)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close after Fatal: %v", err)
	}
	if _, err := n.Apply(waitCtx(t), []byte("after"), AcksAll); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Apply after Fatal = %v; want ErrShutdown", err)
	}
	if n.IsReady() || n.IsLeader() {
		t.Fatal("stopped node reports leadership")
	}
}

func TestCloseIsIdempotentAndConcurrent(t *testing.T) {
	n := startNode(t, testConfig(t, "solo", true))
	waitReadyLeader(t, n)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := n.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	wg.Wait()
	waitClosed(t, "Done", n.Done())
	for _, acks := range []Acks{AcksNone, AcksLeader, AcksAll} {
		if _, err := n.Apply(waitCtx(t), []byte("x"), acks); !errors.Is(err, ErrShutdown) {
			t.Fatalf("Apply(acks=%v) after Close = %v; want ErrShutdown", acks, err)
		}
	}
	if _, _, err := n.WaitLeader(waitCtx(t)); !errors.Is(err, ErrShutdown) {
		t.Fatalf("WaitLeader after Close = %v; want ErrShutdown", err)
	}
	if err := n.Snapshot(); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Snapshot after Close = %v; want ErrShutdown", err)
	}
	if _, err := n.Servers(); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Servers after Close = %v; want ErrShutdown", err)
	}
}

func TestLeadershipTransferMovesLeadership(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	// A transfer gives up when the target has not won within
	// ElectionTimeout, which a loaded machine can exceed: retry then.
	var old *testNode
	deadline := time.Now().Add(testWait)
	for {
		old = readyLeader(t, nodes)
		err := old.LeadershipTransfer(waitCtx(t))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("LeadershipTransfer on %s: %v", old.ID(), err)
		}
	}
	waitFor(t, "another node to lead", func() bool {
		for _, n := range nodes {
			if n != old && n.IsReady() {
				return true
			}
		}
		return false
	})
	if old.IsLeader() {
		return // leadership came back meanwhile; nothing more to check
	}
	if err := old.LeadershipTransfer(waitCtx(t)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("LeadershipTransfer on a follower = %v; want ErrNotLeader", err)
	}
}

func TestNodeWithoutClusterHasNoLeader(t *testing.T) {
	n := startNode(t, testConfig(t, "lonely", false))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := n.WaitLeader(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitLeader without a cluster = %v; want DeadlineExceeded", err)
	}
	_, err := n.Apply(waitCtx(t), []byte("x"), AcksAll)
	var nle *NotLeaderError
	if !errors.As(err, &nle) || nle.LeaderID != "" || nle.LeaderAddr != "" {
		t.Fatalf("Apply without a cluster = %v; want *NotLeaderError with no leader", err)
	}
	if err := n.AddVoter(waitCtx(t), "n9", "127.0.0.1:1"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("AddVoter on a non-leader = %v; want ErrNotLeader", err)
	}
	if err := n.RemoveServer(waitCtx(t), "n9"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("RemoveServer on a non-leader = %v; want ErrNotLeader", err)
	}
}

func TestPendingFuture(t *testing.T) {
	n := startNode(t, testConfig(t, "solo", true))
	waitReadyLeader(t, n)
	f := n.raft.ApplyLog(raft.Log{Data: []byte("x")}, 0)
	if !pending(f) {
		t.Fatal("an accepted entry's future is not pending")
	}
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	// After shutdown raft refuses requests with its errorFuture, except
	// that ApplyLog may still queue into its dead buffer (hashicorp/raft
	// selects randomly), which is why Apply checks for shutdown first.
	// AddVoter's channel is unbuffered, so its refusal is deterministic.
	f2 := n.raft.AddVoter("x", "127.0.0.1:1", 0, 0)
	if pending(f2) || !errors.Is(f2.Error(), raft.ErrRaftShutdown) {
		t.Fatal("a refused request's future is pending")
	}
}

func TestNodeConfigValidate(t *testing.T) {
	good := NodeConfig{ID: "n1", RaftAddr: "127.0.0.1:0", DataDir: t.TempDir()}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", good, err)
	}
	if err := good.FastTimeouts().Validate(); err != nil {
		t.Fatalf("FastTimeouts().Validate() = %v", err)
	}
	cases := map[string]func(*NodeConfig){
		"ID":                 func(c *NodeConfig) { c.ID = "" },
		"DataDir":            func(c *NodeConfig) { c.DataDir = "" },
		"RaftAddr":           func(c *NodeConfig) { c.RaftAddr = "localhost" },
		"RaftAddr port":      func(c *NodeConfig) { c.RaftAddr = "127.0.0.1:99999" },
		"RaftAdvertise":      func(c *NodeConfig) { c.RaftAddr = "0.0.0.0:7000" },
		"RaftAdvertise port": func(c *NodeConfig) { c.RaftAdvertise = "10.0.0.1:0" },
		"HeartbeatTimeout":   func(c *NodeConfig) { c.HeartbeatTimeout = time.Millisecond },
		"ElectionTimeout":    func(c *NodeConfig) { c.ElectionTimeout = 100 * time.Millisecond },
		"LeaderLeaseTimeout": func(c *NodeConfig) { c.LeaderLeaseTimeout = 2 * time.Second },
		"CommitTimeout":      func(c *NodeConfig) { c.CommitTimeout = -time.Second },
		"SnapshotInterval":   func(c *NodeConfig) { c.SnapshotInterval = time.Millisecond },
		"MaxAppendEntries":   func(c *NodeConfig) { c.MaxAppendEntries = 2000 },
	}
	for name, mod := range cases {
		cfg := good
		mod(&cfg)
		err := cfg.Validate()
		var ce *ConfigError
		if !errors.Is(err, ErrInvalidConfig) || !errors.As(err, &ce) {
			t.Errorf("%s: Validate = %v; want a *ConfigError", name, err)
			continue
		}
		if _, err := NewNode(cfg, &testFSM{}, nil); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: NewNode = %v; want ErrInvalidConfig", name, err)
		}
	}
	if _, err := NewNode(good, nil, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewNode with a nil FSM = %v; want ErrInvalidConfig", err)
	}
}
