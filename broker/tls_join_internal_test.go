package broker

import (
	"bufio"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/tlsconf"
	"github.com/minibroker/minibroker/internal/wire"
)

// TestJoinClusterNeedsTheNodesOwnCertificate: under mutual TLS a
// JoinCluster about node n1 is refused (ClusterAuthorization) on a
// connection that presents node n2's certificate, so one node cannot
// re-register another (its client address, its Raft address); the same
// request with n1's own certificate is answered (the control).
func TestJoinClusterNeedsTheNodesOwnCertificate(t *testing.T) {
	dir := t.TempDir()
	if _, err := tlsconf.WriteFiles(dir, []string{"n1", "n2"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	r, err := tlsconf.New(tlsconf.NodeFiles(dir, "n1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{ID: "n1", DataDir: t.TempDir(), DisableKafka: true}
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

	join := func(as string) error {
		t.Helper()
		cr, err := tlsconf.New(tlsconf.NodeFiles(dir, as), nil)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := tls.Dial("tcp", b.Addr(), cr.ClientConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		// n1's own addresses: the control re-registers what is there.
		frame, err := wire.EncodeRequest(nil, wire.RequestHeader{APIKey: wire.JoinCluster, CorrelationID: 1},
			&wire.JoinClusterRequest{ID: "n1", RaftAddr: b.RaftAddr(), ClientAddr: b.Addr()})
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
		var resp wire.JoinClusterResponse
		if err := wire.DecodeBody(body, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == wire.CodeNone {
			return nil
		}
		return wire.Err(resp.ErrorCode, resp.ErrorMessage)
	}
	if err := join("n2"); !errors.Is(err, wire.ErrClusterAuthorization) {
		t.Fatalf("JoinCluster for n1 with n2's certificate: %v; want ClusterAuthorization", err)
	}
	if err := join("n1"); err != nil {
		t.Fatalf("JoinCluster for n1 with n1's certificate: %v", err)
	}
}
