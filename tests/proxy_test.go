package tests

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// ackDropper is a TCP proxy on loopback between clients and a broker that
// loses acknowledgements: for every dropEvery-th request it forwards the
// request, waits for the broker's response, and then cuts the client's
// connection instead of forwarding it. The write happened; the client
// cannot know. That is the ambiguous failure that makes retries duplicate.
type ackDropper struct {
	ln        net.Listener
	target    string
	dropEvery int64
	requests  atomic.Int64
	dropped   atomic.Int64
	wg        sync.WaitGroup
}

func newAckDropper(t *testing.T, dropEvery int64) *ackDropper {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &ackDropper{ln: ln, dropEvery: dropEvery}
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *ackDropper) Addr() string { return p.ln.Addr().String() }

// start forwards to target (the broker's listen address).
func (p *ackDropper) start(target string) {
	p.target = target
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
}

// readFrame reads one length-prefixed frame whole.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	f := make([]byte, 4+binary.BigEndian.Uint32(hdr[:]))
	copy(f, hdr[:])
	_, err := io.ReadFull(r, f[4:])
	return f, err
}

// serve relays one client connection frame by frame, one request at a
// time in each direction (responses are relayed by a second goroutine).
func (p *ackDropper) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	drop := make(chan struct{}, 1) // a request whose response must be lost
	done := make(chan struct{})
	go func() { // broker -> client
		defer close(done)
		for {
			f, err := readFrame(server)
			if err != nil {
				client.Close()
				return
			}
			select {
			case <-drop:
				p.dropped.Add(1)
				client.Close() // the ack is lost with the connection
				return
			default:
			}
			if _, err := client.Write(f); err != nil {
				return
			}
		}
	}()
	for {
		f, err := readFrame(client)
		if err != nil {
			break
		}
		if n := p.requests.Add(1); p.dropEvery > 0 && n%p.dropEvery == 0 {
			drop <- struct{}{}
			server.Write(f)
			break // take no more requests on this connection
		}
		if _, err := server.Write(f); err != nil {
			break
		}
	}
	<-done
}
