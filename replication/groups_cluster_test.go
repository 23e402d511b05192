package replication

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// Consumer groups through Store on a 3-node cluster.

// do runs op on the ready leader until it succeeds, retrying while
// leadership moves. op must tolerate a repeat of an attempt whose outcome
// was unknown. It returns the store on which op succeeded.
func (c *storeCluster) do(what string, op func(*Store) error) *Store {
	c.t.Helper()
	for attempt := 0; ; attempt++ {
		s := c.stores[c.waitLeader()]
		err := op(s)
		if err == nil {
			return s
		}
		retry := errors.Is(err, ErrNotLeader) || errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrShutdown) || errors.Is(err, ErrTimeout)
		if !retry || attempt > 50 {
			c.t.Fatalf("%s on %s: %v", what, s.Node().ID(), err)
		}
	}
}

// syncGroup runs SyncGroup; after a retry of an attempt whose outcome was
// unknown, ErrIllegalGeneration with the group at the wanted generation
// means the first attempt was applied.
func (c *storeCluster) syncGroup(cmd SyncGroupCmd) {
	c.t.Helper()
	c.do("sync group", func(s *Store) error {
		err := s.SyncGroup(waitCtx(c.t), cmd)
		if g, _ := s.FSM().Group(cmd.Group); errors.Is(err, ErrIllegalGeneration) && g.Generation == cmd.Generation {
			return nil
		}
		return err
	})
}

// commit commits through the leader and returns the per-partition errors.
// A retried commit is harmless: committing the same offset is a no-op.
func (c *storeCluster) commit(cmd CommitOffsetsCmd) []error {
	c.t.Helper()
	var errs []error
	c.do("commit offsets", func(s *Store) error {
		var err error
		errs, err = s.CommitOffsets(waitCtx(c.t), cmd)
		return err
	})
	return errs
}

// waitGroupsEqual waits until every running node holds the groups and
// offsets of the leader.
func (c *storeCluster) waitGroupsEqual(groups ...string) {
	c.t.Helper()
	waitFor(c.t, "the same group state on every node", func() bool {
		ref := c.stores[c.waitLeader()].FSM()
		for _, s := range c.stores {
			if s == nil {
				continue
			}
			if !reflect.DeepEqual(s.FSM().Groups(), ref.Groups()) {
				return false
			}
			for _, g := range groups {
				if !reflect.DeepEqual(s.FSM().GroupOffsets(g), ref.GroupOffsets(g)) {
					return false
				}
			}
		}
		return true
	})
}

func TestClusterGroupStateSurvivesFailover(t *testing.T) {
	c := newStoreCluster(t, 3, nil)
	mustCreate(t, c.stores[c.waitLeader()], "t", 2, TopicConfig{})
	c.append("t", 0, "a", 10)
	c.append("t", 1, "b", 10)
	c.syncGroup(SyncGroupCmd{Group: "g", Generation: 1, Strategy: "range",
		Members: []GroupMember{member("b", tps("t", 1)), member("a", tps("t", 0))}})
	if errs := c.commit(CommitOffsetsCmd{Group: "g", MemberID: "a", Generation: 1, Offsets: []OffsetCommit{oc("t", 0, 7)}}); errs[0] != nil {
		t.Fatalf("commit: %v", errs[0])
	}
	if errs := c.commit(CommitOffsetsCmd{Group: "g", MemberID: "a", Generation: 1, Offsets: []OffsetCommit{oc("t", 0, 11)}}); !errors.Is(errs[0], ErrOffsetOutOfRange) {
		t.Fatalf("commit past the high-water mark: %v", errs[0])
	}

	// Kill the leader: the new one has the group and the offset.
	old := c.waitLeader()
	c.kill(old)
	var lead *Store
	c.do("verify leader", func(s *Store) error { lead = s; return s.VerifyLeader(waitCtx(t)) })
	g, ok := lead.FSM().Group("g")
	if !ok || g.Generation != 1 || len(g.Members) != 2 || g.Members[0].ID != "a" {
		t.Fatalf("group on the new leader: %+v %v", g, ok)
	}
	if co, ok := lead.FSM().CommittedOffset("g", "t", 0); !ok || co.Offset != 7 || co.Generation != 1 {
		t.Fatalf("offset on the new leader: %+v %v", co, ok)
	}

	// Fencing goes on under the new leader.
	if errs := c.commit(CommitOffsetsCmd{Group: "g", MemberID: "b", Generation: 1, Offsets: []OffsetCommit{oc("t", 1, 9)}}); errs[0] != nil {
		t.Fatalf("commit by b: %v", errs[0])
	}
	c.do("remove a", func(s *Store) error {
		return s.RemoveMembers(waitCtx(t), RemoveMembersCmd{Group: "g", Generation: 1, MemberIDs: []string{"a"}})
	})
	c.do("commit by a removed member", func(s *Store) error {
		_, err := s.CommitOffsets(waitCtx(t), CommitOffsetsCmd{Group: "g", MemberID: "a", Generation: 1, Offsets: []OffsetCommit{oc("t", 0, 8)}})
		if errors.Is(err, ErrUnknownMember) {
			return nil
		}
		return fmt.Errorf("got %v, want ErrUnknownMember", err)
	})

	// The killed node returns, leadership moves on, and every node agrees.
	c.start(old)
	c.waitGroupsEqual("g")
	prev := c.waitLeader()
	if err := c.stores[prev].Node().LeadershipTransfer(waitCtx(t)); err != nil && !errors.Is(err, ErrNotLeader) {
		t.Fatalf("leadership transfer: %v", err)
	}
	waitFor(t, "a new ready leader", func() bool {
		for i, s := range c.stores {
			if i != prev && s.Node().IsReady() {
				return true
			}
		}
		return false
	})
	c.do("verify leader", func(s *Store) error { lead = s; return s.VerifyLeader(waitCtx(t)) })
	g, _ = lead.FSM().Group("g")
	offs := lead.FSM().GroupOffsets("g")
	if len(g.Members) != 1 || g.Members[0].ID != "b" || len(offs) != 2 || offs[0].Offset != 7 || offs[1].Offset != 9 {
		t.Fatalf("after the transfer: group %+v, offsets %+v", g, offs)
	}
	c.waitGroupsEqual("g")
	c.verifyReplicas()
}

func TestClusterResetAndDeleteGroup(t *testing.T) {
	c := newStoreCluster(t, 3, nil)
	mustCreate(t, c.stores[c.waitLeader()], "t", 2, TopicConfig{})
	c.append("t", 0, "a", 4)
	c.append("t", 1, "b", 6)
	var got []PartitionOffset
	c.do("reset to latest", func(s *Store) error {
		var err error
		got, err = s.ResetOffsets(waitCtx(t), ResetOffsetsCmd{Group: "g", Topic: "t", Mode: ResetLatest})
		return err
	})
	if fmt.Sprint(got) != "[{t 0 4} {t 1 6}]" {
		t.Fatalf("reset: %v", got)
	}
	c.do("reset past the end", func(s *Store) error {
		_, err := s.ResetOffsets(waitCtx(t), ResetOffsetsCmd{Group: "g", Topic: "t", Mode: ResetToOffset, Offset: 7})
		if errors.Is(err, ErrOffsetOutOfRange) {
			return nil
		}
		return fmt.Errorf("got %v, want ErrOffsetOutOfRange", err)
	})
	c.waitGroupsEqual("g")
	c.do("delete group", func(s *Store) error {
		err := s.DeleteGroup(waitCtx(t), "g")
		if errors.Is(err, ErrUnknownGroup) && len(s.FSM().GroupNames()) == 0 {
			return nil // a retry after the first attempt was applied
		}
		return err
	})
	waitFor(t, "the group gone on every node", func() bool {
		for _, s := range c.stores {
			if len(s.FSM().GroupNames()) != 0 {
				return false
			}
		}
		return true
	})
	// Through c.do: a leader change under load is retried, and only the
	// wanted rejection counts as success.
	c.do("delete with a bad name", func(s *Store) error {
		if err := s.DeleteGroup(waitCtx(t), "bad name"); !errors.Is(err, ErrInvalidGroup) {
			return fmt.Errorf("got %w, want ErrInvalidGroup", err)
		}
		return nil
	})
	twice := SyncGroupCmd{Group: "g", Generation: 1, Members: []GroupMember{member("a", tps("t", 0)), member("b", tps("t", 0))}}
	c.do("sync with a partition assigned twice", func(s *Store) error {
		if err := s.SyncGroup(waitCtx(t), twice); !errors.Is(err, ErrBadCommand) {
			return fmt.Errorf("got %w, want ErrBadCommand", err)
		}
		return nil
	})
	c.verifyReplicas()
}

func TestVerifyLeader(t *testing.T) {
	c := newStoreCluster(t, 3, nil)
	c.do("verify leader", func(s *Store) error { return s.VerifyLeader(waitCtx(t)) })
	lead := c.waitLeader()
	for i, s := range c.stores {
		if i == lead {
			continue
		}
		err := s.VerifyLeader(waitCtx(t))
		var nle *NotLeaderError
		if !errors.Is(err, ErrNotLeader) || !errors.As(err, &nle) {
			t.Fatalf("VerifyLeader on follower %s: %v", s.Node().ID(), err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.stores[lead].VerifyLeader(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("VerifyLeader with a cancelled ctx: %v", err)
	}
	s := c.stores[lead]
	c.kill(lead)
	if err := s.VerifyLeader(waitCtx(t)); !errors.Is(err, ErrShutdown) {
		t.Fatalf("VerifyLeader after Close: %v", err)
	}
	c.verifyReplicas() // the two left
}
