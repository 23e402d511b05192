package replication

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/minibroker/minibroker/internal/auth"
)

// TestPutUserReplaceDropsOtherMechanisms: a password set for one
// mechanism with Replace leaves no credential of the old password.
func TestPutUserReplaceDropsOtherMechanisms(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	old256, old512 := mustCred(t, auth.MechSCRAMSHA256, "old"), mustCred(t, auth.MechSCRAMSHA512, "old")
	if err := errOf(h.apply(CmdPutUser, &PutUserCmd{Name: "alice", Creds: []ScramCred{old256, old512}})); err != nil {
		t.Fatal(err)
	}
	yes := true
	if err := errOf(h.apply(CmdPutUser, &PutUserCmd{Name: "alice", Superuser: &yes})); err != nil {
		t.Fatal(err)
	}
	if err := errOf(h.apply(CmdPutUser, &PutUserCmd{Name: "alice", Creds: []ScramCred{mustCred(t, auth.MechSCRAMSHA256, "new")}, Replace: true})); err != nil {
		t.Fatal(err)
	}
	u, _ := h.f.User("alice")
	if _, ok := u.Cred(auth.MechSCRAMSHA512); ok {
		t.Errorf("after Replace with SHA-256 only, the old SCRAM-SHA-512 credential is still there")
	}
	if c, ok := u.Cred(auth.MechSCRAMSHA256); !ok || !auth.VerifyPassword(c, "new") {
		t.Errorf("the new SHA-256 credential is missing")
	}
	if !u.Superuser {
		t.Errorf("Replace without Superuser dropped the superuser flag")
	}
	// Replace needs a credential: it would leave the user without one.
	if err := errOf(h.apply(CmdPutUser, &PutUserCmd{Name: "alice", Superuser: &yes, Replace: true})); !errors.Is(err, ErrInvalidUser) {
		t.Errorf("Replace without credentials: %v, want ErrInvalidUser", err)
	}
}

// TestPutUserDeleteAndAddInOneCommand: a mechanism swap (Kafka's
// deletion + upsertion) keeps the user and its superuser flag.
func TestPutUserDeleteAndAddInOneCommand(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	yes := true
	c256, c512 := mustCred(t, auth.MechSCRAMSHA256, "pw"), mustCred(t, auth.MechSCRAMSHA512, "pw")
	if err := errOf(h.apply(CmdPutUser, &PutUserCmd{Name: "admin", Creds: []ScramCred{c256}, Superuser: &yes})); err != nil {
		t.Fatal(err)
	}
	if err := errOf(h.apply(CmdPutUser, &PutUserCmd{Name: "admin", Creds: []ScramCred{c512}, Delete: []string{auth.MechSCRAMSHA256}})); err != nil {
		t.Fatal(err)
	}
	u, ok := h.f.User("admin")
	if !ok || !u.Superuser || !slices.Equal(u.Mechanisms(), []string{auth.MechSCRAMSHA512}) {
		t.Fatalf("after the swap: %v %+v, want the superuser with SHA-512 only", ok, u)
	}
	for name, tc := range map[string]struct {
		c    PutUserCmd
		want error
	}{
		"delete missing mech": {PutUserCmd{Name: "admin", Delete: []string{auth.MechSCRAMSHA256}}, ErrUnknownUser},
		"delete on no user":   {PutUserCmd{Name: "nobody", Delete: []string{auth.MechSCRAMSHA256}}, ErrUnknownUser},
		"delete unknown mech": {PutUserCmd{Name: "admin", Delete: []string{"MD5"}}, ErrInvalidUser},
		"delete twice":        {PutUserCmd{Name: "admin", Delete: []string{auth.MechSCRAMSHA512, auth.MechSCRAMSHA512}}, ErrInvalidUser},
		"delete and put same": {PutUserCmd{Name: "admin", Creds: []ScramCred{c512}, Delete: []string{auth.MechSCRAMSHA512}}, ErrInvalidUser},
		"delete with replace": {PutUserCmd{Name: "admin", Creds: []ScramCred{c256}, Delete: []string{auth.MechSCRAMSHA512}, Replace: true}, ErrInvalidUser},
		"delete with create":  {PutUserCmd{Name: "zed", Creds: []ScramCred{c256}, Delete: []string{auth.MechSCRAMSHA512}, Create: true}, ErrInvalidUser},
	} {
		if err := errOf(h.apply(CmdPutUser, &tc.c)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	// Deleting the last credential deletes the user.
	if err := errOf(h.apply(CmdPutUser, &PutUserCmd{Name: "admin", Delete: []string{auth.MechSCRAMSHA512}})); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.f.User("admin"); ok {
		t.Fatal("a user without credentials is still there")
	}
}

// TestUserCopyDoesNotAliasState: a caller's write to the credential it
// got does not reach the replicated state.
func TestUserCopyDoesNotAliasState(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdPutUser, &PutUserCmd{Name: "alice", Creds: []ScramCred{mustCred(t, auth.MechSCRAMSHA256, "pw")}})
	u, _ := h.f.User("alice")
	want := slices.Clone(u.Creds[0].StoredKey)
	u.Creds[0].StoredKey[0] ^= 0xff
	u.Creds[0].Salt[0] ^= 0xff
	u.Creds[0].ServerKey[0] ^= 0xff
	v := h.f.Users()[0]
	if !slices.Equal(v.Creds[0].StoredKey, want) {
		t.Fatal("a caller's write to its copy changed the FSM's credential")
	}
	v.Creds[0].StoredKey[0] ^= 0xff
	if w, _ := h.f.User("alice"); !slices.Equal(w.Creds[0].StoredKey, want) {
		t.Fatal("a write to a Users copy changed the FSM's credential")
	}
}

// TestMaxUsers: Apply refuses a new user past MaxUsers, changes existing
// ones.
func TestMaxUsers(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	c := mustCred(t, auth.MechSCRAMSHA256, "pw")
	// Fill the state directly: MaxUsers Apply calls would be slow for nothing.
	h.f.mu.Lock()
	for i := 0; i < MaxUsers; i++ {
		h.f.meta.Users = append(h.f.meta.Users, &User{Name: fmt.Sprintf("u%05d", i), Creds: []ScramCred{c}})
	}
	h.f.mu.Unlock()
	if err := errOf(h.apply(CmdPutUser, &PutUserCmd{Name: "z", Creds: []ScramCred{c}})); !errors.Is(err, ErrTooManyUsers) {
		t.Fatalf("user %d: %v, want ErrTooManyUsers", MaxUsers+1, err)
	}
	if err := errOf(h.apply(CmdPutUser, &PutUserCmd{Name: "u00001", Creds: []ScramCred{c}})); err != nil {
		t.Fatalf("changing an existing user at the limit: %v", err)
	}
}
