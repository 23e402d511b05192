package tlsconf

import "errors"

// Sentinel errors. Compare with errors.Is; the errors returned by this
// package wrap these with context.
var (
	// ErrLoad means a certificate, key or CA file could not be read or
	// parsed, or the key does not match the certificate.
	ErrLoad = errors.New("tlsconf: cannot load TLS files")

	// ErrNoCertificate is returned when a configuration that must present
	// a certificate (ServerConfig, PeerConfig) is asked of a Reloader
	// without one, and when PeerConfig has no CA to verify peers with.
	ErrNoCertificate = errors.New("tlsconf: no certificate or CA configured")

	// ErrHandshake wraps the error of a failed TLS handshake on a Conn.
	ErrHandshake = errors.New("tlsconf: TLS handshake failed")

	// ErrNotNode means a peer's certificate, though signed by the CA, is
	// not a node certificate (its common name lacks auth.NodePrefix).
	ErrNotNode = errors.New("tlsconf: peer certificate is not a node certificate")

	// ErrInvalidName means a node or client name cannot be given a
	// certificate by WriteFiles: it is empty, contains a path separator
	// or "..", or (a client) starts with auth.NodePrefix.
	ErrInvalidName = errors.New("tlsconf: invalid node or client name")
)
