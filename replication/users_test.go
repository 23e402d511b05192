package replication

import (
	"errors"
	"testing"

	"github.com/minibroker/minibroker/internal/auth"
)

func TestUserCommandNumbers(t *testing.T) {
	// Persisted forever, and shared with other branches' designs.
	if CmdPutUser != 16 || CmdDeleteUser != 17 {
		t.Fatalf("CmdPutUser %d CmdDeleteUser %d, want 16 and 17", CmdPutUser, CmdDeleteUser)
	}
}

func mustCred(t *testing.T, mech, pw string) ScramCred {
	t.Helper()
	c, err := auth.NewCred(mech, pw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func errOf(r any) error {
	err, _ := r.(error)
	return err
}

func TestFSMUsers(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	yes, no := true, false
	c256, c512 := mustCred(t, auth.MechSCRAMSHA256, "pw"), mustCred(t, auth.MechSCRAMSHA512, "pw")
	if err := errOf(h.apply(CmdPutUser, &PutUserCmd{Name: "bob", Creds: []ScramCred{c512}})); err != nil {
		t.Fatal(err)
	}
	if err := errOf(h.apply(CmdPutUser, &PutUserCmd{Name: "alice", Creds: []ScramCred{c512, c256}, Superuser: &yes, Create: true})); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		ct   CommandType
		body any
		want error
	}{
		"exists":           {CmdPutUser, &PutUserCmd{Name: "alice", Creds: []ScramCred{c256}, Create: true}, ErrUserExists},
		"new without cred": {CmdPutUser, &PutUserCmd{Name: "carol", Superuser: &yes}, ErrInvalidUser},
		"bad name":         {CmdPutUser, &PutUserCmd{Name: "", Creds: []ScramCred{c256}}, ErrInvalidUser},
		"short key":        {CmdPutUser, &PutUserCmd{Name: "x", Creds: []ScramCred{{Mechanism: auth.MechSCRAMSHA256, Iterations: 4096, Salt: []byte{1}, StoredKey: []byte{1}, ServerKey: []byte{1}}}}, ErrInvalidUser},
		"few iterations":   {CmdPutUser, &PutUserCmd{Name: "x", Creds: []ScramCred{func() ScramCred { c := c256; c.Iterations = 1; return c }()}}, ErrInvalidUser},
		"two of a kind":    {CmdPutUser, &PutUserCmd{Name: "x", Creds: []ScramCred{c256, c256}}, ErrInvalidUser},
		"unknown user":     {CmdDeleteUser, &DeleteUserCmd{Name: "nobody"}, ErrUnknownUser},
		"unknown mech":     {CmdDeleteUser, &DeleteUserCmd{Name: "bob", Mechanism: auth.MechSCRAMSHA256}, ErrUnknownUser},
		"bad mech":         {CmdDeleteUser, &DeleteUserCmd{Name: "bob", Mechanism: "MD5"}, ErrInvalidUser},
		"garbage":          {CmdPutUser, "not a command", ErrBadCommand},
	} {
		if err := errOf(h.apply(tc.ct, tc.body)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	us := h.f.Users()
	if len(us) != 2 || us[0].Name != "alice" || us[1].Name != "bob" || !us[0].Superuser || us[1].Superuser {
		t.Fatalf("users %+v", us)
	}
	if m := us[0].Mechanisms(); len(m) != 2 || m[0] != auth.MechSCRAMSHA256 {
		t.Fatalf("alice's mechanisms %v", m)
	}
	// Upsert: change the flag only, then one mechanism.
	h.apply(CmdPutUser, &PutUserCmd{Name: "alice", Superuser: &no})
	other := mustCred(t, auth.MechSCRAMSHA256, "new")
	h.apply(CmdPutUser, &PutUserCmd{Name: "alice", Creds: []ScramCred{other}})
	a, _ := h.f.User("alice")
	if a.Superuser || len(a.Creds) != 2 {
		t.Fatalf("alice %+v", a)
	}
	if c, _ := a.Cred(auth.MechSCRAMSHA256); !auth.VerifyPassword(c, "new") {
		t.Fatal("SHA-256 credential not replaced")
	}
	if c, _ := a.Cred(auth.MechSCRAMSHA512); !auth.VerifyPassword(c, "pw") {
		t.Fatal("SHA-512 credential lost")
	}
	// Deleting bob's last mechanism deletes bob.
	if err := errOf(h.apply(CmdDeleteUser, &DeleteUserCmd{Name: "bob", Mechanism: auth.MechSCRAMSHA512})); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.f.User("bob"); ok {
		t.Fatal("bob without credentials kept")
	}
	h.apply(CmdPutUser, &PutUserCmd{Name: "dave", Creds: []ScramCred{c256}})

	// A snapshot restored elsewhere, and the log replayed from scratch,
	// reach the same state: same digest, same users.
	want, err := h.f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	g := restoredCopy(t, h.f)
	got, err := g.f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got.Meta != want.Meta {
		t.Fatal("restored digest differs")
	}
	if us := g.f.Users(); len(us) != 2 || us[0].Name != "alice" || us[1].Name != "dave" {
		t.Fatalf("restored users %+v", us)
	}
	r := newHarness(t, FSMConfig{})
	r.index = h.index
	for _, l := range h.entries {
		r.f.Apply(l)
	}
	if d, _ := r.f.Digest(); d.Meta != want.Meta {
		t.Fatal("replayed digest differs")
	}
	// Negative control: the digest does see users.
	r.apply(CmdDeleteUser, &DeleteUserCmd{Name: "dave"})
	if d, _ := r.f.Digest(); d.Meta == want.Meta {
		t.Fatal("digest unchanged by deleting a user: users are not in it")
	}
}
