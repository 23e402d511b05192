package kafka

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/internal/tlsconf"
	"github.com/minibroker/minibroker/replication"
)

// TestTLSPrincipalFromClientCertificate: on a TLS listener, a connection
// with a verified client certificate is authenticated as its common name,
// and plaintext is refused (the handshake fails, the connection closes,
// the failure is counted) while the server keeps serving.
func TestTLSPrincipalFromClientCertificate(t *testing.T) {
	dir := t.TempDir()
	if _, err := tlsconf.WriteFiles(dir, []string{"n1"}, []string{"alice"}, nil); err != nil {
		t.Fatal(err)
	}
	r, err := tlsconf.New(tlsconf.NodeFiles(dir, "n1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	scfg, err := r.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	// Authentication on: the certificate authenticates alice (ApiVersions
	// needs no login, so the principal is what the handshake set).
	s, err := New(Config{Store: &replication.Store{}, NodeID: "n1", RequireAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fails := tlsconf.NewFailureLog(nil, "kafka")
	go s.Serve(tlsconf.NewListener(raw, scfg, 5*time.Second, fails))
	addr := raw.Addr().String()
	apiVersions := []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff}

	// Plaintext: refused and counted.
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	nc.Write(apiVersions)
	if _, err := io.ReadAll(nc); err != nil {
		t.Fatalf("plaintext connection not closed: %v", err)
	}
	nc.Close()
	if fails.Total() != 1 {
		t.Fatalf("failed handshakes %d; want 1", fails.Total())
	}

	// alice over TLS: answered, and her connection is hers.
	cr, err := tlsconf.New(tlsconf.ClientFiles(dir, "alice"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := tls.Dial("tcp", addr, cr.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := tc.Write(apiVersions); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(bufio.NewReader(tc), size[:]); err != nil || binary.BigEndian.Uint32(size[:]) == 0 {
		t.Fatalf("ApiVersions over TLS: %v", err)
	}
	s.mu.Lock()
	var got []auth.Principal
	for c := range s.conns {
		got = append(got, c.principal)
	}
	s.mu.Unlock()
	if len(got) != 1 || got[0] != (auth.Principal{User: "alice"}) {
		t.Fatalf("principals %+v; want alice", got)
	}
}

// TestIsTLS: a connection of a TLS listener is TLS (a *tlsconf.Conn), a
// plain one is not.
func TestIsTLS(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if (&conn{nc: a}).isTLS() {
		t.Fatal("a plain connection counts as TLS")
	}
	if !(&conn{nc: tlsconf.Server(a, &tls.Config{}, time.Second, nil)}).isTLS() {
		t.Fatal("a TLS listener's connection does not count as TLS")
	}
}
