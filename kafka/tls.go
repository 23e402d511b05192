package kafka

import "github.com/minibroker/minibroker/internal/tlsconf"

// handshake completes the TLS handshake of a connection accepted on a TLS
// listener, in the connection's goroutine, and takes its principal from a
// verified client certificate unless it has one (with authentication off,
// every connection is the anonymous superuser and keeps that). It reports
// false when the handshake failed: the listener's tlsconf.FailureLog has
// counted and logged it (rate limited) and the connection is closed. A
// plaintext connection is left as it is.
func (c *conn) handshake() bool {
	p, ok := tlsconf.Accept(c.ctx, c.nc, c.principal)
	c.principal = p
	return ok
}

// isTLS reports whether the connection came through a TLS listener.
func (c *conn) isTLS() bool { return tlsconf.IsTLS(c.nc) }
