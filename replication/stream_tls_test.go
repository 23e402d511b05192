package replication

import (
	"net"
	"slices"
	"testing"
	"time"

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
