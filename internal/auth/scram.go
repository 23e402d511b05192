package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/xdg-go/scram"
)

// SASL mechanism names, as Kafka and RFC 5802/7677/4616 spell them.
const (
	MechSCRAMSHA256 = "SCRAM-SHA-256"
	MechSCRAMSHA512 = "SCRAM-SHA-512"
	MechPlain       = "PLAIN"
)

// Limits on stored SCRAM credentials, checked by the broker before a user
// command is proposed and again by the replicated state machine.
const (
	// DefaultIterations is the PBKDF2 iteration count of credentials the
	// broker derives; it is Kafka's minimum and its tools' default.
	DefaultIterations = 4096
	MinIterations     = 4096
	MaxIterations     = 16384
	// SaltLen is the length of the random salts the broker draws.
	SaltLen = 32
	// MaxSaltLen bounds a salt given by a client (Kafka's
	// AlterUserScramCredentials sends its own).
	MaxSaltLen = 1024
	// MaxUserNameLen bounds a user name.
	MaxUserNameLen = 255
)

// Errors of credential derivation and checks. Compare with errors.Is.
var (
	// ErrUnknownMechanism: a SASL mechanism other than SCRAM-SHA-256,
	// SCRAM-SHA-512 (or PLAIN where PLAIN is accepted).
	ErrUnknownMechanism = errors.New("auth: unknown SASL mechanism")
	// ErrInvalidCredential: a stored credential whose iterations, salt or
	// key lengths are out of bounds.
	ErrInvalidCredential = errors.New("auth: invalid SCRAM credential")
	// ErrInvalidUserName: a user name that is empty, longer than
	// MaxUserNameLen, not UTF-8 or holds control characters.
	ErrInvalidUserName = errors.New("auth: invalid user name")
	// ErrAuthFailed: the SASL exchange failed (unknown user, wrong
	// password, malformed message). The message does not say which, so a
	// client cannot probe for user names.
	ErrAuthFailed = errors.New("auth: authentication failed")
)

// ScramCred is one user's stored credential for one SCRAM mechanism
// (RFC 5802 section 3): never the password, only what verifies a proof
// of it. It is kept in the replicated state (msgpack tags).
type ScramCred struct {
	Mechanism  string `msgpack:"m"` // MechSCRAMSHA256 or MechSCRAMSHA512
	Iterations int    `msgpack:"i"`
	Salt       []byte `msgpack:"s"`
	StoredKey  []byte `msgpack:"sk"`
	ServerKey  []byte `msgpack:"vk"`
}

// hashOf returns the hash function of a SCRAM mechanism.
func hashOf(mech string) (scram.HashGeneratorFcn, error) {
	switch mech {
	case MechSCRAMSHA256:
		return scram.SHA256, nil
	case MechSCRAMSHA512:
		return scram.SHA512, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownMechanism, mech)
}

// KeyLen returns the length of a mechanism's StoredKey and ServerKey (its
// hash size), or ErrUnknownMechanism.
func KeyLen(mech string) (int, error) {
	h, err := hashOf(mech)
	if err != nil {
		return 0, err
	}
	return h().Size(), nil
}

// ScramMechanisms lists the SCRAM mechanisms the broker supports, in the
// order it offers them.
func ScramMechanisms() []string { return []string{MechSCRAMSHA256, MechSCRAMSHA512} }

// ValidateUserName checks a user name: 1 to MaxUserNameLen bytes of UTF-8
// without control characters (C0, DEL, C1: StableText). It does not
// consult Unicode tables, so the replicated state machine calls it and
// every Go release agrees; the broker also checks PrintableText before it
// proposes a new name. The error wraps ErrInvalidUserName.
func ValidateUserName(name string) error {
	if len(name) == 0 || len(name) > MaxUserNameLen {
		return fmt.Errorf("%w: must be 1 to %d bytes", ErrInvalidUserName, MaxUserNameLen)
	}
	if !StableText(name) {
		return fmt.Errorf("%w: %q is not UTF-8 or holds a control character", ErrInvalidUserName, name)
	}
	return nil
}

// ValidateCred checks a stored credential: a known mechanism, iterations
// in [MinIterations, MaxIterations], a salt of 1 to MaxSaltLen bytes and
// keys of the mechanism's hash size. The error wraps ErrUnknownMechanism
// or ErrInvalidCredential.
func ValidateCred(c ScramCred) error {
	n, err := KeyLen(c.Mechanism)
	if err != nil {
		return err
	}
	switch {
	case c.Iterations < MinIterations || c.Iterations > MaxIterations:
		return fmt.Errorf("%w: %d iterations, want %d to %d", ErrInvalidCredential, c.Iterations, MinIterations, MaxIterations)
	case len(c.Salt) == 0 || len(c.Salt) > MaxSaltLen:
		return fmt.Errorf("%w: salt of %d bytes, want 1 to %d", ErrInvalidCredential, len(c.Salt), MaxSaltLen)
	case len(c.StoredKey) != n || len(c.ServerKey) != n:
		return fmt.Errorf("%w: %s keys must be %d bytes (stored %d, server %d)", ErrInvalidCredential, c.Mechanism, n, len(c.StoredKey), len(c.ServerKey))
	}
	return nil
}

// DeriveCred computes the credential for password with the given salt and
// iterations (PBKDF2, then HMAC and hash as RFC 5802 says). The password
// is used as given, without SASLprep, as Kafka and its clients do. It
// blocks for the PBKDF2 work (about a millisecond at 4096 iterations).
// Errors: ErrUnknownMechanism, ErrInvalidCredential.
func DeriveCred(mech, password string, salt []byte, iterations int) (ScramCred, error) {
	h, err := hashOf(mech)
	if err != nil {
		return ScramCred{}, err
	}
	if iterations < MinIterations || iterations > MaxIterations || len(salt) == 0 || len(salt) > MaxSaltLen {
		return ScramCred{}, fmt.Errorf("%w: %d iterations, %d-byte salt", ErrInvalidCredential, iterations, len(salt))
	}
	cl, err := h.NewClientUnprepped("", password, "")
	if err != nil {
		return ScramCred{}, fmt.Errorf("%w: %v", ErrInvalidCredential, err)
	}
	sc, err := cl.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: iterations})
	if err != nil {
		return ScramCred{}, fmt.Errorf("%w: %v", ErrInvalidCredential, err)
	}
	return ScramCred{
		Mechanism: mech, Iterations: iterations,
		Salt:      append([]byte(nil), salt...),
		StoredKey: sc.StoredKey, ServerKey: sc.ServerKey,
	}, nil
}

// NewCred derives a credential for password with a fresh random salt of
// SaltLen bytes and DefaultIterations. Errors: those of DeriveCred.
func NewCred(mech, password string) (ScramCred, error) {
	salt := make([]byte, SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return ScramCred{}, fmt.Errorf("auth: salt: %w", err)
	}
	return DeriveCred(mech, password, salt, DefaultIterations)
}

// VerifyPassword reports whether password matches the credential (for
// SASL PLAIN, which sends the password itself). It blocks for the PBKDF2
// work and compares in constant time.
func VerifyPassword(c ScramCred, password string) bool {
	d, err := DeriveCred(c.Mechanism, password, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	return constantEqual(d.StoredKey, c.StoredKey) && constantEqual(d.ServerKey, c.ServerKey)
}

// CredFromSaltedPassword builds a credential from a salted password
// (PBKDF2 output, as Kafka's AlterUserScramCredentials sends it): StoredKey
// = H(HMAC(salted, "Client Key")), ServerKey = HMAC(salted, "Server Key").
// The salted password must be the mechanism's hash size. Errors:
// ErrUnknownMechanism, ErrInvalidCredential.
func CredFromSaltedPassword(mech string, salt []byte, iterations int, salted []byte) (ScramCred, error) {
	h, err := hashOf(mech)
	if err != nil {
		return ScramCred{}, err
	}
	if n := h().Size(); len(salted) != n {
		return ScramCred{}, fmt.Errorf("%w: salted password of %d bytes, want %d", ErrInvalidCredential, len(salted), n)
	}
	mac := func(key []byte, s string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	ck := h()
	ck.Write(mac(salted, "Client Key"))
	c := ScramCred{
		Mechanism: mech, Iterations: iterations,
		Salt:      append([]byte(nil), salt...),
		StoredKey: ck.Sum(nil), ServerKey: mac(salted, "Server Key"),
	}
	if err := ValidateCred(c); err != nil {
		return ScramCred{}, err
	}
	return c, nil
}
