package tests

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/internal/tlsconf"
	"github.com/minibroker/minibroker/internal/wire"
)

// newTLSClient is newClient over TLS with tcfg.
func newTLSClient(t *testing.T, tcfg *tls.Config, addrs ...string) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{Brokers: addrs, TLS: tcfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// produceConsume creates topic, produces n messages with acks=all and
// reads them back, failing the test on any error or difference.
func produceConsume(t *testing.T, cl *client.Client, topic string, n int) {
	t.Helper()
	ctx := ctxT(t)
	if err := cl.CreateTopic(ctx, topic, client.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll})
	defer p.Close()
	for i := range n {
		if _, err := p.Produce(ctx, client.Message{Topic: topic, Value: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	recs := readAll(t, cl, topic, 0)
	if len(recs) != n {
		t.Fatalf("read %d records; want %d", len(recs), n)
	}
	for i, r := range recs {
		if string(r.Value) != fmt.Sprint(i) {
			t.Fatalf("record %d is %q", i, r.Value)
		}
	}
}

// plaintextExchange sends frame in plaintext to addr and returns the
// first 4 bytes answered as a frame size, or the read error (io.EOF when
// the broker closed the connection without answering).
func plaintextExchange(t *testing.T, addr string, frame []byte) (uint32, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := nc.Write(frame); err != nil {
		return 0, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(bufio.NewReader(nc), hdr[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(hdr[:]), nil
}

// kafkaAPIVersionsFrame is a Kafka ApiVersions v0 request (key 18).
func kafkaAPIVersionsFrame() []byte {
	body := []byte{0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff} // key, version, correlation id, null client id
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func nativeMetadataFrame(t *testing.T) []byte {
	t.Helper()
	f, err := wire.EncodeRequest(nil, wire.RequestHeader{APIKey: wire.Metadata, CorrelationID: 7}, &wire.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestTLSPlaintextRefusedBrokerKeepsServing sends a native frame and a
// Kafka ApiVersions frame in plaintext to the TLS ports: no answer, the
// connection is closed, the failed handshakes are counted, and TLS
// clients are served before and after. The control: the same bytes to a
// plaintext broker are answered.
func TestTLSPlaintextRefusedBrokerKeepsServing(t *testing.T) {
	frames := map[string][]byte{
		"native": nativeMetadataFrame(t),
		"kafka":  kafkaAPIVersionsFrame(),
	}
	plain := brokertest.NewBroker(t)
	for name, addr := range map[string]string{"native": plain.Addr(), "kafka": plain.KafkaAddr()} {
		if n, err := plaintextExchange(t, addr, frames[name]); err != nil || n == 0 {
			t.Fatalf("control: plaintext %s frame to a plaintext broker: size %d, %v; want an answer", name, n, err)
		}
	}

	dir := t.TempDir()
	c := brokertest.NewCluster(t, 1, brokertest.TLS(t, dir))
	b := c.Broker(0)
	cl := newTLSClient(t, brokertest.ClientTLS(t, dir, ""), c.Addrs()...)
	produceConsume(t, cl, "before", 3)
	for name, addr := range map[string]string{"native": b.Addr(), "kafka": b.KafkaAddr()} {
		before := b.TLSHandshakeFailures(name)
		n, err := plaintextExchange(t, addr, frames[name])
		if err == nil && n != 0 && n < 1<<20 {
			t.Fatalf("plaintext %s frame to the TLS port: answered a frame of %d bytes", name, n)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("plaintext %s frame to the TLS port: the connection stayed open", name)
		}
		waitUntil(t, name+" handshake failure counted", func() bool { return b.TLSHandshakeFailures(name) > before })
	}
	// The broker keeps serving TLS clients, old and new connections.
	produceConsume(t, cl, "after", 3)
	produceConsume(t, newTLSClient(t, brokertest.ClientTLS(t, dir, "alice"), c.Addrs()...), "after-new", 3)
	// A client that does not trust the cluster's CA is refused.
	if _, err := client.New(client.Config{Brokers: c.Addrs(), TLS: &tls.Config{MinVersion: tls.VersionTLS12}, DialTimeout: 2 * time.Second}); err == nil {
		t.Fatal("a client without the cluster's CA connected")
	}
}

// TestTLSClusterServes runs a 3-node cluster with TLS on every listener
// and mutual TLS between nodes: it forms (the nodes join over TLS), serves
// a client on every node, and elects a new leader when the leader dies.
func TestTLSClusterServes(t *testing.T) {
	dir := t.TempDir()
	c := brokertest.NewCluster(t, 3, brokertest.TLS(t, dir))
	cl := newTLSClient(t, brokertest.ClientTLS(t, dir, "alice"), c.Addrs()...)
	produceConsume(t, cl, "t", 20)
	old := c.WaitLeader()
	c.Kill(old)
	waitUntil(t, "a new leader", func() bool {
		for i := range c.Len() {
			if b := c.Broker(i); b != nil && i != old && b.IsLeader() {
				return true
			}
		}
		return false
	})
	produceConsume(t, cl, "t2", 5)
}

// rogueStream is a raft.StreamLayer that dials over TLS with cfg (plain
// TCP when nil): a rogue node's Raft transport.
type rogueStream struct {
	net.Listener
	cfg *tls.Config
}

func (s *rogueStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil || s.cfg == nil {
		return nc, err
	}
	tc := tls.Client(nc, s.cfg)
	tc.SetDeadline(time.Now().Add(timeout))
	if err := tc.Handshake(); err != nil {
		nc.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}

// voteAttack sends each Raft address a RequestVote with a term far ahead,
// flagged as a leadership transfer so that it is not ignored for having a
// leader: a node that takes it steps down and adopts the term. It returns
// how many were answered.
func voteAttack(t *testing.T, cfg *tls.Config, addrs []string, term uint64) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	trans := raft.NewNetworkTransport(&rogueStream{Listener: ln, cfg: cfg}, 1, 2*time.Second, io.Discard)
	defer trans.Close()
	answered := 0
	for _, a := range addrs {
		req := &raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, Addr: trans.EncodePeer("", raft.ServerAddress(ln.Addr().String()))},
			Term: term, LastLogIndex: 1 << 40, LastLogTerm: term, LeadershipTransfer: true}
		var resp raft.RequestVoteResponse
		if err := trans.RequestVote("", raft.ServerAddress(a), req, &resp); err == nil {
			answered++
		}
	}
	return answered
}

// calm gives a cluster production Raft timeouts, so that a loaded machine
// does not cause elections while a test asserts that the term stays.
func calm(_ int, cfg *broker.Config) {
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
}

func raftAddrs(c *brokertest.Cluster) []string {
	var out []string
	for i := range c.Len() {
		out = append(out, c.Broker(i).RaftAddr())
	}
	return out
}

// TestRaftVoteAttackDisturbsPlaintextCluster is the control of
// TestTLSRogueNodeCannotJoinOrDisturb: without TLS the same vote attack is
// answered and raises the cluster's term.
func TestRaftVoteAttackDisturbsPlaintextCluster(t *testing.T) {
	c := brokertest.NewCluster(t, 3, calm)
	term := c.Leader().NodeState().Term
	if n := voteAttack(t, nil, raftAddrs(c), term+100); n == 0 {
		t.Fatal("no node answered the plaintext vote attack")
	}
	if got := c.Broker(0).NodeState().Term; got < term+100 {
		t.Fatalf("term %d after the attack; want >= %d (the attack did not work: the TLS test would pass vacuously)", got, term+100)
	}
}

// TestTLSRogueNodeCannotJoinOrDisturb: a node whose certificate comes from
// another CA (and which trusts ours) cannot join, and its Raft traffic
// (the vote attack of the control above) is refused at the handshake:
// the cluster keeps its leader and its term.
func TestTLSRogueNodeCannotJoinOrDisturb(t *testing.T) {
	dir := t.TempDir()
	c := brokertest.NewCluster(t, 3, brokertest.TLS(t, dir), calm)
	lead := c.Leader()
	leaderID, term := lead.ID(), lead.NodeState().Term

	// The rogue: a node certificate of another CA; it trusts our CA.
	rdir := t.TempDir()
	if _, err := tlsconf.WriteFiles(rdir, []string{"rogue"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	ourCA, err := os.ReadFile(filepath.Join(dir, tlsconf.CAFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rdir, tlsconf.CAFileName), ourCA, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := brokertest.Config(t, 8)
	cfg.ID, cfg.Join, cfg.StartTimeout = "rogue", c.Addrs(), 2*time.Second
	cfg.TLS, cfg.PeerTLS = brokertest.NodeTLS(t, rdir, "rogue")
	if b, err := broker.Start(cfg); err == nil {
		b.Close()
		t.Fatal("a node with another CA's certificate joined")
	} else if !errors.Is(err, broker.ErrStartTimeout) {
		t.Fatalf("rogue join: %v; want ErrStartTimeout", err)
	}
	nativeFails := uint64(0)
	for i := range c.Len() {
		nativeFails += c.Broker(i).TLSHandshakeFailures("native")
	}
	if nativeFails == 0 {
		t.Fatal("the rogue's join attempts were not refused at the TLS handshake")
	}

	// Its Raft traffic: refused at the handshake, counted on our side.
	cert, err := tls.LoadX509KeyPair(tlsconf.NodeFiles(rdir, "rogue").CertFile, tlsconf.NodeFiles(rdir, "rogue").KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	rogueTLS := &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	const rounds = 5
	for range rounds {
		if n := voteAttack(t, rogueTLS, raftAddrs(c), term+100); n != 0 {
			t.Fatalf("%d nodes answered the rogue's vote request", n)
		}
	}
	raftFails := func() uint64 {
		var n uint64
		for i := range c.Len() {
			n += c.Broker(i).TLSHandshakeFailures("raft")
		}
		return n
	}
	waitUntil(t, "the rogue's handshakes refused", func() bool { return raftFails() >= rounds*3 })
	for i := range c.Len() {
		st := c.Broker(i).NodeState()
		if st.LeaderID != leaderID || st.Term != term {
			t.Fatalf("n%d: leader %q term %d; want leader %q term %d unchanged", i+1, st.LeaderID, st.Term, leaderID, term)
		}
	}
	cl := newTLSClient(t, brokertest.ClientTLS(t, dir, ""), c.Addrs()...)
	desc, err := cl.ClusterStatus(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Nodes) != 3 {
		t.Fatalf("cluster has %d nodes; want 3: %+v", len(desc.Nodes), desc.Nodes)
	}
}

// serialAt returns the serial number of the certificate a fresh TLS
// connection to addr is shown.
func serialAt(t *testing.T, addr string, tcfg *tls.Config) *big.Int {
	t.Helper()
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	return tc.ConnectionState().PeerCertificates[0].SerialNumber
}

// rotate writes a new certificate of the CA in dir for node id (key
// first, each file through a rename) and returns its serial number.
func rotate(t *testing.T, dir, id string) *big.Int {
	t.Helper()
	ca, err := tlsconf.LoadCA(filepath.Join(dir, tlsconf.CAFileName), filepath.Join(dir, tlsconf.CAKeyName))
	if err != nil {
		t.Fatal(err)
	}
	cp, kp, err := ca.NodeCert(id, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := tlsconf.NodeFiles(dir, id)
	for _, w := range []struct {
		name string
		data []byte
	}{{f.KeyFile, kp}, {f.CertFile, cp}} {
		if err := os.WriteFile(w.name+".new", w.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(w.name+".new", w.name); err != nil {
			t.Fatal(err)
		}
	}
	leaf, err := tls.X509KeyPair(cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	return leaf.Leaf.SerialNumber
}

// TestTLSCertificateRotationUnderLoad rewrites every node's certificate
// files while a producer runs: new handshakes (a fresh client's, and
// Raft's) present the new certificates, the producer goes on, and no
// acknowledged message is lost.
func TestTLSCertificateRotationUnderLoad(t *testing.T) {
	dir := t.TempDir()
	c := brokertest.NewCluster(t, 3, brokertest.TLS(t, dir))
	ctcfg := brokertest.ClientTLS(t, dir, "")
	cl := newTLSClient(t, ctcfg, c.Addrs()...)
	ctx := ctxT(t)
	if err := cl.CreateTopic(ctx, "rot", client.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex // guards acked
		acked []string
	)
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll, Retries: 20})
		defer p.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			v := fmt.Sprintf("m%d", i)
			if _, err := p.Produce(ctx, client.Message{Topic: "rot", Value: []byte(v)}); err != nil {
				if errors.Is(err, client.ErrOutcomeUnknown) {
					continue // maybe stored: a duplicate-tolerant check below
				}
				done <- err
				return
			}
			mu.Lock()
			acked = append(acked, v)
			mu.Unlock()
		}
	}()
	waitUntil(t, "the producer running", func() bool { return ackedCount() > 20 })

	old := make([]*big.Int, c.Len())
	fresh := make([]*big.Int, c.Len())
	for i := range c.Len() {
		old[i] = serialAt(t, c.Addrs()[i], ctcfg)
		fresh[i] = rotate(t, dir, c.Broker(i).ID())
		if fresh[i].Cmp(old[i]) == 0 {
			t.Fatal("the new certificate has the old serial")
		}
	}
	for i := range c.Len() {
		waitUntil(t, fmt.Sprintf("n%d serving its new certificate", i+1), func() bool {
			return serialAt(t, c.Addrs()[i], ctcfg).Cmp(fresh[i]) == 0
		})
	}
	// Raft connections made after the rotation use the new certificates
	// too: kill the leader, so the others dial each other afresh to elect.
	n := ackedCount()
	waitUntil(t, "the producer going on after the rotation", func() bool { return ackedCount() > n+20 })
	lead := c.WaitLeader()
	c.Kill(lead)
	waitUntil(t, "a new leader", func() bool {
		for i := range c.Len() {
			if b := c.Broker(i); b != nil && b.IsLeader() {
				return true
			}
		}
		return false
	})
	n = ackedCount()
	waitUntil(t, "the producer going on after the failover", func() bool { return ackedCount() > n+20 })
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("producer: %v", err)
	}

	// A new client (fresh handshakes everywhere) reads every acked message.
	seen := map[string]bool{}
	for _, r := range readAll(t, newTLSClient(t, ctcfg, c.Addrs()[(lead+1)%3]), "rot", 0) {
		seen[string(r.Value)] = true
	}
	mu.Lock()
	defer mu.Unlock()
	for _, v := range acked {
		if !seen[v] {
			t.Fatalf("acked message %s lost (%d acked, %d stored)", v, len(acked), len(seen))
		}
	}
	t.Logf("%d messages acked across the rotation and a failover, none lost", len(acked))
}
