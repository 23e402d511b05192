package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/minibroker/minibroker/internal/auth"
)

// MinVersion is the oldest TLS version any configuration accepts.
const MinVersion = tls.VersionTLS12

// build makes the per-handshake server configurations of m.
func (m *material) build() {
	if m.cert == nil {
		return
	}
	m.serverCfg = &tls.Config{MinVersion: MinVersion, Certificates: []tls.Certificate{*m.cert}}
	if m.pool != nil {
		m.serverCfg.ClientCAs = m.pool
		m.serverCfg.ClientAuth = tls.VerifyClientCertIfGiven
		pool := m.pool
		m.peerCfg = &tls.Config{MinVersion: MinVersion, Certificates: []tls.Certificate{*m.cert},
			ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
			VerifyConnection: func(cs tls.ConnectionState) error {
				// The handshake verified the chain for client use; a node
				// accepts connections too, so its certificate must be
				// valid for servers as well: a user's certificate (client
				// use only) named node:<x> is no node.
				if _, err := verifyChain(pool, cs.PeerCertificates, x509.ExtKeyUsageServerAuth); err != nil {
					return fmt.Errorf("%w: not valid for servers (a node certificate is valid for both uses): %w", ErrNotNode, err)
				}
				return checkNode(cs.PeerCertificates)
			}}
	}
}

// ServerConfig returns the configuration of a client listener: it
// presents the current certificate and, with a CA file, verifies a client
// certificate if one is given (tls.VerifyClientCertIfGiven). Each
// handshake uses the files as they are then (see Reloader). Errors:
// ErrNoCertificate without CertFile. The result must not be modified.
func (r *Reloader) ServerConfig() (*tls.Config, error) {
	if r.files.CertFile == "" {
		return nil, fmt.Errorf("%w: a server needs --tls-cert and --tls-key", ErrNoCertificate)
	}
	return &tls.Config{
		MinVersion: MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.current().serverCfg, nil
		},
	}, nil
}

// PeerConfig returns the mutual-TLS configuration between nodes, for
// both sides. Accepting, it presents the current certificate and requires
// a client certificate signed by the CA whose common name starts with
// auth.NodePrefix and that is valid for both client and server use, as
// node certificates are (NodeCert). Dialing, it presents the current certificate and
// verifies the server's chain against the current CA and that it is a
// node certificate; dial with Client, which also checks the server's name
// (host or IP address) against the certificate. Errors: ErrNoCertificate
// without CertFile or CAFile. The result must not be modified.
func (r *Reloader) PeerConfig() (*tls.Config, error) {
	if r.files.CertFile == "" || r.files.CAFile == "" {
		return nil, fmt.Errorf("%w: mutual TLS between nodes needs a certificate, its key and the CA", ErrNoCertificate)
	}
	return &tls.Config{
		MinVersion: MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.current().peerCfg, nil
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return r.current().cert, nil
		},
		// The chain is verified in VerifyConnection against the CA as it
		// is at this handshake (a fixed RootCAs could not follow a CA
		// rotation), and the name by Client once the handshake is done.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if _, err := verifyChain(r.current().pool, cs.PeerCertificates, x509.ExtKeyUsageServerAuth); err != nil {
				return err
			}
			return checkNode(cs.PeerCertificates)
		},
	}, nil
}

// ClientConfig returns the configuration of a tool or Go client: it
// verifies brokers against the CA (the system's roots without CAFile),
// with the standard host name and IP checks, and presents the current
// client certificate when there is one. The CA is the one loaded now: a
// long-lived client follows a rotation of its own certificate, not of the
// CA. The result may be modified (it is a new one each call).
func (r *Reloader) ClientConfig() *tls.Config {
	m := r.current()
	cfg := &tls.Config{MinVersion: MinVersion, RootCAs: m.pool}
	if r.files.CertFile != "" {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return r.current().cert, nil
		}
	}
	return cfg
}

// verifyChain verifies certs (leaf first) against roots for usage and
// returns the chains.
func verifyChain(roots *x509.CertPool, certs []*x509.Certificate, usage x509.ExtKeyUsage) ([][]*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, fmt.Errorf("tlsconf: the peer sent no certificate")
	}
	if roots == nil {
		return nil, ErrNoCertificate
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	return certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
}

// checkNode reports whether the leaf of certs is a node certificate.
func checkNode(certs []*x509.Certificate) error {
	if len(certs) == 0 {
		return fmt.Errorf("%w: none sent", ErrNotNode)
	}
	if cn := certs[0].Subject.CommonName; !strings.HasPrefix(cn, auth.NodePrefix) {
		return fmt.Errorf("%w: common name %q", ErrNotNode, cn)
	}
	return nil
}

// Principal returns who a connection's verified client certificate says
// it is: User is the certificate's common name, and a common name that
// starts with auth.NodePrefix is a node (Superuser and Node). ok is false
// when the connection presented no verified certificate.
func Principal(cs tls.ConnectionState) (p auth.Principal, ok bool) {
	if !cs.HandshakeComplete || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return auth.Principal{}, false
	}
	cn := cs.VerifiedChains[0][0].Subject.CommonName
	if cn == "" {
		return auth.Principal{}, false
	}
	node := strings.HasPrefix(cn, auth.NodePrefix)
	return auth.Principal{User: cn, Superuser: node, Node: node}, true
}
