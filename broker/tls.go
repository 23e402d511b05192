package broker

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/internal/tlsconf"
	"github.com/minibroker/minibroker/internal/wire"
)

// Listener names of the TLS handshake failure counts (the listener label
// of minibroker_tls_handshake_failures_total).
const (
	listenerNative = "native"
	listenerKafka  = "kafka"
	listenerRaft   = "raft"
)

// handshakeTimeout bounds a TLS handshake on every listener.
const handshakeTimeout = 10 * time.Second

// tlsFailures counts and logs (rate limited) the failed handshakes of
// each listener; set in Start (before anything listens), read-only after.
type tlsFailures map[string]*tlsconf.FailureLog

func newTLSFailures(b *Broker) tlsFailures {
	f := tlsFailures{}
	for _, name := range []string{listenerNative, listenerKafka, listenerRaft} {
		f[name] = tlsconf.NewFailureLog(b.logger, name)
	}
	return f
}

// testWrapListener, set only by this package's tests before Start (never
// while a broker starts), wraps each client listener Start binds, to
// inject Accept faults. nil in production.
var testWrapListener func(ln net.Listener, name string) net.Listener

// wrapTLS serves ln with Config.TLS when it is set: each connection's
// handshake runs in its own goroutine (conn.handshake), bounded by
// handshakeTimeout. Without TLS it returns ln.
func (b *Broker) wrapTLS(ln net.Listener, name string) net.Listener {
	if testWrapListener != nil {
		ln = testWrapListener(ln, name)
	}
	if b.cfg.TLS == nil {
		return ln
	}
	return tlsconf.NewListener(ln, b.cfg.TLS, handshakeTimeout, b.tlsFails[name])
}

// registerTLSMetrics adds minibroker_tls_handshake_failures_total to reg.
func (b *Broker) registerTLSMetrics(reg *prometheus.Registry) {
	for name, f := range b.tlsFails {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace:   metricsNamespace,
			Name:        "tls_handshake_failures_total",
			Help:        "TLS handshakes that failed (plaintext on a TLS port, an untrusted or missing certificate, a timeout), by listener.",
			ConstLabels: prometheus.Labels{"listener": name},
		}, func() float64 { return float64(f.Total()) }))
	}
}

// TLSHandshakeFailures returns how many TLS handshakes failed on the
// listener named "native", "kafka" or "raft" (0 for another name). Safe
// for concurrent use.
func (b *Broker) TLSHandshakeFailures(listener string) uint64 {
	return b.tlsFails[listener].Total()
}

// handshake completes the TLS handshake of a connection accepted on a TLS
// listener, in the connection's goroutine, and takes the connection's
// principal from a verified client certificate unless it has one (with
// authentication off, every connection is the anonymous superuser and
// keeps that). It reports false when the handshake failed: the listener's
// FailureLog has counted and logged it (rate limited) and closed the
// connection. A plaintext connection is left as it is.
func (c *conn) handshake() bool {
	p, ok := tlsconf.Accept(c.ctx, c.nc, c.principal)
	c.principal = p
	return ok
}

// dialPeer dials another broker's client address: over TLS with
// Config.PeerTLS (presenting this node's certificate) when the client
// listeners speak TLS (Config.TLS), else plain TCP.
func (b *Broker) dialPeer(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil || !b.peerTLS() {
		return nc, err
	}
	return tlsconf.Client(ctx, nc, b.cfg.PeerTLS, addr, handshakeTimeout)
}

// peerTLS reports whether this node talks to its peers' client listeners
// over mutual TLS (Config.TLS and Config.PeerTLS both set), presenting its
// node certificate, which authenticates it as a node.
func (b *Broker) peerTLS() bool { return b.cfg.TLS != nil && b.cfg.PeerTLS != nil }

// joinCluster answers a JoinCluster request after requireNode allowed it
// for the node the request names.
func (c *conn) joinCluster(ctx context.Context, req *wire.JoinClusterRequest) wire.JoinClusterResponse {
	if err := c.requireNode(req.ID); err != nil {
		return wire.JoinClusterResponse{ErrorCode: codeOf(err), ErrorMessage: err.Error()}
	}
	return c.b.joinCluster(ctx, req)
}

// requireNode refuses a request only node id may send about itself
// (JoinCluster) on a connection that is not that node's, when nodes
// authenticate each other (Config.PeerTLS): the connection must present a
// certificate of the cluster's CA whose common name is
// auth.NodePrefix+id, so a node can neither join without one nor
// re-register another node. Without PeerTLS it allows everything. The
// error has code CodeClusterAuthorization.
func (c *conn) requireNode(id string) error {
	if c.b.cfg.PeerTLS == nil {
		return nil
	}
	// The certificate decides, not the principal: with authentication
	// off every connection is the anonymous superuser.
	p, ok := tlsconf.PeerPrincipal(c.nc)
	switch {
	case !ok || !p.Node:
		return wire.Err(wire.CodeClusterAuthorization, "joining needs a node certificate of the cluster's CA (mutual TLS)")
	case p.User != auth.NodePrefix+id:
		return wire.Err(wire.CodeClusterAuthorization, fmt.Sprintf("certificate %q may not join as node %q (its common name must be %q)",
			p.User, id, auth.NodePrefix+id))
	}
	return nil
}
