package netdisk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// clientNet is a client's view of the network: which broker client
// addresses it can reach. Its Dial plugs into client.Config.Dial; block
// also closes the connections already open to an address, as a partition
// would. It is safe for concurrent use.
type clientNet struct {
	mu      sync.Mutex // guards only, blocked and conns
	only    string     // if set, the only reachable address
	blocked map[string]bool
	conns   map[string][]net.Conn
}

func newClientNet(only string) *clientNet {
	return &clientNet{only: only, blocked: map[string]bool{}, conns: map[string][]net.Conn{}}
}

var errUnreachable = errors.New("netdisk: unreachable across the partition")

func (n *clientNet) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	n.mu.Lock()
	bad := n.blocked[addr] || (n.only != "" && addr != n.only)
	n.mu.Unlock()
	if bad {
		return nil, fmt.Errorf("dial %s: %w", addr, errUnreachable)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.blocked[addr] || (n.only != "" && addr != n.only) {
		c.Close()
		return nil, fmt.Errorf("dial %s: %w", addr, errUnreachable)
	}
	n.conns[addr] = append(n.conns[addr], c)
	return c, nil
}

// block cuts addr off: open connections are closed, dials refused.
func (n *clientNet) block(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.blocked[addr] = true
	for _, c := range n.conns[addr] {
		c.Close()
	}
	delete(n.conns, addr)
}

// restrict makes addr the only reachable address: connections to the
// others are closed, dials to them refused.
func (n *clientNet) restrict(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.only = addr
	for a, cs := range n.conns {
		if a != addr {
			for _, c := range cs {
				c.Close()
			}
			delete(n.conns, a)
		}
	}
}

func (n *clientNet) unblock(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.blocked, addr)
}
