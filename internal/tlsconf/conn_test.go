package tlsconf

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// TestHandshakeFailuresNotCounted: a connection closed before it sent a
// byte (a TCP health check) and a handshake cut short by its context
// (shutdown) fail the handshake but are not counted as failures; a
// connection that sends garbage then closes is (the control).
func TestHandshakeFailuresNotCounted(t *testing.T) {
	scfg, err := reloader(t, writeNode(t, newCA(t), t.TempDir(), "n1")).ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	fails := NewFailureLog(nil, "test")
	// serve dials, lets client do its part, then runs the server's
	// handshake with ctx and returns its error.
	serve := func(ctx context.Context, client func(net.Conn)) error {
		t.Helper()
		nc, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		sc, err := raw.Accept()
		if err != nil {
			t.Fatal(err)
		}
		client(nc)
		return Server(sc, scfg, 5*time.Second, fails).HandshakeContext(ctx)
	}

	err = serve(context.Background(), func(nc net.Conn) { nc.Close() })
	if !errors.Is(err, ErrHandshake) || fails.Total() != 0 {
		t.Fatalf("closed before a byte: %v, %d counted; want ErrHandshake, 0 counted", err, fails.Total())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = serve(ctx, func(net.Conn) {})
	if !errors.Is(err, ErrHandshake) || fails.Total() != 0 {
		t.Fatalf("context canceled: %v, %d counted; want ErrHandshake, 0 counted", err, fails.Total())
	}
	err = serve(context.Background(), func(nc net.Conn) {
		nc.Write([]byte{0x16, 0x03, 0x01}) // the start of a record header
		nc.Close()
	})
	if !errors.Is(err, ErrHandshake) || fails.Total() != 1 {
		t.Fatalf("a torn record: %v, %d counted; want ErrHandshake, 1 counted", err, fails.Total())
	}
}
