package faultnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"syscall"
)

// errHoldUnsupported: ports cannot be held here (another OS, or an address
// that is not an IP literal); the caller falls back to releasing them.
var errHoldUnsupported = errors.New("faultnet: cannot hold a port here")

// holdLow holds a random free port of host (an IP literal) in
// [reserveLow, reserveHigh) (see reservePort). Errors: errHoldUnsupported
// (wrapped), none free after many tries, or a socket call's error.
func holdLow(host string) (*portHold, error) {
	var err error
	for range 1000 {
		var h *portHold
		h, err = holdPort(net.JoinHostPort(host, strconv.Itoa(reserveLow+rand.IntN(reserveHigh-reserveLow))))
		if err == nil {
			return h, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no free port in [%d, %d): %w", reserveLow, reserveHigh, err)
}

// RaftListener hands node i's held Raft port over as a listener, for
// broker.Config.RaftListener, before the node starts: the port stays
// taken throughout (see Prepare and Stopped). It returns nil and no error
// when the port is not held (the node is to bind cfg.RaftAddr itself:
// the port was chosen by the caller, or could not be held again after a
// stop). The hold ends either way: the caller must close the listener or
// hand it to broker.Start, and hold the port again if that fails;
// StartBroker does all of that. It does not block and is safe for
// concurrent use. Errors: listening on the held socket failed (the
// socket is closed).
func (nt *Net) RaftListener(i int) (net.Listener, error) {
	nt.mu.Lock()
	h := nt.holds[i]
	nt.holds[i] = nil
	nt.mu.Unlock()
	if h == nil {
		return nil, nil
	}
	ln, err := h.listen()
	if err != nil {
		return nil, fmt.Errorf("faultnet: node %d's raft port: %w", i+1, err)
	}
	return ln, nil
}

// hold holds node i's Raft port again, if Prepare held it, now that the
// node is down and its listener closed. When another socket took the
// port meanwhile there is no hold: the next start binds the port itself
// (StartBroker retries while it is taken). It does not block.
func (nt *Net) hold(i int) {
	nt.mu.Lock()
	addr, held := nt.holdAddr[i], nt.holds[i] != nil
	nt.mu.Unlock()
	if addr == "" || held {
		return
	}
	h, err := holdPort(addr)
	if err != nil {
		return
	}
	nt.mu.Lock()
	defer nt.mu.Unlock()
	if nt.closed || nt.holds[i] != nil {
		h.release()
		return
	}
	nt.holds[i] = h
}
