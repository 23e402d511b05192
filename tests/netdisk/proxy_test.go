package netdisk

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
)

// linkMode is what a link does with traffic.
type linkMode int

const (
	// pass relays bytes both ways.
	pass linkMode = iota
	// blackhole accepts connections and swallows every byte both ways,
	// never answering: a peer sees its writes succeed and its reads time
	// out, as across a switch that drops packets. Connections that lost
	// bytes stay dead for good (their streams are broken); pass closes
	// them, and the peer reconnects.
	blackhole
	// drop closes every connection and refuses new ones (accepts and
	// closes them at once): a peer sees connection resets, as when a
	// firewall rejects.
	drop
)

// link is a TCP proxy on loopback for one direction of one Raft link: the
// connections one node opens to one peer. It is safe for concurrent use.
type link struct {
	ln       net.Listener
	target   string
	accepted atomic.Int64 // connections accepted, in any mode

	mu     sync.Mutex // guards mode, pairs and closed
	mode   linkMode
	pairs  map[*pair]struct{} // open connections
	closed bool
	wg     sync.WaitGroup // the accept loop and the relays
}

// pair is one relayed connection: c from the dialer, s to the target (nil
// for a connection accepted while blackholed).
type pair struct {
	c, s net.Conn
	// swallowed (guarded by link.mu) is set once the pair has lost bytes
	// to a blackhole: it never relays again and is closed on pass.
	swallowed bool
}

func (p *pair) close() {
	p.c.Close()
	if p.s != nil {
		p.s.Close()
	}
}

func newLink(t *testing.T, target string) *link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{ln: ln, target: target, pairs: map[*pair]struct{}{}}
	l.wg.Add(1)
	go l.accept()
	t.Cleanup(l.close)
	return l
}

func (l *link) Addr() string { return l.ln.Addr().String() }

// Set switches the link's mode (see linkMode).
func (l *link) Set(m linkMode) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mode = m
	for p := range l.pairs {
		switch {
		case m == blackhole:
			p.swallowed = true
		case m == drop, m == pass && p.swallowed:
			p.close() // its relays remove it
		}
	}
}

func (l *link) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.accepted.Add(1)
		l.mu.Lock()
		mode := l.mode
		l.mu.Unlock()
		p := &pair{c: c, swallowed: mode == blackhole}
		if mode == drop {
			c.Close()
			continue
		}
		if mode == pass {
			if p.s, err = net.Dial("tcp", l.target); err != nil {
				c.Close() // the target is down: the dialer sees a reset
				continue
			}
		}
		l.mu.Lock()
		if l.closed || l.mode != mode {
			l.mu.Unlock()
			p.close() // closing, or the mode changed meanwhile: let it redial
			continue
		}
		l.pairs[p] = struct{}{}
		if p.s == nil {
			l.wg.Add(1)
			go l.relay(p, nil, c)
		} else {
			l.wg.Add(2)
			go l.relay(p, p.s, c)
			go l.relay(p, c, p.s)
		}
		l.mu.Unlock()
	}
}

// relay copies src to dst (nil: nowhere) until either side fails, then
// closes the pair.
func (l *link) relay(p *pair, dst, src net.Conn) {
	defer l.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		l.mu.Lock()
		swallow := p.swallowed
		l.mu.Unlock()
		if n > 0 && !swallow && dst != nil {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			l.mu.Lock()
			delete(l.pairs, p)
			l.mu.Unlock()
			p.close()
			return
		}
	}
}

func (l *link) close() {
	l.mu.Lock()
	l.closed = true
	l.ln.Close()
	for p := range l.pairs {
		p.close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// mesh routes every node's Raft connections to each peer through a link of
// its own (one per directed pair of nodes), so that a test can cut exactly
// the links to and from one node. It is safe for concurrent use.
type mesh struct {
	t     *testing.T
	mu    sync.Mutex          // guards links
	links map[[2]string]*link // {from, to} node IDs -> link
}

func newMesh(t *testing.T) *mesh { return &mesh{t: t, links: map[[2]string]*link{}} }

// mod is a brokertest config mod that makes a node dial its peers as the
// mesh routes them.
func (m *mesh) mod(_ int, cfg *broker.Config) {
	self := cfg.ID
	cfg.RaftPeerAddr = func(peer string) string {
		m.mu.Lock()
		defer m.mu.Unlock()
		if l := m.links[[2]string{self, peer}]; l != nil {
			return l.Addr()
		}
		return "" // not routed yet: dial directly
	}
}

// install creates a link for every directed pair of c's nodes and restarts
// the followers one by one, so that from then on every Raft connection
// goes through a link: a node that does not know a peer's address yet
// (while it joins) dials it directly, so install runs once the cluster is
// up. Every connection has a restarted node at one end at least (the
// leader's to the followers broke when they stopped), so all are redialed
// through the mesh.
func (m *mesh) install(c *brokertest.Cluster) {
	m.t.Helper()
	m.mu.Lock()
	for i := range c.Len() {
		for j := range c.Len() {
			if i != j {
				from, to := c.Broker(i), c.Broker(j)
				m.links[[2]string{from.ID(), to.ID()}] = newLink(m.t, to.RaftAddr())
			}
		}
	}
	m.mu.Unlock()
	lead := c.WaitLeader()
	for i := range c.Len() {
		if i == lead {
			continue
		}
		c.Kill(i)
		b := c.Restart(i)
		waitUntil(m.t, b.ID()+" to know a leader again", func() bool {
			id, _ := b.Leader()
			return id != ""
		})
	}
}

// isolate sets every link to and from node id to mode (pass heals them).
func (m *mesh) isolate(id string, mode linkMode) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, l := range m.links {
		if k[0] == id || k[1] == id {
			l.Set(mode)
		}
	}
}

// accepted is the number of connections the link from -> to accepted.
func (m *mesh) accepted(from, to string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.links[[2]string{from, to}]; l != nil {
		return l.accepted.Load()
	}
	return 0
}

// TestLinkModes pins the proxy's modes against an echo server: pass
// relays; blackhole swallows (a write succeeds, nothing comes back) and
// pass then closes the swallowing connection; drop closes connections.
func TestLinkModes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); io.Copy(c, c); c.Close() }()
		}
	}()
	l := newLink(t, ln.Addr().String())
	dial := func() net.Conn {
		c, err := net.Dial("tcp", l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	echo := func(c net.Conn) error {
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(waitTimeout))
		buf := make([]byte, 4)
		_, err := io.ReadFull(c, buf)
		return err
	}
	c := dial()
	if err := echo(c); err != nil {
		t.Fatalf("pass: %v", err)
	}
	l.Set(blackhole)
	if _, err := c.Write([]byte("lost")); err != nil {
		t.Fatalf("blackhole: write: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackhole: read %d bytes, %v; want nothing", n, err)
	}
	l.Set(pass)
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := c.Read(make([]byte, 4)); errors.Is(err, os.ErrDeadlineExceeded) || err == nil {
		t.Fatalf("pass after blackhole: the swallowing connection was not closed: %v", err)
	}
	if err := echo(dial()); err != nil {
		t.Fatalf("pass after blackhole, new connection: %v", err)
	}
	l.Set(drop)
	if err := echo(dial()); err == nil {
		t.Fatal("drop: a new connection relayed")
	}
	l.Set(pass)
	if err := echo(dial()); err != nil {
		t.Fatalf("pass after drop: %v", err)
	}
}
