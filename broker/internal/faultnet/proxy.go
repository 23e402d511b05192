package faultnet

import (
	"net"
	"time"
)

// proxy is one listening TCP proxy: a Raft link (from -> to) or a front
// proxy of node to (from == -1). Its mutable fields are guarded by nt.mu.
type proxy struct {
	nt       *Net
	from, to int
	kafka    bool   // a front proxy of the Kafka listener
	addr     string // the address it listens on: fixed once it first listened

	ln     net.Listener      // nil while it does not listen
	target string            // a front proxy's node's listener ("" while unknown)
	conns  map[net.Conn]bool // open connections, both sides
}

func (p *proxy) front() bool { return p.from < 0 }

// listen opens p's listener (on p.addr, or a free port the first time)
// and starts accepting. nt.mu must not be held.
func (p *proxy) listen() error {
	var ln net.Listener
	var err error
	if p.addr != "" {
		ln, err = net.Listen("tcp", p.addr)
	} else {
		// A port below the ephemeral range: a stopped proxy listens on it
		// again, and no outgoing connection can have taken it meanwhile.
		ln, err = listenLow("127.0.0.1")
	}
	if err != nil {
		return err
	}
	p.nt.mu.Lock()
	defer p.nt.mu.Unlock()
	if p.nt.closed {
		ln.Close()
		return ErrClosed
	}
	p.addr, p.ln = ln.Addr().String(), ln
	p.nt.wg.Add(1)
	go p.accept(ln)
	return nil
}

// stopLocked closes p's listener and connections. nt.mu held.
func (p *proxy) stopLocked() {
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *proxy) accept(ln net.Listener) {
	defer p.nt.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.nt.wg.Add(1)
		go func() { defer p.nt.wg.Done(); p.serve(c) }()
	}
}

// track registers c as one of p's connections; false (and c is closed
// with a reset) when p is cut or closed.
func (p *proxy) track(c net.Conn) bool {
	p.nt.mu.Lock()
	defer p.nt.mu.Unlock()
	if p.nt.closed || p.nt.cutLocked(p) {
		resetClose(c)
		return false
	}
	p.conns[c] = true
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.nt.mu.Lock()
	defer p.nt.mu.Unlock()
	delete(p.conns, c)
}

// gate blocks while p's traffic is held and returns where to dial; ok
// false when c was closed meanwhile (a cut, Close).
func (p *proxy) gate(c net.Conn) (target string, ok bool) {
	for {
		p.nt.mu.Lock()
		if !p.conns[c] {
			p.nt.mu.Unlock()
			return "", false
		}
		if !p.nt.heldLocked(p) {
			target = p.target
			if !p.front() {
				target = p.nt.raftAddr[p.to]
			}
			p.nt.mu.Unlock()
			return target, true
		}
		ch := p.nt.changed
		p.nt.mu.Unlock()
		<-ch
	}
}

// serve carries one accepted connection to p's target and back.
func (p *proxy) serve(in net.Conn) {
	defer in.Close()
	if !p.track(in) {
		return
	}
	defer p.untrack(in)
	target, ok := p.gate(in)
	if !ok {
		return
	}
	out, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return // the node is down: the client sees its connection closed
	}
	defer out.Close()
	if !p.track(out) {
		return
	}
	defer p.untrack(out)
	done := make(chan struct{})
	go func() { defer close(done); p.copy(in, out) }()
	p.copy(out, in)
	<-done
}

// copy passes src's bytes to dst, each chunk once the gate opens, until
// either side fails; then it closes both.
func (p *proxy) copy(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, ok := p.gate(src); !ok {
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// resetClose closes c with a reset rather than an orderly close, as a
// peer that rejects the connection would.
func resetClose(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
