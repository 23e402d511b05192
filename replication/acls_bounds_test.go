package replication

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/auth"
)

func manyACLs(n int) []auth.ACL {
	out := make([]auth.ACL, n)
	for i := range out {
		out[i] = topicACL("User:u"+fmt.Sprint(i%50), fmt.Sprintf("topic-%05d", i), auth.OpRead, auth.PermissionAllow)
	}
	return out
}

// TestDeleteACLsApplyIsLinear: one DeleteACLs naming MaxACLs ACLs is
// applied (under the FSM's write lock) in well under a second; the
// slices.Contains per ACL took 6 s under -race.
func TestDeleteACLsApplyIsLinear(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	all := manyACLs(MaxACLs)
	for i := 0; i < len(all); i += 1000 {
		if r := h.apply(CmdCreateACLs, &CreateACLsCmd{ACLs: all[i : i+1000]}); r != nil {
			t.Fatal(r)
		}
	}
	start := time.Now()
	r := h.apply(CmdDeleteACLs, &DeleteACLsCmd{ACLs: all})
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Apply of a DeleteACLs of %d ACLs took %v", len(all), d)
	}
	if removed, _ := r.([]auth.ACL); len(removed) != len(all) || len(h.f.ACLs()) != 0 {
		t.Fatalf("removed %d, left %d", len(removed), len(h.f.ACLs()))
	}
}

// TestRemovedPerFilterIsLinear: Store.DeleteACLs's per-filter result, for
// 10 filters that each select MaxACLs ACLs (the nested slices.Contains
// took 110 s under -race).
func TestRemovedPerFilterIsLinear(t *testing.T) {
	all := manyACLs(MaxACLs)
	matched := make([][]auth.ACL, 10)
	for i := range matched {
		matched[i] = all
	}
	start := time.Now()
	out := removedPerFilter(matched, all[:MaxACLs/2])
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("10 filters x %d ACLs took %v", len(all), d)
	}
	for i, o := range out {
		if len(o) != MaxACLs/2 || o[0] != all[0] {
			t.Fatalf("filter %d: %d removed", i, len(o))
		}
	}
}

// TestStoreACLBoundsBeforeRaft: too many ACLs or filters are refused with
// ErrInvalidACL before anything is proposed.
func TestStoreACLBoundsBeforeRaft(t *testing.T) {
	c := newStoreCluster(t, 1, nil)
	s := c.stores[c.waitLeader()]
	ctx := waitCtx(t)
	if err := s.CreateACLs(ctx, manyACLs(MaxACLs-1)); err != nil {
		t.Fatal(err)
	}
	before := s.FSM().AppliedIndex()
	if err := s.CreateACLs(ctx, manyACLs(MaxACLs+1)); !errors.Is(err, ErrInvalidACL) {
		t.Fatalf("create %d ACLs: %v, want ErrInvalidACL", MaxACLs+1, err)
	}
	more := []auth.ACL{topicACL("User:x", "a", auth.OpRead, auth.PermissionAllow), topicACL("User:x", "b", auth.OpRead, auth.PermissionAllow)}
	if err := s.CreateACLs(ctx, more); !errors.Is(err, ErrInvalidACL) {
		t.Fatalf("create past the limit: %v, want ErrInvalidACL", err)
	}
	filters := make([]auth.Filter, MaxACLFilters+1)
	for i := range filters {
		filters[i] = auth.Filter{Resource: auth.ResourceAny, Pattern: auth.PatternAny, Operation: auth.OpAny, Permission: auth.PermissionAny}
	}
	if _, err := s.DeleteACLs(ctx, filters); !errors.Is(err, ErrInvalidACL) {
		t.Fatalf("delete with %d filters: %v, want ErrInvalidACL", len(filters), err)
	}
	if after := s.FSM().AppliedIndex(); after != before {
		t.Fatalf("applied index %d -> %d: something was proposed", before, after)
	}
	// Existing ACLs do not count twice, and the last one fits.
	if err := s.CreateACLs(ctx, append(manyACLs(3), more[0])); err != nil {
		t.Fatalf("create up to the limit: %v", err)
	}
}

// TestRestoreSortsAndDedupesACLs: a snapshot whose ACL list is out of
// order or holds duplicates (damaged, or written by other code) restores
// to the state straight application reaches, digest included.
func TestRestoreSortsAndDedupesACLs(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	a := topicACL("User:alice", "orders", auth.OpRead, auth.PermissionAllow)
	b := topicACL("User:bob", "orders", auth.OpWrite, auth.PermissionDeny)
	h.apply(CmdCreateACLs, &CreateACLsCmd{ACLs: []auth.ACL{a, b}})
	want, err := h.f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	h.f.mu.Lock()
	h.f.meta.ACLs = []auth.ACL{b, a, b, a}
	h.f.mu.Unlock()
	g := restoredCopy(t, h.f)
	if got := g.f.ACLs(); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("restored ACLs %+v", got)
	}
	gd, err := g.f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if gd.Meta != want.Meta {
		t.Fatal("the restored state's digest differs from straight application's")
	}
}
