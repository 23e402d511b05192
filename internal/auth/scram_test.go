package auth

import (
	"errors"
	"testing"
)

// exchange runs a full SCRAM conversation between ScramClient and
// ScramServer and returns the server's error, if any.
func exchange(t *testing.T, mech, user, password string, lookup CredLookup) (*ScramServer, error) {
	t.Helper()
	srv, err := NewScramServer(mech, lookup)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := NewScramClient(mech, user, password)
	if err != nil {
		t.Fatal(err)
	}
	msg, _, err := cl.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, done, err := srv.Step(msg)
		if err != nil {
			return srv, err
		}
		m, cdone, err := cl.Step(resp)
		if err != nil {
			t.Fatalf("client refused the server: %v", err)
		}
		if done {
			if !cdone {
				t.Fatal("server done, client not")
			}
			return srv, nil
		}
		msg = m
	}
}

func lookupOf(user string, creds ...ScramCred) CredLookup {
	return func(u, mech string) (ScramCred, bool) {
		if u != user {
			return ScramCred{}, false
		}
		for _, c := range creds {
			if c.Mechanism == mech {
				return c, true
			}
		}
		return ScramCred{}, false
	}
}

func TestScramExchange(t *testing.T) {
	for _, mech := range ScramMechanisms() {
		t.Run(mech, func(t *testing.T) {
			c, err := NewCred(mech, "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			if err := ValidateCred(c); err != nil {
				t.Fatal(err)
			}
			srv, err := exchange(t, mech, "alice", "s3cret", lookupOf("alice", c))
			if err != nil {
				t.Fatalf("right password refused: %v", err)
			}
			if !srv.Valid() || srv.User() != "alice" {
				t.Fatalf("valid %v user %q", srv.Valid(), srv.User())
			}
			if _, err := exchange(t, mech, "alice", "wrong", lookupOf("alice", c)); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("wrong password: %v, want ErrAuthFailed", err)
			}
			if _, err := exchange(t, mech, "bob", "s3cret", lookupOf("alice", c)); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("unknown user: %v, want ErrAuthFailed", err)
			}
		})
	}
}

func TestScramWrongMechanismCredential(t *testing.T) {
	c, _ := NewCred(MechSCRAMSHA256, "pw")
	// Only a SHA-256 credential: a SHA-512 login must fail.
	if _, err := exchange(t, MechSCRAMSHA512, "alice", "pw", lookupOf("alice", c)); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("got %v", err)
	}
}

func TestValidateCred(t *testing.T) {
	good, _ := NewCred(MechSCRAMSHA512, "pw")
	for name, mod := range map[string]func(c *ScramCred){
		"mechanism":  func(c *ScramCred) { c.Mechanism = "MD5" },
		"iterations": func(c *ScramCred) { c.Iterations = 100 },
		"too many":   func(c *ScramCred) { c.Iterations = MaxIterations + 1 },
		"salt":       func(c *ScramCred) { c.Salt = nil },
		"stored key": func(c *ScramCred) { c.StoredKey = c.StoredKey[:32] },
		"server key": func(c *ScramCred) { c.ServerKey = append(c.ServerKey, 0) },
	} {
		c := good
		mod(&c)
		if err := ValidateCred(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := ValidateCred(good); err != nil {
		t.Fatal(err)
	}
}

func TestPlain(t *testing.T) {
	c, _ := NewCred(MechSCRAMSHA256, "pw")
	l := lookupOf("alice", c)
	if u, err := VerifyPlain([]byte("\x00alice\x00pw"), l); err != nil || u != "alice" {
		t.Fatalf("%q %v", u, err)
	}
	if _, err := VerifyPlain([]byte("alice\x00alice\x00pw"), l); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"\x00alice\x00nope", "bob\x00alice\x00pw", "alice\x00pw", "\x00bob\x00pw", "\x00\x00", ""} {
		if _, err := VerifyPlain([]byte(bad), l); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestValidateUserName(t *testing.T) {
	for _, ok := range []string{"alice", "User With Space", "node:n1", "ünïcode"} {
		if err := ValidateUserName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	long := make([]byte, MaxUserNameLen+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, bad := range []string{"", "a\nb", "\xff", string(long)} {
		if err := ValidateUserName(bad); !errors.Is(err, ErrInvalidUserName) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestCredFromSaltedPassword(t *testing.T) {
	// The same password through PBKDF2 here and through the library's
	// derivation gives the same keys.
	for _, mech := range ScramMechanisms() {
		want, err := DeriveCred(mech, "pw", []byte("salty"), 4096)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := hashOf(mech)
		salted, err := pbkdf2Key(h, "pw", []byte("salty"), 4096)
		if err != nil {
			t.Fatal(err)
		}
		got, err := CredFromSaltedPassword(mech, []byte("salty"), 4096, salted)
		if err != nil {
			t.Fatal(err)
		}
		if !constantEqual(got.StoredKey, want.StoredKey) || !constantEqual(got.ServerKey, want.ServerKey) {
			t.Fatalf("%s: keys differ", mech)
		}
		if _, err := CredFromSaltedPassword(mech, []byte("s"), 4096, salted[1:]); !errors.Is(err, ErrInvalidCredential) {
			t.Fatalf("short salted password: %v", err)
		}
		if _, err := CredFromSaltedPassword(mech, []byte("s"), 10, salted); !errors.Is(err, ErrInvalidCredential) {
			t.Fatalf("few iterations: %v", err)
		}
	}
}
