//go:build !linux

package faultnet

import "net"

// portHold would keep a port for a node that is down (see hold_linux.go).
// Elsewhere than on Linux holdPort always fails with errHoldUnsupported:
// a node's Raft port is then released while it is down, and StartBroker
// retries while another socket has it.
type portHold struct {
	addr string
}

// holdPort returns errHoldUnsupported.
func holdPort(string) (*portHold, error) { return nil, errHoldUnsupported }

// listen returns errHoldUnsupported.
func (h *portHold) listen() (net.Listener, error) { return nil, errHoldUnsupported }

// release does nothing.
func (h *portHold) release() {}
