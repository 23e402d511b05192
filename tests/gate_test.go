package tests

import (
	"io"
	"net"
	"sync"
	"testing"
)

// gate is a TCP proxy on loopback that can be paused: while paused it
// accepts connections and holds every byte in both directions, as the
// network sees a process that was stopped (SIGSTOP). Resume lets the held
// bytes through.
type gate struct {
	ln     net.Listener
	target string

	mu     sync.Mutex // guards paused and conns; cond waits on it
	cond   *sync.Cond
	paused bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newGate(t *testing.T, target string) *gate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target}
	g.cond = sync.NewCond(&g.mu)
	g.wg.Add(1)
	go g.accept()
	t.Cleanup(g.close)
	return g
}

func (g *gate) Addr() string { return g.ln.Addr().String() }

// Pause holds all traffic from now on.
func (g *gate) Pause() { g.set(true) }

// Resume lets traffic flow again.
func (g *gate) Resume() { g.set(false) }

func (g *gate) set(paused bool) {
	g.mu.Lock()
	g.paused = paused
	g.mu.Unlock()
	g.cond.Broadcast()
}

func (g *gate) accept() {
	defer g.wg.Done()
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", g.target)
		if err != nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		g.conns = append(g.conns, c, s)
		g.mu.Unlock()
		g.wg.Add(2)
		go g.pipe(s, c)
		go g.pipe(c, s)
	}
}

// pipe copies src to dst, waiting while the gate is paused.
func (g *gate) pipe(dst, src net.Conn) {
	defer g.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		g.mu.Lock()
		for g.paused {
			g.cond.Wait()
		}
		g.mu.Unlock()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				src.Close()
			}
			return
		}
	}
}

func (g *gate) close() {
	g.ln.Close()
	g.mu.Lock()
	for _, c := range g.conns {
		c.Close()
	}
	g.paused = false
	g.mu.Unlock()
	g.cond.Broadcast()
	g.wg.Wait()
}
