package broker

import (
	"bufio"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/internal/tlsconf"
	"github.com/minibroker/minibroker/internal/wire"
)

// principals returns the principals of the broker's open connections.
func (b *Broker) principals() []auth.Principal {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []auth.Principal
	for c := range b.conns {
		out = append(out, c.principal)
	}
	return out
}

// TestTLSClientCertificateSetsPrincipal: with authentication on, a
// connection that presents a verified client certificate is authenticated
// as its common name (a node certificate as a superuser node) and served
// without a SASL login; one without a certificate is refused until it
// logs in (the negative control). A JoinCluster without a node
// certificate is refused when nodes use mutual TLS.
func TestTLSClientCertificateSetsPrincipal(t *testing.T) {
	dir := t.TempDir()
	if _, err := tlsconf.WriteFiles(dir, []string{"n1", "n2"}, []string{"alice"}, nil); err != nil {
		t.Fatal(err)
	}
	r, err := tlsconf.New(tlsconf.NodeFiles(dir, "n1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{DataDir: t.TempDir(), DisableKafka: true, Auth: AuthSCRAM}
	if cfg.TLS, err = r.ServerConfig(); err != nil {
		t.Fatal(err)
	}
	if cfg.PeerTLS, err = r.PeerConfig(); err != nil {
		t.Fatal(err)
	}
	b, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	call := func(files tlsconf.Files, key wire.APIKey, req any) wire.ErrorResponse {
		t.Helper()
		cr, err := tlsconf.New(files, nil)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := tls.Dial("tcp", b.Addr(), cr.ClientConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		frame, err := wire.EncodeRequest(nil, wire.RequestHeader{APIKey: key, CorrelationID: 1}, req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tc.Write(frame); err != nil {
			t.Fatal(err)
		}
		payload, err := wire.ReadFrame(bufio.NewReader(tc), wire.DefaultMaxFrame, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, body, err := wire.DecodeResponseHeader(payload)
		if err != nil {
			t.Fatal(err)
		}
		var resp wire.ErrorResponse
		if err := wire.DecodeBody(body, &resp); err != nil {
			t.Fatal(err)
		}
		if files.CertFile == "" {
			// No certificate and no login: refused, and the connection
			// closes (its principal is never set).
			if resp.ErrorCode != wire.CodeUnauthenticated {
				t.Fatalf("a request without certificate or login: code %v; want Unauthenticated", resp.ErrorCode)
			}
			return resp
		}
		if key == wire.Metadata && resp.ErrorCode != wire.CodeNone {
			t.Fatalf("Metadata with a client certificate and no login: %v", wire.Err(resp.ErrorCode, resp.ErrorMessage))
		}
		// The connection is open (its request answered): its principal is
		// set.
		got := b.principals()
		want := map[string]auth.Principal{
			tlsconf.ClientFiles(dir, "alice").CertFile: {User: "alice"},
			tlsconf.NodeFiles(dir, "n2").CertFile:      {User: "node:n2", Superuser: true, Node: true},
		}[files.CertFile]
		if len(got) != 1 || got[0] != want {
			t.Fatalf("principals %+v; want [%+v]", got, want)
		}
		return resp
	}
	ca := tlsconf.Files{CAFile: tlsconf.NodeFiles(dir, "").CAFile}
	call(tlsconf.ClientFiles(dir, "alice"), wire.Metadata, &wire.MetadataRequest{})
	waitConns(t, b)
	call(tlsconf.NodeFiles(dir, "n2"), wire.Metadata, &wire.MetadataRequest{})
	waitConns(t, b)
	call(ca, wire.Metadata, &wire.MetadataRequest{})
	waitConns(t, b)

	join := &wire.JoinClusterRequest{ID: "x", RaftAddr: "127.0.0.1:1", ClientAddr: "127.0.0.1:2"}
	resp := call(tlsconf.ClientFiles(dir, "alice"), wire.JoinCluster, join)
	if resp.ErrorCode == wire.CodeNone {
		t.Fatal("a JoinCluster with a user's certificate was accepted")
	}
	if err := wire.Err(resp.ErrorCode, resp.ErrorMessage); !errors.Is(err, wire.ErrClusterAuthorization) {
		t.Fatalf("JoinCluster with a user's certificate: %v", err)
	}
	waitConns(t, b)
}

// waitConns waits until b has no open client connection.
func waitConns(t *testing.T, b *Broker) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(b.principals()) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("connections stay open")
		}
		time.Sleep(2 * time.Millisecond) // polling a condition
	}
}

// TestValidateTLS: TLS must present a certificate; PeerTLS needs TLS
// (JoinCluster then needs a node certificate on the client port, which a
// plaintext port never has: no node could join) and must present one
// both ways and require the other side's.
func TestValidateTLS(t *testing.T) {
	cert := []tls.Certificate{{}}
	srv := &tls.Config{Certificates: cert}
	for _, tc := range []struct {
		name     string
		tls      *tls.Config
		peer     *tls.Config
		wantFail bool
	}{
		{"none", nil, nil, false},
		{"tls without certificate", &tls.Config{}, nil, true},
		{"tls", &tls.Config{Certificates: cert}, nil, false},
		{"peer without client certificate", srv, &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }, ClientAuth: tls.RequireAndVerifyClientCert}, true},
		{"peer not requiring client certificates", srv, &tls.Config{Certificates: cert}, true},
		{"peer without tls", nil, &tls.Config{Certificates: cert, ClientAuth: tls.RequireAndVerifyClientCert}, true},
		{"peer", srv, &tls.Config{Certificates: cert, ClientAuth: tls.RequireAndVerifyClientCert}, false},
	} {
		err := Config{DataDir: "d", TLS: tc.tls, PeerTLS: tc.peer}.Validate()
		if got := errors.Is(err, ErrInvalidConfig); got != tc.wantFail {
			t.Errorf("%s: Validate = %v", tc.name, err)
		}
	}
}
