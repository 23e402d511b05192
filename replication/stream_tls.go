package replication

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/hashicorp/raft"

	"github.com/minibroker/minibroker/internal/tlsconf"
)

// raftHandshakeTimeout bounds a TLS handshake on the Raft port, both
// ways.
const raftHandshakeTimeout = 10 * time.Second

// tlsStream puts mutual TLS (NodeConfig.RaftTLS) on a stream layer.
// Accepting, it hands the transport a connection whose handshake runs at
// its first read, in the transport's connection goroutine and bounded by
// raftHandshakeTimeout, so a peer that sends nothing, plaintext or an
// untrusted certificate never holds up the accept loop: its handshake
// fails, is counted and logged (rate limited) in fails, and the
// connection closes. Dialing, it handshakes before handing the connection
// to the transport and checks the peer's address against its
// certificate. Safe for concurrent use.
type tlsStream struct {
	raft.StreamLayer
	cfg   *tls.Config
	fails *tlsconf.FailureLog // may be nil
}

// Accept returns the next inbound connection, wrapped; see tlsStream.
func (s *tlsStream) Accept() (net.Conn, error) {
	nc, err := s.StreamLayer.Accept()
	if err != nil {
		return nil, err
	}
	return &raftTLSConn{tlsconf.Server(nc, s.cfg, raftHandshakeTimeout, s.fails)}, nil
}

// Dial connects to a peer and runs the TLS handshake; it blocks for up to
// timeout for both together (raftHandshakeTimeout when timeout is 0): the
// handshake gets what the connect left of it. Errors: the dialer's, or
// one wrapping tlsconf.ErrHandshake (os.ErrDeadlineExceeded when the
// connect used up the timeout).
func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = raftHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	nc, err := s.StreamLayer.Dial(address, timeout)
	if err != nil {
		return nil, err
	}
	left := time.Until(deadline)
	if left <= 0 {
		_ = nc.Close()
		return nil, fmt.Errorf("%w with %s: %w", tlsconf.ErrHandshake, address, os.ErrDeadlineExceeded)
	}
	return tlsconf.Client(ctx, nc, s.cfg, string(address), left)
}

// raftTLSConn reports a failed handshake to the transport as io.EOF: the
// failure is already counted and logged, rate limited, by the stream, and
// the transport would log every other error at error level, once per
// connection a rogue peer opens.
type raftTLSConn struct{ *tlsconf.Conn }

func (c *raftTLSConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, tlsconf.ErrHandshake) {
		return n, io.EOF
	}
	return n, err
}
