package faultnet

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// ErrClosed is returned by calls on a closed Net.
var ErrClosed = errors.New("faultnet: closed")

// Net is the proxied network of an n-node cluster: the Raft link proxies
// (node i to node j, for every i != j) and each node's front proxies. Its
// methods are safe for concurrent use and do not block, except Close.
type Net struct {
	n     int
	links []*proxy       // link i->j at i*n+j; nil for i == j
	wg    sync.WaitGroup // accept loops and connection goroutines

	mu sync.Mutex // guards every field below and the proxies' mutable fields
	// ids[j] is node j's id, as Raft dials it ("" until known).
	ids []string
	// raftAddr[j] is node j's Raft transport address ("" until known).
	raftAddr []string
	// holdAddr[j] is node j's Raft port, when Prepare chose it and holds it
	// while node j is down ("" otherwise). holds[j] is that hold: non-nil
	// only while node j is down (nil too if the port could not be held
	// again after a stop) and nt is not closed.
	holdAddr []string
	holds    []*portHold
	// fronts[k] are node k's front proxies (native, then Kafka, when set).
	fronts [][]*proxy
	// cutRaft[k]: node k's Raft links are cut. cutClients[k]: its front
	// proxies are too. paused[k]: nothing to or from node k moves.
	cutRaft, cutClients, paused []bool
	// changed is closed, and replaced, at every change of the above (and
	// at Close), waking the connections that wait for a pause to end.
	changed chan struct{}
	closed  bool
}

// New starts the n*(n-1) Raft link proxies of an n-node cluster on free
// ports of 127.0.0.1. Errors: a listener that cannot be opened (what was
// opened is closed).
func New(n int) (*Net, error) {
	nt := &Net{n: n, links: make([]*proxy, n*n), ids: make([]string, n), raftAddr: make([]string, n),
		holdAddr: make([]string, n), holds: make([]*portHold, n),
		fronts: make([][]*proxy, n), cutRaft: make([]bool, n), cutClients: make([]bool, n), paused: make([]bool, n),
		changed: make(chan struct{})}
	for i := range n {
		for j := range n {
			if i == j {
				continue
			}
			p := &proxy{nt: nt, from: i, to: j, conns: map[net.Conn]bool{}}
			if err := p.listen(); err != nil {
				nt.Close()
				return nil, fmt.Errorf("faultnet: link proxy: %w", err)
			}
			nt.links[i*n+j] = p
		}
	}
	return nt, nil
}

// Len is the number of nodes.
func (nt *Net) Len() int { return nt.n }

// RaftPeerAddr returns the address node i dials to reach the Raft
// transport of the node called id: its link proxy, or "" (dial the Raft
// configuration's address) for an id it does not know or whose Raft
// address is not known yet. It is fast and safe for concurrent use, as
// broker.Config.RaftPeerAddr requires.
func (nt *Net) RaftPeerAddr(i int, id string) string {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	for j, known := range nt.ids {
		if known == id && j != i && nt.raftAddr[j] != "" {
			return nt.links[i*nt.n+j].addr
		}
	}
	return ""
}

// Partition cuts node k off from the other nodes and from its clients:
// see the package documentation.
func (nt *Net) Partition(k int) { nt.change(func() { nt.cutRaft[k], nt.cutClients[k] = true, true }) }

// CutRaft cuts node k's Raft links only: its clients still reach it, its
// peers do not.
func (nt *Net) CutRaft(k int) { nt.change(func() { nt.cutRaft[k] = true }) }

// Heal ends every cut (not the pauses: see Resume).
func (nt *Net) Heal() {
	nt.change(func() {
		clear(nt.cutRaft)
		clear(nt.cutClients)
	})
}

// Pause holds all traffic to and from node k: see the package
// documentation.
func (nt *Net) Pause(k int) { nt.change(func() { nt.paused[k] = true }) }

// Resume lets node k's traffic move again, what was held first.
func (nt *Net) Resume(k int) { nt.change(func() { nt.paused[k] = false }) }

// IsCut reports whether node k's Raft links are cut.
func (nt *Net) IsCut(k int) bool {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	return nt.cutRaft[k]
}

// IsPaused reports whether node k is paused.
func (nt *Net) IsPaused(k int) bool {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	return nt.paused[k]
}

// change applies f to the state, closes the connections of every proxy
// that is now cut and wakes the waiting connections.
func (nt *Net) change(f func()) {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	if nt.closed {
		return
	}
	f()
	for _, p := range nt.allLocked() {
		if nt.cutLocked(p) {
			for c := range p.conns {
				resetClose(c)
				delete(p.conns, c)
			}
		}
	}
	close(nt.changed)
	nt.changed = make(chan struct{})
}

// allLocked returns every proxy. nt.mu held.
func (nt *Net) allLocked() []*proxy {
	var ps []*proxy
	for _, p := range nt.links {
		if p != nil {
			ps = append(ps, p)
		}
	}
	for _, fs := range nt.fronts {
		ps = append(ps, fs...)
	}
	return ps
}

// cutLocked reports whether p's traffic is cut. nt.mu held.
func (nt *Net) cutLocked(p *proxy) bool {
	if p.front() {
		return nt.cutClients[p.to]
	}
	return nt.cutRaft[p.from] || nt.cutRaft[p.to]
}

// heldLocked reports whether p's traffic is held (a pause, or a front
// proxy whose node's listener is not known yet). nt.mu held.
func (nt *Net) heldLocked(p *proxy) bool {
	if p.front() {
		return nt.paused[p.to] || p.target == ""
	}
	return nt.paused[p.from] || nt.paused[p.to] || nt.raftAddr[p.to] == ""
}

// Close closes every proxy and connection, releases the held Raft ports
// and blocks until the proxies' goroutines have returned. Idempotent.
func (nt *Net) Close() {
	nt.mu.Lock()
	if !nt.closed {
		nt.closed = true
		for _, p := range nt.allLocked() {
			p.stopLocked()
		}
		for i, h := range nt.holds {
			if h != nil {
				h.release()
				nt.holds[i] = nil
			}
		}
		close(nt.changed)
	}
	nt.mu.Unlock()
	nt.wg.Wait()
}
