package brokertest

import (
	"crypto/tls"
	"os"
	"testing"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/internal/tlsconf"
)

// TLS returns a NewCluster mod that serves each node over TLS (client
// listeners) and mutual TLS between nodes (Raft, broker-to-broker calls),
// with certificates in dir laid out as tlsconf.WriteFiles writes them (a
// CA in dir/ca.crt, node "n1" in dir/node-n1.crt ...). Missing files are
// created: the CA once, and the certificate of each node that has none.
// The configurations re-read the files when they change, so a test can
// rotate certificates by rewriting them. Use ClientTLS for clients.
//
//	dir := t.TempDir()
//	c := brokertest.NewCluster(t, 3, brokertest.TLS(t, dir))
//	cl, err := client.New(client.Config{Brokers: c.Addrs(), TLS: brokertest.ClientTLS(t, dir, "")})
func TLS(t testing.TB, dir string) func(i int, cfg *broker.Config) {
	return func(_ int, cfg *broker.Config) {
		t.Helper()
		cfg.TLS, cfg.PeerTLS = NodeTLS(t, dir, cfg.ID)
	}
}

// NodeTLS returns the server and peer configurations of node id from the
// certificates in dir (see TLS), creating the node's certificate (and the
// CA) if missing. It fails the test on errors.
func NodeTLS(t testing.TB, dir, id string) (server, peer *tls.Config) {
	t.Helper()
	files := tlsconf.NodeFiles(dir, id)
	if _, err := os.Stat(files.CertFile); err != nil {
		if _, err := tlsconf.WriteFiles(dir, []string{id}, nil, nil); err != nil {
			t.Fatalf("brokertest: certificates: %v", err)
		}
	}
	r, err := tlsconf.New(files, nil)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	if server, err = r.ServerConfig(); err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	if peer, err = r.PeerConfig(); err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return server, peer
}

// ClientTLS returns a client configuration that trusts the CA in dir (see
// TLS) and, unless user is "", presents a client certificate for user
// (created if missing). It fails the test on errors.
func ClientTLS(t testing.TB, dir, user string) *tls.Config {
	t.Helper()
	files := tlsconf.Files{CAFile: tlsconf.NodeFiles(dir, "").CAFile}
	if user != "" {
		files = tlsconf.ClientFiles(dir, user)
		if _, err := os.Stat(files.CertFile); err != nil {
			if _, err := tlsconf.WriteFiles(dir, nil, []string{user}, nil); err != nil {
				t.Fatalf("brokertest: certificates: %v", err)
			}
		}
	} else if _, err := os.Stat(files.CAFile); err != nil {
		if _, err := tlsconf.WriteFiles(dir, nil, nil, nil); err != nil {
			t.Fatalf("brokertest: certificates: %v", err)
		}
	}
	r, err := tlsconf.New(files, nil)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return r.ClientConfig()
}
