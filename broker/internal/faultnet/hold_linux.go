//go:build linux

package faultnet

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
)

// portHold keeps a TCP port for a node that is down: a socket bound to
// the port that does not listen. No other socket can bind the port
// meanwhile, and connections to it are refused, as to a stopped process
// (a listening socket would queue them in its backlog, and peers would
// wait for a timeout instead). It is not safe for concurrent use; Net
// hands each one to one caller.
type portHold struct {
	fd   int    // the bound socket; -1 once listened on or released
	addr string // host:port, as node configurations write it
}

// holdPort binds a new socket to addr (an IP literal and a port) without
// listening. Errors: errHoldUnsupported (wrapped) for an addr that is not
// an IP literal and port; otherwise the socket calls' (EADDRINUSE when
// another socket has the port).
func holdPort(addr string) (*portHold, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errHoldUnsupported, err)
	}
	family, sa := syscall.AF_INET6, syscall.Sockaddr(&syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()})
	if ip := ap.Addr().Unmap(); ip.Is4() {
		family, sa = syscall.AF_INET, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	// SO_REUSEADDR lets the bind succeed over the TIME_WAIT sockets that
	// the node's last run left on the port. It is turned off again at
	// once: while it is on, Linux lets another socket that sets it too
	// (as Go's net.Listen does) bind the port beside ours, since ours does
	// not listen.
	if err := setReuseAddr(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	if err := setReuseAddr(fd, false); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return &portHold{fd: fd, addr: addr}, nil
}

// listen turns the hold into a listener for the node and ends it (h must
// not be used after). Errors: those of listen(2) (EADDRINUSE if another
// socket bound the port in the moment SO_REUSEADDR was on) or of making
// a net.Listener of the socket; the socket is closed then.
func (h *portHold) listen() (net.Listener, error) {
	fd := h.fd
	h.fd = -1
	// SO_REUSEADDR back on, as net.Listen sets it: listen(2) checks the
	// port's TIME_WAIT sockets again, and the node's listener passes the
	// flag on to the connections it accepts, whose TIME_WAIT remains the
	// next hold must bind over.
	if err := setReuseAddr(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := syscall.Listen(fd, syscall.SOMAXCONN); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("listen", err)
	}
	f := os.NewFile(uintptr(fd), "raft listener "+h.addr)
	defer f.Close() // FileListener works on a duplicate
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("listener of %s: %w", h.addr, err)
	}
	return ln, nil
}

// release closes the socket, freeing the port. Idempotent.
func (h *portHold) release() {
	if h.fd >= 0 {
		syscall.Close(h.fd)
		h.fd = -1
	}
}

func setReuseAddr(fd int, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return os.NewSyscallError("setsockopt", syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, v))
}
