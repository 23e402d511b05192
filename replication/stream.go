package replication

import (
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// tcpStream is the Raft transport's stream layer: it accepts on a TCP
// listener (bound by NewNode, or handed over in NodeConfig.RaftListener)
// and dials peers over plain TCP. It is safe for concurrent use.
type tcpStream struct {
	ln        net.Listener
	advertise net.Addr // the address peers dial us at; nil: ln's address

	closeOnce sync.Once
	closeErr  error // the result of closing ln; set once by Close
}

// newTCPStream returns a stream layer over ln that tells peers advertise
// (nil: ln's address) as its address.
func newTCPStream(ln net.Listener, advertise net.Addr) *tcpStream {
	return &tcpStream{ln: ln, advertise: advertise}
}

// Accept waits for the next inbound connection; it blocks until one
// arrives or the stream is closed (then it returns the listener's error).
func (s *tcpStream) Accept() (net.Conn, error) { return s.ln.Accept() }

// Close closes the listener. It is idempotent: every call returns the
// first call's result. Accepted and dialed connections stay open.
func (s *tcpStream) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.ln.Close() })
	return s.closeErr
}

// Addr returns the advertised address, else the listener's.
func (s *tcpStream) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.ln.Addr()
}

// Dial connects to a peer's Raft transport over TCP; it blocks for up to
// timeout and returns the dialer's error.
func (s *tcpStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", string(address))
}
