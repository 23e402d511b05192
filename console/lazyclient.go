package console

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/minibroker/minibroker/client"
)

// errConsoleClosed is returned by lazyClient.get after close.
var errConsoleClosed = errors.New("console: closed")

// lazyClient is the console's client of the cluster, made on first use
// and again after a failure: client.New needs a broker that answers, and
// the node the console runs beside may still be replaying its log (or
// have no leader) when serve starts the console. Safe for concurrent use.
type lazyClient struct {
	addr           string
	tls            *tls.Config // the client's TLS; nil: plaintext
	user, password string      // the login, when the cluster requires one

	mu     sync.Mutex // guards cl and closed; held while connecting
	cl     *client.Client
	closed bool
}

// get returns the client, connecting first if there is none yet. It
// blocks while connecting (about DialTimeout + RequestTimeout at most).
// Errors: client.New's (wrapped), errConsoleClosed.
func (l *lazyClient) get() (*client.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return nil, errConsoleClosed
	case l.cl != nil:
		return l.cl, nil
	}
	cl, err := client.New(client.Config{Brokers: []string{l.addr}, RequestTimeout: 3 * time.Second, DialTimeout: time.Second, TLS: l.tls,
		User: l.user, Password: l.password})
	if err != nil {
		return nil, fmt.Errorf("console: cluster not reachable through %s yet: %w", l.addr, err)
	}
	l.cl = cl
	return cl, nil
}

// close closes the client, if one was made; get fails from then on.
// Idempotent.
func (l *lazyClient) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.cl == nil {
		return nil
	}
	cl := l.cl
	l.cl = nil
	return cl.Close()
}
