package kafka

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/minibroker/minibroker/replication"
)

// startRequireAuth serves a Kafka listener that requires SASL on a random
// loopback port and returns its address.
func startRequireAuth(t *testing.T) string {
	t.Helper()
	s, err := New(Config{Store: &replication.Store{}, NodeID: "n1", RequireAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	return ln.Addr().String()
}

// expectEOF reads nc to its end, failing t if the server leaves it open.
func expectEOF(t *testing.T, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.ReadAll(nc); err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

// Before login, a frame announcing more than auth.MaxPreAuthFrame bytes
// closes the connection at once, without the server waiting for (and
// buffering) the announced megabytes.
func TestPreAuthFrameLimit(t *testing.T) {
	addr := startRequireAuth(t)
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 1<<20) // 1 MiB: under MaxFrameBytes
	if _, err := nc.Write(append(hdr[:], make([]byte, 1024)...)); err != nil {
		t.Fatal(err)
	}
	expectEOF(t, nc)
}

// A connection that does not log in within loginTimeout is closed, even
// though the idle timeout is far off.
func TestLoginTimeoutClosesAnonymousConnection(t *testing.T) {
	old := loginTimeout
	loginTimeout = 300 * time.Millisecond
	t.Cleanup(func() { loginTimeout = old })
	addr := startRequireAuth(t)
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	expectEOF(t, nc)
}
