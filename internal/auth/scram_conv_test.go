package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// serverFirst runs a client-first message for user through a new server
// conversation and returns the server-first message.
func serverFirst(t *testing.T, mech, user string, lookup CredLookup) (*ScramServer, *ScramClient, string) {
	t.Helper()
	srv, err := NewScramServer(mech, lookup)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := NewScramClient(mech, user, "pw")
	if err != nil {
		t.Fatal(err)
	}
	c1, _, err := cl.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	s1, _, err := srv.Step(c1)
	if err != nil {
		t.Fatalf("client-first of %s refused: %v (%s)", user, err, s1)
	}
	return srv, cl, string(s1)
}

// saltOf returns the s= and i= attributes of a server-first message.
func saltOf(s1 string) (salt, iters string) {
	for f := range strings.SplitSeq(s1, ",") {
		if v, ok := strings.CutPrefix(f, "s="); ok {
			salt = v
		}
		if v, ok := strings.CutPrefix(f, "i="); ok {
			iters = v
		}
	}
	return salt, iters
}

// An unknown user gets a server-first message like a known user's (a salt
// of the same length, stable per user, the default iterations) and the
// exchange fails only at the proof, as a wrong password does: the first
// answer does not tell who has an account.
func TestScramUnknownUserFailsAtTheProof(t *testing.T) {
	for _, mech := range ScramMechanisms() {
		t.Run(mech, func(t *testing.T) {
			known, err := NewCred(mech, "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			lookup := lookupOf("alice", known)
			_, _, s1Known := serverFirst(t, mech, "alice", lookup)
			srv, cl, s1 := serverFirst(t, mech, "bob", lookup)
			salt, iters := saltOf(s1)
			knownSalt, _ := saltOf(s1Known)
			if len(salt) != len(knownSalt) || iters != fmt.Sprint(DefaultIterations) {
				t.Fatalf("bob's server-first %q; alice's %q", s1, s1Known)
			}
			if _, _, again := serverFirst(t, mech, "bob", lookup); func() string { s, _ := saltOf(again); return s }() != salt {
				t.Fatalf("bob's salt changed: %q then %q", s1, again)
			}
			if _, _, carol := serverFirst(t, mech, "carol", lookup); func() string { s, _ := saltOf(carol); return s }() == salt {
				t.Fatal("bob and carol have the same salt")
			}
			c2, _, err := cl.Step([]byte(s1))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := srv.Step(c2); !errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), "proof") {
				t.Fatalf("bob's client-final: %v; want ErrAuthFailed at the proof", err)
			}
			if srv.Valid() {
				t.Fatal("bob's exchange valid")
			}
		})
	}
}

// PLAIN checks an unknown user's password against a dummy credential, so
// it takes as long as a known user's check: one derivation either way.
func TestPlainUnknownUserRunsADerivation(t *testing.T) {
	known, err := NewCred(MechSCRAMSHA256, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	old := plainVerify
	plainVerify = func(c ScramCred, p string) bool { n++; return old(c, p) }
	t.Cleanup(func() { plainVerify = old })
	lookup := lookupOf("alice", known)
	for _, tc := range []struct{ user, pw string }{{"alice", "wrong"}, {"bob", "s3cret"}} {
		n = 0
		if _, err := VerifyPlain([]byte("\x00"+tc.user+"\x00"+tc.pw), lookup); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("%s: %v; want ErrAuthFailed", tc.user, err)
		}
		if n != 1 {
			t.Errorf("%s: %d password derivations; want 1", tc.user, n)
		}
	}
	if u, err := VerifyPlain([]byte("\x00alice\x00s3cret"), lookup); err != nil || u != "alice" {
		t.Fatalf("alice's right password: %q, %v", u, err)
	}
}

// The client refuses a server-first message that asks more than
// MaxIterations, before it derives anything.
func TestScramClientRefusesTooManyIterations(t *testing.T) {
	cl, err := NewScramClient(MechSCRAMSHA256, "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	c1, _, err := cl.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	nonce := strings.SplitN(string(c1), "r=", 2)[1]
	s1 := fmt.Sprintf("r=%sserver,s=c2FsdHNhbHRzYWx0,i=%d", nonce, 100*MaxIterations)
	if _, _, err := cl.Step([]byte(s1)); !errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), "iterations") {
		t.Fatalf("server-first with %d iterations: %v; want refused", 100*MaxIterations, err)
	}
}
