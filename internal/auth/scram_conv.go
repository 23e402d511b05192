package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xdg-go/scram"
)

// MaxSASLMessage bounds one SASL message a client may send (a SCRAM
// client-first or client-final message, or a PLAIN token). Real ones are
// a few hundred bytes.
const MaxSASLMessage = 4096

// MaxPreAuthFrame bounds a request frame read from a connection that has
// not authenticated yet on a listener that requires authentication: what
// such a peer may send (ApiVersions, SaslHandshake, SaslAuthenticate with
// at most MaxSASLMessage bytes) fits with room to spare, and a stranger
// cannot make the broker buffer a 100 MiB frame before it checks who is
// asking.
const MaxPreAuthFrame = 64 << 10

// LoginTimeout is how long a listener that requires authentication gives a
// new connection to complete its login (counted from the accept); a
// connection still anonymous after it is closed.
const LoginTimeout = 10 * time.Second

// CredLookup returns a user's credential for a mechanism, or false when
// the user or that mechanism's credential does not exist. The broker
// gives it a read of the replicated users.
type CredLookup func(user, mech string) (ScramCred, bool)

// ScramServer is the server side of one SCRAM conversation (RFC 5802):
// Step takes the client-first message and returns the server-first, then
// takes the client-final and returns the server-final. It is not safe for
// concurrent use; one connection's reader goroutine owns it.
type ScramServer struct {
	mech   string
	lookup CredLookup
	conv   *scram.ServerConversation
	// What the first round saw, for the client-final message of a client
	// that prefixes the nonce (see finalCompat): the client-first-message
	// bare, the gs2 header, the server-first message and its nonce.
	c1bare, gs2, s1, nonce string
	first                  bool // the first round is done
	done, valid            bool // finished by finalCompat
}

// NewScramServer starts a conversation for a SCRAM mechanism that looks
// credentials up with lookup. Errors: ErrUnknownMechanism.
func NewScramServer(mech string, lookup CredLookup) (*ScramServer, error) {
	h, err := hashOf(mech)
	if err != nil {
		return nil, err
	}
	srv, err := h.NewServer(func(user string) (scram.StoredCredentials, error) {
		c, ok := lookup(user, mech)
		if !ok || ValidateCred(c) != nil {
			// Answer as if the user existed (RFC 5802 section 9): the
			// exchange fails at the proof, as a wrong password does,
			// so it does not tell who has an account.
			return fakeCred(mech, user), nil
		}
		return scram.StoredCredentials{
			KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations},
			StoredKey:  c.StoredKey, ServerKey: c.ServerKey,
		}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return &ScramServer{mech: mech, lookup: lookup, conv: srv.NewConversation()}, nil
}

// Step feeds the client's next message and returns the server's answer;
// done is true after the client-final message was verified. A failed
// exchange returns an error wrapping ErrAuthFailed (and resp, when not
// nil, is the RFC's "e=..." message the client may be sent). Messages
// over MaxSASLMessage bytes fail. It never panics on client input.
func (s *ScramServer) Step(msg []byte) (resp []byte, done bool, err error) {
	if s.conv.Done() || s.done {
		return nil, true, fmt.Errorf("%w: conversation already finished", ErrAuthFailed)
	}
	if len(msg) > MaxSASLMessage {
		return nil, false, fmt.Errorf("%w: %d-byte message over %d", ErrAuthFailed, len(msg), MaxSASLMessage)
	}
	if bytes.IndexByte(msg, 0) >= 0 {
		return nil, false, fmt.Errorf("%w: NUL in SCRAM message", ErrAuthFailed)
	}
	if s.first {
		if r, ok := finalNonce(string(msg)); ok && s.nonce != "" && r != s.nonce && strings.HasSuffix(r, s.nonce) {
			return s.finalCompat(string(msg))
		}
	}
	out, err := s.conv.Step(string(msg))
	if err == nil && !s.first {
		s.first = true
		parts := strings.SplitN(string(msg), ",", 3) // gs2 flag, authzid, bare (the library parsed it)
		if len(parts) == 3 {
			s.gs2, s.c1bare = parts[0]+","+parts[1]+",", parts[2]
		}
		s.s1 = out
		s.nonce, _ = strings.CutPrefix(strings.SplitN(out, ",", 2)[0], "r=")
	}
	if err != nil {
		var r []byte
		if out != "" {
			r = []byte(out)
		}
		return r, false, fmt.Errorf("%w: %s: %v", ErrAuthFailed, s.mech, err)
	}
	if s.conv.Done() {
		if !s.conv.Valid() {
			return nil, false, fmt.Errorf("%w: %s: invalid proof", ErrAuthFailed, s.mech)
		}
		return []byte(out), true, nil
	}
	return []byte(out), false, nil
}

// User returns the user name the client sent in its first message ("" before).
func (s *ScramServer) User() string { return s.conv.Username() }

// Valid reports whether the exchange finished with a verified proof.
func (s *ScramServer) Valid() bool { return s.valid || s.conv.Done() && s.conv.Valid() }

// finalNonce returns the r= attribute of a client-final message.
func finalNonce(c2 string) (string, bool) {
	fields := strings.Split(c2, ",")
	if len(fields) < 3 {
		return "", false
	}
	return strings.CutPrefix(fields[1], "r=")
}

// finalCompat verifies a client-final message whose nonce is the client's
// nonce followed by the whole nonce of the server-first message, as
// librdkafka 2.0 sends it (it prepends its nonce once more). RFC 5802
// wants the nonce exactly; Kafka's broker accepts a nonce that ends with
// the server's (and the proof covers the message as sent), so Kafka
// clients built on librdkafka 2.0 (kcat among them) work with it, and
// here too. Everything else is checked as the RFC says.
func (s *ScramServer) finalCompat(c2 string) ([]byte, bool, error) {
	s.done = true
	fail := func(why string) ([]byte, bool, error) {
		return nil, false, fmt.Errorf("%w: %s: %s", ErrAuthFailed, s.mech, why)
	}
	h, _ := hashOf(s.mech)
	cred, ok := s.lookup(s.conv.Username(), s.mech)
	if !ok || ValidateCred(cred) != nil {
		return fail("no credential")
	}
	fields := strings.Split(c2, ",")
	if fields[0] != "c="+base64.StdEncoding.EncodeToString([]byte(s.gs2)) || s.gs2 == "" || s.gs2[0] == 'p' {
		return fail("channel binding mismatch")
	}
	pf, ok := strings.CutPrefix(fields[len(fields)-1], "p=")
	if !ok {
		return fail("no proof")
	}
	proof, err := base64.StdEncoding.DecodeString(pf)
	if err != nil || len(proof) != len(cred.StoredKey) {
		return fail("malformed proof")
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	authMsg := s.c1bare + "," + s.s1 + "," + c2[:strings.LastIndex(c2, ",")]
	sig := mac(cred.StoredKey, authMsg)
	for i := range proof {
		proof[i] ^= sig[i]
	}
	sum := h()
	sum.Write(proof)
	if !hmac.Equal(sum.Sum(nil), cred.StoredKey) {
		return fail("invalid proof")
	}
	s.valid = true
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac(cred.ServerKey, authMsg))), true, nil
}

// fakeKey keys the fake credentials of unknown users (fakeCred): 32
// random bytes drawn once per process.
var fakeKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	rand.Read(k) // never fails (crypto/rand)
	return k
})

// fakeCred is the credential an unknown user appears to have in a SCRAM
// exchange: a salt of SaltLen bytes and DefaultIterations, like a user
// added with NewCred, and keys no proof matches. The salt is the same for
// the same (mech, user) as long as the process runs, so asking twice does
// not tell an unknown user from a known one; another node, or this one
// after a restart, answers another salt (docs/security.md). mech must be a
// SCRAM mechanism (hashOf accepts it).
func fakeCred(mech, user string) scram.StoredCredentials {
	h, _ := hashOf(mech)
	derive := func(label string) []byte {
		m := hmac.New(h, fakeKey())
		m.Write([]byte(label + "\x00" + mech + "\x00" + user))
		return m.Sum(nil)
	}
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(derive("salt")[:SaltLen]), Iters: DefaultIterations},
		StoredKey:  derive("stored key"), ServerKey: derive("server key"),
	}
}

// ScramClient is the client side of a SCRAM conversation, for the
// broker's own calls to its peers. Not safe for concurrent use.
type ScramClient struct {
	conv  *scram.ClientConversation
	steps int // Step calls so far
}

// NewScramClient starts a client conversation for user and password
// (used as given, without SASLprep). Errors: ErrUnknownMechanism.
func NewScramClient(mech, user, password string) (*ScramClient, error) {
	h, err := hashOf(mech)
	if err != nil {
		return nil, err
	}
	c, err := h.NewClientUnprepped(user, password, "")
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return &ScramClient{conv: c.WithMinIterations(MinIterations).NewConversation()}, nil
}

// Step takes the server's last message (nil to start) and returns the
// next client message. After the server-final message it returns nil and
// done; an error means the server could not be verified or refused.
func (c *ScramClient) Step(challenge []byte) (msg []byte, done bool, err error) {
	c.steps++
	if c.steps == 2 {
		// The server-first message: refuse an iteration count over
		// MaxIterations before the library derives the salted password
		// (a hostile server could make it run PBKDF2 for minutes).
		if n, ok := serverFirstIterations(string(challenge)); ok && n > MaxIterations {
			return nil, false, fmt.Errorf("%w: server asks %d iterations, over %d", ErrAuthFailed, n, MaxIterations)
		}
	}
	out, err := c.conv.Step(string(challenge))
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrAuthFailed, err)
	}
	if c.conv.Done() {
		return nil, true, nil
	}
	return []byte(out), false, nil
}

// serverFirstIterations returns the i= attribute of a server-first
// message; false when there is none or it is not a number (the library
// refuses such a message).
func serverFirstIterations(s1 string) (int, bool) {
	for f := range strings.SplitSeq(s1, ",") {
		if v, ok := strings.CutPrefix(f, "i="); ok {
			n, err := strconv.Atoi(v)
			return n, err == nil
		}
	}
	return 0, false
}

// ParsePlain splits a SASL PLAIN message (RFC 4616): authzid NUL authcid
// NUL passwd. The authorization identity, when given, must equal the user
// (no impersonation). Errors wrap ErrAuthFailed.
func ParsePlain(msg []byte) (user, password string, err error) {
	if len(msg) > MaxSASLMessage {
		return "", "", fmt.Errorf("%w: PLAIN message of %d bytes", ErrAuthFailed, len(msg))
	}
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", fmt.Errorf("%w: PLAIN message must be authzid NUL user NUL password", ErrAuthFailed)
	}
	authz, u, p := string(parts[0]), string(parts[1]), string(parts[2])
	if u == "" || p == "" {
		return "", "", fmt.Errorf("%w: PLAIN message with an empty user or password", ErrAuthFailed)
	}
	if authz != "" && authz != u {
		return "", "", fmt.Errorf("%w: PLAIN authorization identity differs from the user", ErrAuthFailed)
	}
	return u, p, nil
}

// VerifyPlain checks a PLAIN message against the user's stored
// credentials (any SCRAM mechanism's) and returns the user. Errors wrap
// ErrAuthFailed.
func VerifyPlain(msg []byte, lookup CredLookup) (string, error) {
	u, p, err := ParsePlain(msg)
	if err != nil {
		return "", err
	}
	for _, m := range ScramMechanisms() {
		if c, ok := lookup(u, m); ok {
			if plainVerify(c, p) {
				return u, nil
			}
			return "", fmt.Errorf("%w: PLAIN: wrong password", ErrAuthFailed)
		}
	}
	// Spend the time a known user's check takes, so the answer's delay
	// does not tell who has an account.
	plainVerify(dummyCred(), p)
	return "", fmt.Errorf("%w: PLAIN: unknown user", ErrAuthFailed)
}

// plainVerify is VerifyPassword; a variable so tests can count the
// derivations VerifyPlain runs.
var plainVerify = VerifyPassword

// dummyCred is the credential VerifyPlain checks an unknown user's
// password against: a SCRAM-SHA-256 one with DefaultIterations, as NewCred
// makes, derived on first use.
var dummyCred = sync.OnceValue(func() ScramCred {
	// Constant, valid arguments: DeriveCred cannot fail.
	c, _ := DeriveCred(MechSCRAMSHA256, "minibroker dummy password", make([]byte, SaltLen), DefaultIterations)
	return c
})

func constantEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
