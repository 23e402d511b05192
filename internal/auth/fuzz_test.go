package auth

import "testing"

// FuzzScramServer feeds arbitrary client-first and client-final messages
// to a server conversation: it must never panic, and must never accept a
// proof it was not given.
func FuzzScramServer(f *testing.F) {
	c256, _ := DeriveCred(MechSCRAMSHA256, "pw", []byte("salt"), MinIterations)
	c512, _ := DeriveCred(MechSCRAMSHA512, "pw", []byte("salt"), MinIterations)
	lookup := lookupOf("alice", c256, c512)
	f.Add(true, []byte("n,,n=alice,r=abc"), []byte("c=biws,r=abc,p=AAAA"))
	f.Add(false, []byte("y,,n=alice,r=abc,ext=1"), []byte("c=biws,r=abcdef,x=1,p=dGVzdA=="))
	f.Add(true, []byte("p=tls-unique,a=alice,n=alice,r=x"), []byte(""))
	f.Add(false, []byte("n,a=bob,n=b=2Cob,r="), []byte("c=,r=,p="))
	f.Add(true, []byte("n,,m=ext,n=alice,r=1"), []byte(",,,"))
	f.Fuzz(func(t *testing.T, sha256 bool, first, final []byte) {
		mech := MechSCRAMSHA512
		if sha256 {
			mech = MechSCRAMSHA256
		}
		s, err := NewScramServer(mech, lookup)
		if err != nil {
			t.Fatal(err)
		}
		if _, done, err := s.Step(first); err != nil || done {
			return
		}
		_, done, err := s.Step(final)
		if err == nil && done {
			t.Fatalf("a fuzzed proof was accepted: %q / %q", first, final)
		}
	})
}

// FuzzParsePlain: no panic; an accepted message splits back into its parts.
func FuzzParsePlain(f *testing.F) {
	f.Add([]byte("\x00alice\x00pw"))
	f.Add([]byte("alice\x00alice\x00pw"))
	f.Add([]byte("\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		u, p, err := ParsePlain(msg)
		if err != nil {
			return
		}
		if u == "" || p == "" {
			t.Fatalf("accepted empty user or password from %q", msg)
		}
	})
}

// FuzzValidateUserName: no panic; accepted names are within bounds.
func FuzzValidateUserName(f *testing.F) {
	f.Add("alice")
	f.Add("a\x00b")
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateUserName(name) == nil && (len(name) == 0 || len(name) > MaxUserNameLen) {
			t.Fatalf("accepted %q", name)
		}
	})
}

// FuzzScramServerFinal: after a well-formed client-first message, an
// arbitrary client-final message, optionally built around the server's
// nonce (so that the librdkafka-compatible path, a prefixed nonce, is
// reached too): no panic, and no proof accepted.
func FuzzScramServerFinal(f *testing.F) {
	c, _ := DeriveCred(MechSCRAMSHA256, "pw", []byte("salt"), MinIterations)
	lookup := lookupOf("alice", c)
	f.Add(true, []byte("c=biws,r=abc"), []byte(",p=AAAA"))
	f.Add(true, []byte("c=biws,r=xyzabc"), []byte(",x=1,p=dGVzdA=="))
	f.Add(false, []byte("c=biws,r="), []byte(""))
	f.Add(true, []byte("c=eSws,r=q"), []byte(",p="))
	f.Fuzz(func(t *testing.T, withNonce bool, head, tail []byte) {
		s, _ := NewScramServer(MechSCRAMSHA256, lookup)
		s1, _, err := s.Step([]byte("n,,n=alice,r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		msg := append([]byte(nil), head...)
		if withNonce {
			msg = append(msg, s1[2:bytesIndex(s1, ',')]...)
		}
		msg = append(msg, tail...)
		if _, done, err := s.Step(msg); err == nil || done || s.Valid() {
			t.Fatalf("a fuzzed proof was accepted: %q", msg)
		}
	})
}

func bytesIndex(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return len(b)
}
