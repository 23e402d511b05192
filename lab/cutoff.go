package lab

import (
	"fmt"
	"io"
	"net"
	"sync"
)

// links carries the lab cluster's Raft traffic: node i reaches node j's
// Raft transport through a proxy of its own (the link i->j), so cutting
// node k closes every link to and from k and refuses new connections on
// them, while its client port stays open. Safe for concurrent use.
type links struct {
	n     int
	raft  []string       // node j's Raft address, fixed before it starts
	lns   []net.Listener // the proxy of link i->j at i*n+j (nil for i == j)
	wg    sync.WaitGroup // accept loops and pipes
	mu    sync.Mutex     // guards cut and conns
	cut   []bool         // node k is cut off
	conns map[net.Conn][2]int
}

// newLinks reserves a Raft address per node and starts the n*(n-1) link
// proxies.
func newLinks(n int) (*links, error) {
	l := &links{n: n, raft: make([]string, n), lns: make([]net.Listener, n*n), cut: make([]bool, n), conns: map[net.Conn][2]int{}}
	for j := range n {
		// Reserve a port for node j's Raft transport: the proxies must know
		// where to dial before the node starts. Another program could take
		// it between Close and the node's Listen; the node then fails to
		// start with "address in use".
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			l.close()
			return nil, fmt.Errorf("lab: reserve a raft port: %w", err)
		}
		l.raft[j] = ln.Addr().String()
		ln.Close()
	}
	for i := range n {
		for j := range n {
			if i == j {
				continue
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				l.close()
				return nil, fmt.Errorf("lab: link proxy: %w", err)
			}
			l.lns[i*n+j] = ln
			l.wg.Add(1)
			go l.accept(ln, i, j)
		}
	}
	return l, nil
}

// raftAddr is node i's Raft address.
func (l *links) raftAddr(i int) string { return l.raft[i] }

// via returns the address node i dials to reach node id ("n<j+1>"), or
// "" (dial directly) for an id it does not know.
func (l *links) via(i int, id string) string {
	var j int
	if _, err := fmt.Sscanf(id, "n%d", &j); err != nil || j < 1 || j > l.n || j-1 == i {
		return ""
	}
	return l.lns[i*l.n+j-1].Addr().String()
}

func (l *links) accept(ln net.Listener, i, j int) {
	defer l.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.pipe(c, i, j) }()
	}
}

// track registers c as a connection of link i->j; it reports false (and
// the caller closes c) when the link is cut or the proxies are closed.
func (l *links) track(c net.Conn, i, j int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == nil || l.cut[i] || l.cut[j] {
		return false
	}
	l.conns[c] = [2]int{i, j}
	return true
}

func (l *links) untrack(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

// pipe carries one connection of link i->j both ways.
func (l *links) pipe(from net.Conn, i, j int) {
	defer from.Close()
	if !l.track(from, i, j) {
		return
	}
	defer l.untrack(from)
	to, err := net.Dial("tcp", l.raft[j])
	if err != nil {
		return
	}
	defer to.Close()
	if !l.track(to, i, j) {
		return
	}
	defer l.untrack(to)
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(from, to)
		from.Close()
	}()
	io.Copy(to, from)
	to.Close()
	<-done
}

// setCut cuts node k off (or reconnects it): its links' connections are
// closed and new ones refused until it is reconnected.
func (l *links) setCut(k int, cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut[k] = cut
	if !cut {
		return
	}
	for c, ij := range l.conns {
		if ij[0] == k || ij[1] == k {
			c.Close()
		}
	}
}

// isCut reports whether node k is cut off.
func (l *links) isCut(k int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut[k]
}

// close closes every proxy and connection and blocks until their
// goroutines have returned. Idempotent.
func (l *links) close() {
	l.mu.Lock()
	for _, ln := range l.lns {
		if ln != nil {
			ln.Close()
		}
	}
	for c := range l.conns {
		c.Close()
	}
	l.conns = nil
	l.mu.Unlock()
	l.wg.Wait()
}
