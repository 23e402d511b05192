package lab

import (
	"context"
	"net"
	"sync"
)

// answerHold sits in a Kafka client's dialer (kgo.Dialer) and can hold
// back the answers coming from one broker address: what the client reads
// on its connections to that address is swallowed and the reads block, as
// if the answers were still on their way, until drop fails them, as a
// killed broker's connections would. Requests still go out. Safe for
// concurrent use.
type answerHold struct {
	mu      sync.Mutex    // guards addr, dropped and release
	addr    string        // the address whose answers are held; "" none
	dropped bool          // the held connections fail
	release chan struct{} // closed by drop
}

func newAnswerHold() *answerHold { return &answerHold{release: make(chan struct{})} }

// dial dials addr and wraps the connection (a kgo.Dialer).
func (h *answerHold) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &heldConn{Conn: nc, h: h, addr: addr}, nil
}

// hold starts holding back the answers from addr.
func (h *answerHold) hold(addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.addr = addr
}

// drop fails the held connections: their reads return net.ErrClosed.
// Idempotent.
func (h *answerHold) drop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.dropped {
		h.dropped = true
		close(h.release)
	}
}

// heldConn is a client connection whose reads an answerHold may block.
type heldConn struct {
	net.Conn
	h    *answerHold
	addr string
}

// Read reads as usual, but what arrives once the answers from c's address
// are held is swallowed: the read blocks until drop, then fails (so a
// read already waiting when the hold begins is held too).
func (c *heldConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.h.mu.Lock()
	held, release := c.h.addr == c.addr, c.h.release
	c.h.mu.Unlock()
	if !held {
		return n, err
	}
	<-release // the broker is gone: what it had answered never arrives
	c.Conn.Close()
	return 0, net.ErrClosed
}
