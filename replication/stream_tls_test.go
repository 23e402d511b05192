package replication

import (
	"crypto/tls"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/minibroker/minibroker/internal/tlsconf"
)

// TestRaftTLS: two nodes whose Raft transports use mutual TLS replicate;
// plaintext bytes and a stalled connection on the Raft port fail their
// handshakes (counted), and the listener keeps serving the peer.
func TestRaftTLS(t *testing.T) {
	dir := t.TempDir()
	if _, err := tlsconf.WriteFiles(dir, []string{"n1", "n2"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	fails := tlsconf.NewFailureLog(nil, "raft")
	var nodes []*testNode
	for i, id := range []string{"n1", "n2"} {
		r, err := tlsconf.New(tlsconf.NodeFiles(dir, id), nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(t, id, i == 0)
		if cfg.RaftTLS, err = r.PeerConfig(); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			cfg.RaftTLSFailures = fails
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	waitReadyLeader(t, nodes[0])

	// A connection that sends nothing stalls no one: its handshake runs in
	// its own goroutine.
	stalled, err := net.Dial("tcp", nodes[0].RaftAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	// Plaintext: a raft RPC's first byte and some more.
	plain, err := net.Dial("tcp", nodes[0].RaftAddr())
	if err != nil {
		t.Fatal(err)
	}
	plain.Write([]byte{0, 0x80, 0x81, 0xa4, 'T', 'e', 'r', 'm'})
	plain.SetReadDeadline(time.Now().Add(testWait))
	if _, err := plain.Read(make([]byte, 64)); err == nil {
		// An alert record may come first; the connection closes after it.
		if _, err := plain.Read(make([]byte, 64)); err == nil {
			t.Fatal("the Raft port answered plaintext")
		}
	}
	plain.Close()
	waitFor(t, "the plaintext handshake counted", func() bool { return fails.Total() >= 1 })

	if err := nodes[0].AddVoter(waitCtx(t), "n2", nodes[1].RaftAddr()); err != nil {
		t.Fatal(err)
	}
	mustApply(t, nodes[0], "x", AcksAll)
	waitFor(t, "n2 applied over TLS", func() bool { return slices.Equal(nodes[1].fsm.Entries(), []string{"x"}) })
}

// slowDialStream is a raft.StreamLayer whose Dial takes at least
// dialTime before it connects, and notes when it began.
type slowDialStream struct {
	net.Listener
	dialTime time.Duration
	began    time.Time
}

func (s *slowDialStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	s.began = time.Now()
	for time.Since(s.began) < s.dialTime { // a slow connect, not a synchronization
		time.Sleep(time.Millisecond)
	}
	return net.DialTimeout("tcp", string(address), timeout)
}

// TestRaftTLSDialOneDeadline: the TLS handshake of a Raft dial must end
// by the deadline the dial began with: the connect and the handshake
// share the timeout, the handshake does not get a whole one of its own.
func TestRaftTLSDialOneDeadline(t *testing.T) {
	dir := t.TempDir()
	if _, err := tlsconf.WriteFiles(dir, []string{"n1", "n2"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	peer := func(id string) *tls.Config {
		r, err := tlsconf.New(tlsconf.NodeFiles(dir, id), nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := r.PeerConfig()
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		tlsconf.Server(nc, peer("n2"), testWait, nil).Handshake()
	}()

	// The handshake's context, as the client certificate request sees it.
	cfg := peer("n1").Clone()
	getCert := cfg.GetClientCertificate
	deadlines := make(chan time.Time, 1)
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		d, _ := cri.Context().Deadline()
		deadlines <- d
		return getCert(cri)
	}
	stream := &slowDialStream{Listener: ln, dialTime: 20 * time.Millisecond}
	const timeout = 5 * time.Second
	nc, err := (&tlsStream{StreamLayer: stream, cfg: cfg}).Dial(raft.ServerAddress(ln.Addr().String()), timeout)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if d, limit := <-deadlines, stream.began.Add(timeout); d.IsZero() || d.After(limit) {
		t.Fatalf("handshake deadline %v after the dial's %v (began %v, timeout %v)", d.Sub(limit), limit, stream.began, timeout)
	}
}
