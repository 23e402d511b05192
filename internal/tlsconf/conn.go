package tlsconf

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minibroker/minibroker/internal/auth"
)

// DefaultHandshakeTimeout bounds a handshake when no timeout is given.
const DefaultHandshakeTimeout = 10 * time.Second

// Conn is the server side of a TLS connection whose handshake runs at the
// first Read, Write or Handshake call, bounded by a timeout: in the
// goroutine that serves the connection, never in an accept loop. A failed
// handshake closes the connection, and every later call returns the
// handshake's error (wrapping ErrHandshake). It is recorded in the
// FailureLog unless the client closed before sending a byte (a TCP health
// check) or the handshake was cut by its context or by closing the
// connection (shutdown).
// Conn is safe for concurrent use as a net.Conn is.
type Conn struct {
	*tls.Conn
	raw     *readCounter // the accepted connection under Conn
	timeout time.Duration
	fails   *FailureLog

	once sync.Once
	err  error // the handshake's result; set once, inside once
}

// Server wraps nc (an accepted connection) in a Conn with cfg. timeout
// <= 0 means DefaultHandshakeTimeout; fails may be nil.
func Server(nc net.Conn, cfg *tls.Config, timeout time.Duration, fails *FailureLog) *Conn {
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	raw := &readCounter{Conn: nc}
	return &Conn{Conn: tls.Server(raw, cfg), raw: raw, timeout: timeout, fails: fails}
}

// readCounter notes whether anything was read from its connection.
type readCounter struct {
	net.Conn
	read atomic.Bool // a Read returned at least one byte
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.read.Load() {
		c.read.Store(true)
	}
	return n, err
}

// HandshakeContext runs the handshake once, bounded by ctx and the
// Conn's timeout; concurrent and later calls wait for it and return its
// result. On failure the connection is closed and the error (wrapping
// ErrHandshake) is recorded in the FailureLog, unless it is no failure of
// the client's (see Conn).
func (c *Conn) HandshakeContext(ctx context.Context) error {
	c.once.Do(func() {
		hctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		if err := c.Conn.HandshakeContext(hctx); err != nil {
			c.err = fmt.Errorf("%w with %s: %w", ErrHandshake, c.RemoteAddr(), err)
			if !c.notAFailure(ctx, err) {
				c.fails.Record(c.RemoteAddr(), err)
			}
			_ = c.Conn.Close()
		}
	})
	return c.err
}

// notAFailure reports whether err, a failed handshake with parent
// context ctx, is no failure of the client's: it closed the connection
// without sending a byte, or ctx was canceled, or the connection was
// closed on this side.
func (c *Conn) notAFailure(ctx context.Context, err error) bool {
	switch {
	case errors.Is(err, io.EOF) && !c.raw.read.Load():
		return true
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return true
	case errors.Is(err, net.ErrClosed):
		return true
	}
	return false
}

// Accept completes the handshake of nc when it came from a TLS listener
// (NewListener) and returns the principal the connection has after it: p,
// or, when p is not authenticated and the client presented a verified
// certificate, the certificate's (see Principal). ok is false when the
// handshake failed: the listener's FailureLog has counted it and nc is
// closed. A plaintext connection returns p, true. It blocks for the
// handshake, bounded by the listener's timeout and ctx.
func Accept(ctx context.Context, nc net.Conn, p auth.Principal) (_ auth.Principal, ok bool) {
	c, isTLS := nc.(*Conn)
	if !isTLS {
		return p, true
	}
	if err := c.HandshakeContext(ctx); err != nil {
		return p, false
	}
	if cp, ok := Principal(c.ConnectionState()); ok && !p.Authenticated() {
		return cp, true
	}
	return p, true
}

// IsTLS reports whether nc came from a TLS listener (NewListener): check
// with it, not with a type assertion to *tls.Conn.
func IsTLS(nc net.Conn) bool {
	_, ok := nc.(*Conn)
	return ok
}

// PeerPrincipal returns the principal of nc's verified client
// certificate, if nc came from a TLS listener, its handshake succeeded and
// the client presented one.
func PeerPrincipal(nc net.Conn) (auth.Principal, bool) {
	c, ok := nc.(*Conn)
	if !ok || c.HandshakeContext(context.Background()) != nil {
		return auth.Principal{}, false
	}
	return Principal(c.ConnectionState())
}

// Handshake is HandshakeContext without a context of its own.
func (c *Conn) Handshake() error { return c.HandshakeContext(context.Background()) }

// Read handshakes first (see HandshakeContext), then reads.
func (c *Conn) Read(p []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// Write handshakes first (see HandshakeContext), then writes.
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// NewListener returns a listener whose Accept wraps each connection of ln
// in a Conn (see Server). Closing it closes ln.
func NewListener(ln net.Listener, cfg *tls.Config, timeout time.Duration, fails *FailureLog) net.Listener {
	return &listener{Listener: ln, cfg: cfg, timeout: timeout, fails: fails}
}

type listener struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
	fails   *FailureLog
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Server(nc, l.cfg, l.timeout, l.fails), nil
}

// Client runs the client side of a handshake over nc, which was dialed to
// addr (host:port): with a copy of cfg whose ServerName is addr's host
// unless cfg names one, bounded by ctx and timeout (<= 0:
// DefaultHandshakeTimeout). Besides what cfg verifies, it checks the
// server's certificate against the host name or IP address, which
// PeerConfig leaves to it; a cfg with InsecureSkipVerify and no
// VerifyConnection is not checked at all. On error nc is closed; the error
// wraps ErrHandshake.
func Client(ctx context.Context, nc net.Conn, cfg *tls.Config, addr string, timeout time.Duration) (*tls.Conn, error) {
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	tc := tls.Client(nc, cfg)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("%w with %s: %w", ErrHandshake, addr, err)
	}
	if cfg.InsecureSkipVerify && cfg.VerifyConnection != nil {
		if err := tc.ConnectionState().PeerCertificates[0].VerifyHostname(cfg.ServerName); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("%w with %s: %w", ErrHandshake, addr, err)
		}
	}
	return tc, nil
}

// FailureLog counts failed handshakes of one listener and logs them, at
// most one line a second plus the count of those not logged in between.
// A nil *FailureLog records nothing. Safe for concurrent use.
type FailureLog struct {
	log      *slog.Logger
	listener string
	total    atomic.Uint64
	lines    auth.LogLimiter // one line a second
}

// NewFailureLog returns a FailureLog that logs to logger (nil: discard)
// with the attribute listener=name.
func NewFailureLog(logger *slog.Logger, name string) *FailureLog {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &FailureLog{log: logger, listener: name}
}

// Record counts one failed handshake with remote and logs it unless a
// line was logged less than a second ago. It does not block on I/O other
// than the logger's.
func (f *FailureLog) Record(remote net.Addr, err error) {
	if f == nil {
		return
	}
	f.total.Add(1)
	ok, n := f.lines.Allow(time.Now())
	if !ok {
		return
	}
	f.log.Warn("TLS handshake failed; connection closed", "listener", f.listener, "remote", remote.String(),
		"error", err, "suppressed_since_last_line", n)
}

// Total returns the number of failed handshakes recorded.
func (f *FailureLog) Total() uint64 {
	if f == nil {
		return 0
	}
	return f.total.Load()
}
