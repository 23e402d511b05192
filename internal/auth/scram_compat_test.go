package auth

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// librdkafkaFinal builds the client-final message as librdkafka 2.0 does:
// its nonce, then the server's whole nonce (which starts with its nonce).
func librdkafkaFinal(t *testing.T, mech, password, cnonce, c1bare, s1 string, dup bool) string {
	t.Helper()
	h, _ := hashOf(mech)
	var salt []byte
	var iters int
	var snonce string
	for _, f := range strings.Split(s1, ",") {
		switch {
		case strings.HasPrefix(f, "r="):
			snonce = f[2:]
		case strings.HasPrefix(f, "s="):
			salt, _ = base64.StdEncoding.DecodeString(f[2:])
		case strings.HasPrefix(f, "i="):
			iters = 4096
		}
	}
	salted, err := pbkdf2Key(h, password, salt, iters)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key []byte, s string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	ck := mac(salted, "Client Key")
	sum := h()
	sum.Write(ck)
	stored := sum.Sum(nil)
	nonce := snonce
	if dup {
		nonce = cnonce + snonce
	}
	wop := "c=biws,r=" + nonce
	sig := mac(stored, c1bare+","+s1+","+wop)
	for i := range ck {
		ck[i] ^= sig[i]
	}
	return wop + ",p=" + base64.StdEncoding.EncodeToString(ck)
}

func TestScramServerAcceptsLibrdkafkaNonce(t *testing.T) {
	for _, mech := range ScramMechanisms() {
		c, _ := NewCred(mech, "pw")
		for _, tc := range []struct {
			dup  bool
			pw   string
			want bool
		}{{true, "pw", true}, {false, "pw", true}, {true, "wrong", false}} {
			s, _ := NewScramServer(mech, lookupOf("alice", c))
			cnonce := "h`<zy2rLubIP`~k8vl_hHzx[c`K^{@O|"
			c1bare := "n=alice,r=" + cnonce
			s1, _, err := s.Step([]byte("n,," + c1bare))
			if err != nil {
				t.Fatal(err)
			}
			final := librdkafkaFinal(t, mech, tc.pw, cnonce, c1bare, string(s1), tc.dup)
			v, done, err := s.Step([]byte(final))
			if tc.want {
				if err != nil || !done || !s.Valid() || !strings.HasPrefix(string(v), "v=") {
					t.Fatalf("%s dup=%v: %q %v %v", mech, tc.dup, v, done, err)
				}
			} else if !errors.Is(err, ErrAuthFailed) || s.Valid() {
				t.Fatalf("%s dup=%v wrong password accepted: %v", mech, tc.dup, err)
			}
		}
	}
}
