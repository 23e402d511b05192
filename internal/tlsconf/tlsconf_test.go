package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeNode writes a node certificate of ca for id into dir and returns
// its files (with ca.crt of ca).
func writeNode(t *testing.T, ca *CA, dir, id string) Files {
	t.Helper()
	cp, kp, err := ca.NodeCert(id, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := NodeFiles(dir, id)
	mustWrite(t, f.CertFile, cp)
	mustWrite(t, f.KeyFile, kp)
	mustWrite(t, f.CAFile, ca.CertPEM())
	caKey, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, CAKeyName), caKey)
	return f
}

func mustWrite(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := writeFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func newCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func reloader(t *testing.T, f Files) *Reloader {
	t.Helper()
	r, err := New(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// handshake runs a server handshake with scfg on one end of a loopback
// connection and Client with ccfg on the other. It returns both sides'
// errors and the client's connection state.
func handshake(t *testing.T, scfg, ccfg *tls.Config) (serr, cerr error, cs tls.ConnectionState, ss tls.ConnectionState) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			serr = err
			return
		}
		c := Server(nc, scfg, 5*time.Second, nil)
		serr = c.Handshake()
		ss = c.ConnectionState()
		if serr == nil {
			c.Write([]byte{1}) // lets the client see a late refusal (TLS 1.3)
		}
		c.Close()
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tc, cerr := Client(context.Background(), nc, ccfg, ln.Addr().String(), 5*time.Second)
	if cerr == nil {
		cs = tc.ConnectionState()
		var b [1]byte
		if _, err := tc.Read(b[:]); err != nil {
			cerr = err
		}
		tc.Close()
	}
	<-done
	return serr, cerr, cs, ss
}

func TestServerConfigClientCertOptional(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	srv := reloader(t, writeNode(t, ca, dir, "n1"))
	scfg, err := srv.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	// Without a client certificate: served, anonymous.
	anon := reloader(t, Files{CAFile: filepath.Join(dir, CAFileName)})
	serr, cerr, cs, ss := handshake(t, scfg, anon.ClientConfig())
	if serr != nil || cerr != nil {
		t.Fatalf("handshake: server %v, client %v", serr, cerr)
	}
	if cs.Version < tls.VersionTLS12 {
		t.Fatalf("version %x", cs.Version)
	}
	if p, ok := Principal(ss); ok {
		t.Fatalf("principal %+v without a client certificate", p)
	}
	// With alice's certificate: the principal is alice, not a node.
	if _, err := WriteFiles(dir, nil, []string{"alice"}, nil); err != nil {
		t.Fatal(err)
	}
	alice := reloader(t, ClientFiles(dir, "alice"))
	serr, cerr, _, ss = handshake(t, scfg, alice.ClientConfig())
	if serr != nil || cerr != nil {
		t.Fatalf("handshake: server %v, client %v", serr, cerr)
	}
	p, ok := Principal(ss)
	if !ok || p.User != "alice" || p.Superuser || p.Node {
		t.Fatalf("principal %+v, %v; want alice", p, ok)
	}
	// A node's certificate makes a superuser node.
	n2 := reloader(t, writeNode(t, ca, dir, "n2"))
	_, _, _, ss = handshake(t, scfg, n2.ClientConfig())
	if p, ok := Principal(ss); !ok || p.User != "node:n2" || !p.Superuser || !p.Node {
		t.Fatalf("principal %+v, %v; want node:n2", p, ok)
	}
	// A client certificate from another CA is refused.
	other := newCA(t)
	odir := t.TempDir()
	ofiles := writeNode(t, other, odir, "n9")
	ofiles.CAFile = filepath.Join(dir, CAFileName) // trusts our CA, presents theirs
	serr, _, _, _ = handshake(t, scfg, reloader(t, ofiles).ClientConfig())
	if serr == nil {
		t.Fatal("a client certificate from another CA was accepted")
	}
}

func TestPeerConfigRefusesOtherCAAndNonNodes(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	p1, err := reloader(t, writeNode(t, ca, dir, "n1")).PeerConfig()
	if err != nil {
		t.Fatal(err)
	}
	p2, err := reloader(t, writeNode(t, ca, dir, "n2")).PeerConfig()
	if err != nil {
		t.Fatal(err)
	}
	// Control: two nodes of the same CA talk.
	serr, cerr, cs, ss := handshake(t, p1, p2)
	if serr != nil || cerr != nil {
		t.Fatalf("nodes of one CA: server %v, client %v", serr, cerr)
	}
	if p, ok := Principal(ss); !ok || p.User != "node:n2" {
		t.Fatalf("server saw %+v", p)
	}
	if cn := cs.PeerCertificates[0].Subject.CommonName; cn != "node:n1" {
		t.Fatalf("client saw %q", cn)
	}

	// A node of another CA (that trusts ours, to isolate the server's
	// check) is refused by the server.
	odir := t.TempDir()
	of := writeNode(t, newCA(t), odir, "rogue")
	of.CAFile = filepath.Join(dir, CAFileName)
	rogue, err := reloader(t, of).PeerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if serr, cerr, _, _ := handshake(t, p1, rogue); serr == nil || cerr == nil {
		t.Fatalf("rogue client: server %v, client %v; want both refused", serr, cerr)
	}
	// And a node dialing the rogue (as server) refuses it.
	if serr, cerr, _, _ := handshake(t, rogue, p1); cerr == nil {
		t.Fatalf("rogue server: server %v, client %v; want the client to refuse", serr, cerr)
	}
	// A client certificate of our CA is no node: refused on the peer port.
	if _, err := WriteFiles(dir, nil, []string{"alice"}, nil); err != nil {
		t.Fatal(err)
	}
	alice := reloader(t, ClientFiles(dir, "alice")).ClientConfig()
	serr, _, _, _ = handshake(t, p1, alice)
	if !errors.Is(serr, ErrHandshake) {
		t.Fatalf("alice on the peer port: server %v; want a refused handshake", serr)
	}
	// No certificate at all: refused.
	serr, _, _, _ = handshake(t, p1, reloader(t, Files{CAFile: filepath.Join(dir, CAFileName)}).ClientConfig())
	if serr == nil {
		t.Fatal("a peer without a certificate was accepted")
	}
}

func serial(t *testing.T, scfg *tls.Config, ccfg *tls.Config) *big.Int {
	t.Helper()
	serr, cerr, cs, _ := handshake(t, scfg, ccfg)
	if serr != nil || cerr != nil {
		t.Fatalf("handshake: server %v, client %v", serr, cerr)
	}
	return cs.PeerCertificates[0].SerialNumber
}

func TestReloadRotatesAndKeepsOldOnBadFiles(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	f := writeNode(t, ca, dir, "n1")
	r := reloader(t, f)
	scfg, _ := r.ServerConfig()
	ccfg := reloader(t, Files{CAFile: f.CAFile}).ClientConfig()
	first := serial(t, scfg, ccfg)

	// Rotate: a new certificate from the same CA.
	cp, kp, err := ca.NodeCert("n1", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f.KeyFile, kp)
	mustWrite(t, f.CertFile, cp)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	second := serial(t, scfg, ccfg)
	if second.Cmp(first) == 0 {
		t.Fatal("the rotated certificate is not served")
	}
	if r.Leaf().SerialNumber.Cmp(second) != 0 {
		t.Fatal("Leaf is not the served certificate")
	}

	// A half-written certificate: Reload fails, the old one stays.
	good, _ := os.ReadFile(f.CertFile)
	mustWrite(t, f.CertFile, good[:len(good)/2])
	if err := r.Reload(); !errors.Is(err, ErrLoad) {
		t.Fatalf("Reload of a torn file: %v; want ErrLoad", err)
	}
	if got := serial(t, scfg, ccfg); got.Cmp(second) != 0 {
		t.Fatal("a bad file replaced the certificate in use")
	}
	// A key that does not match.
	_, otherKey, _ := ca.NodeCert("n1", nil, 0)
	mustWrite(t, f.CertFile, good)
	mustWrite(t, f.KeyFile, otherKey)
	if err := r.Reload(); !errors.Is(err, ErrLoad) {
		t.Fatalf("Reload of a mismatched key: %v; want ErrLoad", err)
	}
	if got := serial(t, scfg, ccfg); got.Cmp(second) != 0 {
		t.Fatal("a mismatched key replaced the certificate in use")
	}

	// The CA is re-read too: rotate to a new CA and a certificate of it;
	// a client trusting only the old CA is refused, one trusting the new
	// one served.
	ca2 := newCA(t)
	cp, kp, _ = ca2.NodeCert("n1", nil, 0)
	mustWrite(t, f.KeyFile, kp)
	mustWrite(t, f.CertFile, cp)
	mustWrite(t, f.CAFile, ca2.CertPEM())
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, cerr, _, _ := handshake(t, scfg, ccfg); cerr == nil {
		t.Fatal("a client of the old CA accepted the new CA's certificate")
	}
	serial(t, scfg, reloader(t, Files{CAFile: f.CAFile}).ClientConfig())
}

func TestReloadOnHandshakeAfterInterval(t *testing.T) {
	ca := newCA(t)
	dir := t.TempDir()
	f := writeNode(t, ca, dir, "n1")
	r := reloader(t, f)
	scfg, _ := r.ServerConfig()
	ccfg := reloader(t, Files{CAFile: f.CAFile}).ClientConfig()
	first := serial(t, scfg, ccfg)
	cp, kp, _ := ca.NodeCert("n1", nil, 0)
	mustWrite(t, f.KeyFile, kp)
	mustWrite(t, f.CertFile, cp)
	// No Reload call: a handshake a second later picks the files up.
	deadline := time.Now().Add(5 * time.Second)
	for serial(t, scfg, ccfg).Cmp(first) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the rotated certificate was not picked up by handshakes")
		}
		time.Sleep(50 * time.Millisecond) // polling a condition
	}
}

func TestPlaintextRefusedAndCounted(t *testing.T) {
	ca := newCA(t)
	r := reloader(t, writeNode(t, ca, t.TempDir(), "n1"))
	scfg, _ := r.ServerConfig()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fails := NewFailureLog(nil, "test")
	ln := NewListener(raw, scfg, time.Second, fails)
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		_, err = c.Read(make([]byte, 10))
		errc <- err
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte{0, 0, 0, 9, 0, 3, 0, 0, 0, 0, 0, 1, 0}) // a native frame
	if err := <-errc; !errors.Is(err, ErrHandshake) {
		t.Fatalf("read after plaintext: %v; want ErrHandshake", err)
	}
	if fails.Total() != 1 {
		t.Fatalf("failures counted %d; want 1", fails.Total())
	}
	// The connection is closed: the client reads an alert and then EOF,
	// never a broker answer.
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(nc); err != nil && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("connection left open after a failed handshake")
		}
	}
}

func TestNewRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []Files{
		{},
		{CertFile: filepath.Join(dir, "x.crt")},
		{CAFile: filepath.Join(dir, "missing.crt")},
	} {
		if _, err := New(f, nil); !errors.Is(err, ErrLoad) {
			t.Errorf("New(%+v): %v; want ErrLoad", f, err)
		}
	}
	mustWrite(t, filepath.Join(dir, "empty.crt"), []byte("not pem"))
	if _, err := New(Files{CAFile: filepath.Join(dir, "empty.crt")}, nil); !errors.Is(err, ErrLoad) {
		t.Errorf("a CA file without certificates: %v; want ErrLoad", err)
	}
	r := reloader(t, writeNode(t, newCA(t), dir, "n1"))
	if _, err := reloader(t, Files{CAFile: r.Files().CAFile}).ServerConfig(); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("ServerConfig without a certificate: %v", err)
	}
}

func TestWriteFilesKeepsCA(t *testing.T) {
	dir := t.TempDir()
	w, err := WriteFiles(dir, []string{"n1", "n2"}, []string{"alice"}, []string{"broker.example", "10.0.0.7"})
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 8 {
		t.Fatalf("wrote %v", w)
	}
	fi, err := os.Stat(filepath.Join(dir, CAKeyName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca.key: %v %v", fi, err)
	}
	ca1, _ := os.ReadFile(filepath.Join(dir, CAFileName))
	if _, err := WriteFiles(dir, []string{"n3"}, nil, nil); err != nil {
		t.Fatal(err)
	}
	ca2, _ := os.ReadFile(filepath.Join(dir, CAFileName))
	if !bytes.Equal(ca1, ca2) {
		t.Fatal("a second WriteFiles replaced the CA")
	}
	leaf := reloader(t, NodeFiles(dir, "n1")).Leaf()
	if leaf.Subject.CommonName != "node:n1" || leaf.VerifyHostname("broker.example") != nil || leaf.VerifyHostname("10.0.0.7") != nil ||
		leaf.VerifyHostname("127.0.0.1") != nil {
		t.Fatalf("node certificate: CN %q, DNS %v, IPs %v", leaf.Subject.CommonName, leaf.DNSNames, leaf.IPAddresses)
	}
	// n3 is signed by the same CA as n1: they talk as peers.
	p1, _ := reloader(t, NodeFiles(dir, "n1")).PeerConfig()
	p3, _ := reloader(t, NodeFiles(dir, "n3")).PeerConfig()
	if serr, cerr, _, _ := handshake(t, p1, p3); serr != nil || cerr != nil {
		t.Fatalf("n1 and n3: %v %v", serr, cerr)
	}
}
