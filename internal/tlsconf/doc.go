// Package tlsconf builds the broker's TLS configurations from PEM files
// and keeps them current when the files change, so certificates can be
// rotated without a restart. It uses the standard library only.
//
// A Reloader holds one node's (or one client's) files: a certificate and
// its key, and the CA certificate(s) that sign the certificates of the
// other side. It re-reads them when they change (size, modification
// time, and on Linux inode, device and status change time), checked at
// most once per second, during a handshake. A file that does not load
// (half written, a key that does not match) keeps the previous material
// in use; the error is logged and returned by Reload, and the files are
// read again at every check until they load.
//
// Three configurations come out of a Reloader, all TLS 1.2 or newer:
//
//   - ServerConfig: the client listeners (native and Kafka). A client
//     certificate is optional, but verified against the CA when given
//     (tls.VerifyClientCertIfGiven), so clients may authenticate with
//     SASL or with a certificate.
//   - PeerConfig: mutual TLS between nodes (Raft, and broker-to-broker
//     calls). Both sides present a node certificate (common name
//     "node:<id>", see auth.NodePrefix) signed by the CA; anything else is
//     refused. Dial with Client, which also checks the peer's host name or
//     IP address against its certificate.
//   - ClientConfig: the tools and the Go client: the CA to verify the
//     brokers with (the system's roots when there is no CA file), and a
//     client certificate when there is one.
//
// Conn wraps an accepted connection so that its handshake runs in the
// goroutine that serves it, with a deadline, never in an accept loop; and
// FailureLog counts failed handshakes and logs them at most once a
// second.
//
// certs.go creates a CA, node certificates and client certificates
// (ECDSA P-256) for a quick start and for tests: `minibroker certs create`.
package tlsconf
