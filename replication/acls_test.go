package replication

import (
	"errors"
	"slices"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/minibroker/minibroker/internal/auth"
)

func topicACL(principal, name string, op auth.Operation, perm auth.Permission) auth.ACL {
	return auth.ACL{Principal: principal, Host: "*", Resource: auth.ResourceTopic, Pattern: auth.PatternLiteral,
		Name: name, Operation: op, Permission: perm}
}

func TestFSMACLsApply(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	a := topicACL("User:alice", "orders", auth.OpRead, auth.PermissionAllow)
	b := topicACL("User:bob", "orders", auth.OpWrite, auth.PermissionAllow)
	c := topicACL("User:*", "a", auth.OpAll, auth.PermissionDeny)
	if r := h.apply(CmdCreateACLs, &CreateACLsCmd{ACLs: []auth.ACL{b, a, b}}); r != nil {
		t.Fatalf("create: %v", r)
	}
	if r := h.apply(CmdCreateACLs, &CreateACLsCmd{ACLs: []auth.ACL{c, a}}); r != nil {
		t.Fatalf("create again: %v", r)
	}
	want := []auth.ACL{c, a, b} // sorted by name, then principal; unique
	if got := h.f.ACLs(); !slices.Equal(got, want) {
		t.Fatalf("ACLs %+v, want %+v", got, want)
	}
	if !h.f.Authorize(auth.Principal{User: "alice"}, auth.OpRead, auth.ResourceTopic, "orders") ||
		h.f.Authorize(auth.Principal{User: "alice"}, auth.OpWrite, auth.ResourceTopic, "orders") {
		t.Fatal("Authorize does not follow the applied ACLs")
	}

	// One invalid ACL rejects the whole command.
	bad := a
	bad.Host = "10.1.1.1"
	d := topicACL("User:dan", "x", auth.OpRead, auth.PermissionAllow)
	if r := h.apply(CmdCreateACLs, &CreateACLsCmd{ACLs: []auth.ACL{d, bad}}); !errors.Is(r.(error), ErrInvalidACL) {
		t.Fatalf("invalid create: %v, want ErrInvalidACL", r)
	}
	if got := h.f.ACLs(); !slices.Equal(got, want) {
		t.Fatalf("a rejected create changed the ACLs: %+v", got)
	}

	// Delete removes exactly what it names, and answers with it.
	r := h.apply(CmdDeleteACLs, &DeleteACLsCmd{ACLs: []auth.ACL{a, d}})
	if got, _ := r.([]auth.ACL); !slices.Equal(got, []auth.ACL{a}) {
		t.Fatalf("delete answered %v, want [a]", r)
	}
	if got := h.f.ACLs(); !slices.Equal(got, []auth.ACL{c, b}) {
		t.Fatalf("after delete %+v", got)
	}
	if h.f.Authorize(auth.Principal{User: "alice"}, auth.OpRead, auth.ResourceTopic, "orders") {
		t.Fatal("a deleted allow still grants")
	}

	// Garbage is rejected alike, never a panic.
	h.index++
	if r := h.f.Apply(&raft.Log{Index: h.index, Type: raft.LogCommand, Data: []byte{byte(CmdCreateACLs), 0xc1}}); !errors.Is(r.(error), ErrBadCommand) {
		t.Fatalf("garbage: %v", r)
	}
}

// TestACLsInSnapshotReplayAndDigest: ACLs survive a snapshot restore on
// another FSM and a replay after a restart, and count in the digest.
func TestACLsInSnapshotReplayAndDigest(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	a := topicACL("User:alice", "orders", auth.OpRead, auth.PermissionAllow)
	b := topicACL("User:bob", "orders", auth.OpWrite, auth.PermissionDeny)
	before, err := h.f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	h.apply(CmdCreateACLs, &CreateACLsCmd{ACLs: []auth.ACL{a, b}})
	h.apply(CmdDeleteACLs, &DeleteACLsCmd{ACLs: []auth.ACL{b}})
	h.apply(CmdDigest, &DigestCmd{}) // the indexes of the digests to compare must match
	want, err := h.f.Digest()
	if err != nil {
		t.Fatal(err)
	}

	// The digest sees ACLs: the same entries without them differ.
	other := newHarness(t, FSMConfig{})
	other.apply(CmdDigest, &DigestCmd{})
	other.apply(CmdDigest, &DigestCmd{})
	other.apply(CmdDigest, &DigestCmd{})
	od, err := other.f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if od.Meta == want.Meta || before.Meta == want.Meta {
		t.Fatal("the digest's metadata does not include the ACLs")
	}

	// Restore on a fresh FSM.
	g := restoredCopy(t, h.f)
	if got := g.f.ACLs(); !slices.Equal(got, []auth.ACL{a}) {
		t.Fatalf("restored ACLs %+v", got)
	}
	gd, err := g.f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if gd.Meta != want.Meta {
		t.Fatal("restored digest differs")
	}

	// Replay after a restart, from the start.
	if err := h.f.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := NewFSM(FSMConfig{Dir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	for _, l := range h.entries {
		f.Apply(l)
	}
	if got := f.ACLs(); !slices.Equal(got, []auth.ACL{a}) {
		t.Fatalf("replayed ACLs %+v", got)
	}
	rd, err := f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if rd.Meta != want.Meta {
		t.Fatal("replayed digest differs")
	}
}

func TestStoreACLs(t *testing.T) {
	c := newStoreCluster(t, 1, nil)
	s := c.stores[c.waitLeader()]
	ctx := waitCtx(t)
	a := topicACL("User:alice", "orders", auth.OpRead, auth.PermissionAllow)
	b := topicACL("User:alice", "payments", auth.OpRead, auth.PermissionAllow)
	g := auth.ACL{Principal: "User:bob", Host: "*", Resource: auth.ResourceGroup, Pattern: auth.PatternPrefixed,
		Name: "app-", Operation: auth.OpRead, Permission: auth.PermissionAllow}
	if err := s.CreateACLs(ctx, []auth.ACL{a, b, g}); err != nil {
		t.Fatal(err)
	}
	bad := a
	bad.Operation = auth.OpClusterAction
	if err := s.CreateACLs(ctx, []auth.ACL{bad}); !errors.Is(err, ErrInvalidACL) {
		t.Fatalf("invalid: %v", err)
	}
	byAlice := auth.Filter{Principal: "User:alice", Resource: auth.ResourceAny, Pattern: auth.PatternAny,
		Operation: auth.OpAny, Permission: auth.PermissionAny}
	groups := auth.Filter{Resource: auth.ResourceGroup, Pattern: auth.PatternMatch, Name: "app-1",
		Operation: auth.OpAny, Permission: auth.PermissionAny}
	got, err := s.DeleteACLs(ctx, []auth.Filter{byAlice, groups, byAlice})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !slices.Equal(got[0], []auth.ACL{a, b}) || !slices.Equal(got[1], []auth.ACL{g}) || !slices.Equal(got[2], []auth.ACL{a, b}) {
		t.Fatalf("deleted %+v", got)
	}
	if acls := s.FSM().ACLs(); len(acls) != 0 {
		t.Fatalf("left %+v", acls)
	}
	if _, err := s.DeleteACLs(ctx, []auth.Filter{{}}); !errors.Is(err, ErrInvalidACL) {
		t.Fatalf("bad filter: %v", err)
	}
}

// FuzzApplyACLs: any body of an ACL command is applied or rejected
// (ErrBadCommand, ErrInvalidACL), never a panic, and leaves the list
// sorted, unique and valid.
func FuzzApplyACLs(f *testing.F) {
	good, _ := encodeCommand(CmdCreateACLs, &CreateACLsCmd{ACLs: []auth.ACL{topicACL("User:a", "t", auth.OpRead, auth.PermissionAllow)}})
	f.Add(false, good[1:])
	f.Add(true, good[1:])
	f.Add(false, []byte{0x81, 0xa1, 'a', 0x91, 0x80})
	f.Fuzz(func(t *testing.T, del bool, body []byte) {
		h := newHarness(t, FSMConfig{})
		h.apply(CmdCreateACLs, &CreateACLsCmd{ACLs: []auth.ACL{topicACL("User:b", "u", auth.OpWrite, auth.PermissionDeny)}})
		ct := CmdCreateACLs
		if del {
			ct = CmdDeleteACLs
		}
		h.index++
		r := h.f.Apply(&raft.Log{Index: h.index, Type: raft.LogCommand, Data: append([]byte{byte(ct)}, body...)})
		if err, ok := r.(error); ok && !errors.Is(err, ErrBadCommand) && !errors.Is(err, ErrInvalidACL) {
			t.Fatalf("error %v", err)
		}
		acls := h.f.ACLs()
		for i, a := range acls {
			if err := auth.ValidateACL(a); err != nil {
				t.Fatalf("stored invalid ACL: %v", err)
			}
			if i > 0 && auth.Compare(acls[i-1], a) >= 0 {
				t.Fatalf("not sorted and unique: %+v", acls)
			}
		}
	})
}
