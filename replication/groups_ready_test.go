package replication

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	mlog "github.com/minibroker/minibroker/log"
)

// gateFS is the real filesystem, except that while it is closed MkdirAll
// blocks until it opens: an FSM applying a CreateTopic stalls, as a slow
// disk would make it. Safe for concurrent use.
type gateFS struct {
	mlog.OSFS
	mu   sync.Mutex    // guards gate
	gate chan struct{} // nil while open; closed to open
}

func (g *gateFS) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate == nil {
		g.gate = make(chan struct{})
	}
}

func (g *gateFS) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
}

// MkdirAll implements mlog.FS.
func (g *gateFS) MkdirAll(path string, perm os.FileMode) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return g.OSFS.MkdirAll(path, perm)
}

// TestCommitRightAfterFailoverWaitsForCatchUp: a follower whose FSM lags
// (stalled applying the CreateTopic of a topic that already has data)
// becomes leader. A valid commit sent to it at once must not be checked
// against its stale FSM (no topic yet: ErrUnknownTopic), but once it has
// applied everything committed before its term.
func TestCommitRightAfterFailoverWaitsForCatchUp(t *testing.T) {
	gates := make([]*gateFS, 3)
	i := 0
	c := newStoreCluster(t, 3, func(cfg *Config) {
		gates[i] = &gateFS{}
		cfg.LogFS = gates[i]
		i++
	})
	t.Cleanup(func() {
		for _, g := range gates {
			g.open()
		}
	})
	lead := c.waitLeader()
	slow := (lead + 1) % 3
	gates[slow].close()
	mustCreate(t, c.stores[lead], "t", 1, TopicConfig{})
	c.append("t", 0, "a", 10)
	lead = c.waitLeader()
	if lead == slow {
		t.Skip("the stalled node became leader on its own")
	}
	// The slow node's raft log has everything; its FSM does not.
	last := c.stores[lead].Node().raft.LastIndex()
	waitFor(t, "the slow node's raft log", func() bool { return c.stores[slow].Node().raft.LastIndex() >= last })
	if _, ok := c.stores[slow].FSM().Topic("t"); ok {
		t.Fatal("the slow node applied the topic")
	}
	f := c.stores[lead].Node().raft.LeadershipTransferToServer(raft.ServerID(c.cfgs[slow].Node.ID), raft.ServerAddress(c.stores[slow].Node().RaftAddr()))
	if err := f.Error(); err != nil {
		t.Fatalf("leadership transfer: %v", err)
	}
	s := c.stores[slow]
	waitFor(t, "the slow node leading", s.Node().IsLeader)

	type result struct {
		errs []error
		err  error
	}
	done := make(chan result, 1)
	before := s.Node().raft.LastIndex()
	go func() {
		errs, err := s.CommitOffsets(waitCtx(t), CommitOffsetsCmd{Group: "g", Generation: -1, Offsets: []OffsetCommit{{Topic: "t", Partition: 0, Offset: 7}}})
		done <- result{errs, err}
	}()
	// Let the stall last until the commit is proposed (the old behaviour)
	// or for a while: a slow disk, not a synchronization.
	deadline := time.Now().Add(300 * time.Millisecond)
	for s.Node().raft.LastIndex() <= before+1 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	gates[slow].open()
	r := <-done
	if errors.Is(r.err, ErrNotLeader) {
		t.Skip("leadership moved on meanwhile")
	}
	if r.err != nil || r.errs[0] != nil {
		t.Fatalf("commit on the new leader right after the failover: %v %v", r.err, r.errs)
	}
	c.waitCommitted("g", "t", 0, 7)
	c.verifyReplicas()
}
