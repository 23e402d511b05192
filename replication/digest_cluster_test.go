package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// verifyReplicas ends a cluster test: it waits (testWait at most) until
// every running node gives the same digest at one Raft index, proposing a
// new digest entry on whichever node leads after a transient failure (a
// leader change, a node that replayed the entry). It returns that digest.
func (c *storeCluster) verifyReplicas() Digest {
	c.t.Helper()
	deadline := time.Now().Add(testWait)
	var last string
	for {
		d, err := c.digestRound()
		if err == nil {
			return d
		}
		last = err.Error()
		if time.Now().After(deadline) {
			c.t.Fatalf("replicas never agreed: %s", last)
		}
	}
}

// digestRound proposes one digest and compares every running node's.
func (c *storeCluster) digestRound() (Digest, error) {
	lead := c.stores[c.waitLeader()]
	ctx, cancel := context.WithTimeout(c.t.Context(), 5*time.Second)
	defer cancel()
	n, err := lead.ProposeDigest(ctx)
	if err != nil {
		return Digest{}, fmt.Errorf("propose on %s: %w", lead.Node().ID(), err)
	}
	ref, err := lead.DigestAt(ctx, n)
	if err != nil {
		return Digest{}, fmt.Errorf("digest of %s at %d: %w", lead.Node().ID(), n, err)
	}
	for _, s := range c.stores {
		if s == nil || s == lead {
			continue
		}
		d, err := s.DigestAt(ctx, n)
		if err != nil {
			return Digest{}, fmt.Errorf("digest of %s at %d: %w", s.Node().ID(), n, err)
		}
		if diff := ref.Diff(d); len(diff) > 0 {
			return Digest{}, fmt.Errorf("%s differs from leader %s at %d in %s", s.Node().ID(), lead.Node().ID(), n, strings.Join(diff, ", "))
		}
	}
	return ref, nil
}

func TestDigestAtOneIndexOnEveryReplica(t *testing.T) {
	c := newStoreCluster(t, 3, nil)
	lead := c.stores[c.waitLeader()]
	mustCreate(t, lead, "t", 2, TopicConfig{})
	for i := 0; i < 10; i++ {
		c.append("t", int32(i%2), fmt.Sprint(i), 3)
	}
	d := c.verifyReplicas()
	if len(d.Partitions) != 2 || d.Partitions[0].NextOffset+d.Partitions[1].NextOffset < 30 {
		t.Fatalf("digest %+v", d)
	}

	// Writes going on while replicas are compared do not matter: each
	// digest is taken at the DigestCmd's index.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for _, s := range c.stores {
				if s.Node().IsReady() {
					appendTo(t.Context(), t, s, "t", int32(i%2), "bg", 1)
				}
			}
		}
	}()
	for i := 0; i < 3; i++ {
		c.verifyReplicas()
	}
	close(stop)
	<-done

	// A digest index that is no digest entry, and one not applied yet.
	lead = c.stores[c.waitLeader()]
	if _, err := lead.DigestAt(waitCtx(t), 1); !errors.Is(err, ErrDigestUnavailable) {
		t.Fatalf("DigestAt(1): %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := lead.DigestAt(ctx, 1<<40); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DigestAt(future): %v", err)
	}
}

// TestDigestReplayedAfterRestartIsUnavailable restarts a node: raft replays
// the digest entry, and the node says it cannot vouch for that index
// instead of giving a digest of later state.
func TestDigestReplayedAfterRestartIsUnavailable(t *testing.T) {
	c := newStoreCluster(t, 3, nil)
	lead := c.waitLeader()
	mustCreate(t, c.stores[lead], "t", 1, TopicConfig{})
	c.append("t", 0, "a", 5)
	n, err := c.stores[lead].ProposeDigest(waitCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	c.append("t", 0, "b", 5) // later state the replayed node already holds
	f := (lead + 1) % 3
	if _, err := c.stores[f].DigestAt(waitCtx(t), n); err != nil {
		t.Fatal(err)
	}
	c.waitSame(lead, "t", 1)
	c.kill(f)
	s := c.start(f)
	if _, err := s.DigestAt(waitCtx(t), n); !errors.Is(err, ErrDigestUnavailable) {
		t.Fatalf("DigestAt(%d) after a restart: %v", n, err)
	}
	c.verifyReplicas()
}

// TestDigestFindsDivergentReplica changes one replica's data behind the
// FSM's back; the digests at one index name that partition.
func TestDigestFindsDivergentReplica(t *testing.T) {
	c := newStoreCluster(t, 3, nil)
	lead := c.waitLeader()
	mustCreate(t, c.stores[lead], "t", 2, TopicConfig{})
	c.append("t", 0, "a", 5)
	c.append("t", 1, "b", 5)
	c.verifyReplicas()
	f := (lead + 1) % 3
	// Append a batch to one follower's partition log directly: the same
	// shape as a replicated one, on this replica only.
	fsm := c.stores[f].FSM()
	p, err := fsm.partition("t", 1)
	if err != nil {
		t.Fatal(err)
	}
	b := batchOf(t, "rogue", 1)
	fsm.applyMu.Lock()
	_, err = p.log.Append(b)
	fsm.applyMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	id := c.cfgs[f].Node.ID
	for {
		_, err = c.digestRound()
		if err == nil {
			t.Fatal("replicas agree although one was changed")
		}
		if strings.Contains(err.Error(), "differs") {
			break // not a transient failure (a leader change)
		}
	}
	if !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), "in t/1") || strings.Contains(err.Error(), "t/0") {
		t.Fatalf("digest round with a divergent t/1 on %s: %v", id, err)
	}
}

// TestApplyDigestChangesNothing: a DigestCmd answers with its index, takes
// the digest of the state there, and the state does not change, whatever
// its body; replaying it after a reopen with later state leaves it
// unavailable.
func TestApplyDigestChangesNothing(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1})
	h.append("t", 0, "a", 3)
	before, err := h.f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if r := h.apply(CmdDigest, &DigestCmd{}); r != h.index {
		t.Fatalf("response %v, want index %d", r, h.index)
	}
	n := h.index
	h.index++
	if r := h.f.Apply(rawLog(h.index, []byte{byte(CmdDigest), 0xc1, 0xff})); r != h.index {
		t.Fatalf("response to a garbage body: %v", r)
	}
	after, err := h.f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if diff := before.Diff(after); len(diff) != 1 || diff[0] != "index" {
		t.Fatalf("a digest entry changed the state: %v", diff)
	}
	got, err := h.f.digestAt(waitCtx(t), n, nil)
	if err != nil {
		t.Fatal(err)
	}
	before.Index = n
	if diff := before.Diff(got); len(diff) != 0 {
		t.Fatalf("digest at %d differs from the state there: %v", n, diff)
	}
	if uint8(CmdDigest) != 13 || CmdDigest.String() != "Digest" {
		t.Fatalf("CmdDigest is %d %v; command numbers are pinned", uint8(CmdDigest), CmdDigest)
	}

	// Reopen with the partition holding a batch from after n, and replay
	// up to the digest entry at n: unavailable, not a wrong digest.
	h.append("t", 0, "b", 1)
	h.f.Close()
	f, err := NewFSM(FSMConfig{Dir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if h.entries[2].Index != n {
		t.Fatalf("entry 2 is at %d, want the digest's %d", h.entries[2].Index, n)
	}
	f.ApplyBatch(h.entries[:3])
	if _, err := f.digestAt(waitCtx(t), n, nil); !errors.Is(err, ErrDigestUnavailable) {
		t.Fatalf("replayed digest: %v", err)
	}
}
