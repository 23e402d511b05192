package kafka

import (
	"context"
	"crypto/tls"

	"github.com/minibroker/minibroker/internal/tlsconf"
)

// tlsHandshaker is a connection accepted on a TLS listener
// (tlsconf.NewListener): its handshake runs on demand, bounded by the
// listener's timeout.
type tlsHandshaker interface {
	HandshakeContext(ctx context.Context) error
	ConnectionState() tls.ConnectionState
}

// handshake completes the TLS handshake of a connection accepted on a TLS
// listener, in the connection's goroutine, and takes its principal from a
// verified client certificate unless it has one. It reports false when the
// handshake failed: the listener's tlsconf.FailureLog has counted and
// logged it (rate limited) and the connection is closed. A plaintext
// connection is left as it is.
func (c *conn) handshake() bool {
	hs, ok := c.nc.(tlsHandshaker)
	if !ok {
		return true
	}
	if err := hs.HandshakeContext(c.ctx); err != nil {
		return false
	}
	// A connection already authenticated (with authentication off, every
	// connection is the anonymous superuser) keeps its principal.
	if p, ok := tlsconf.Principal(hs.ConnectionState()); ok && !c.principal.Authenticated() {
		c.principal = p
	}
	return true
}

// isTLS reports whether the connection came through a TLS listener (its
// net.Conn is a *tlsconf.Conn, not a *tls.Conn: check with this, not a
// type assertion to *tls.Conn).
func (c *conn) isTLS() bool {
	_, ok := c.nc.(tlsHandshaker)
	return ok
}
