package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/xdg-go/scram"

	"github.com/minibroker/minibroker/internal/wire"
)

// Client is a connection to a minibroker cluster: it keeps one pipelined
// connection per broker address, learns the cluster (nodes, leader,
// topics) from Metadata, sends writes to the leader and follows leader
// changes, and reconnects after a connection is lost. Producers and
// Readers are made from it and share its connections.
//
// A Client is safe for concurrent use. Close it when done.
type Client struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context    // cancelled by Close: ends dials, retries and background work
	cancel context.CancelFunc // cancels ctx
	wg     sync.WaitGroup     // every goroutine the Client and its Producers start

	mu     sync.Mutex            // guards closed and conns
	closed bool                  // set by Close; no goroutine or connection is started after
	conns  map[string]*connEntry // by broker address; an entry with a dead conn is replaced on next use

	metaMu sync.RWMutex // guards meta and flight
	meta   metaCache    // what the last Metadata answer (and NotLeader redirects) taught us
	flight *flight      // the metadata refresh in progress, or nil

	closeOnce sync.Once

	// scram is the SCRAM client of Config.User (auth.go), made once: it
	// caches the keys derived from the password (PBKDF2) per salt and
	// iteration count, so only a client's first login pays for them.
	scramOnce sync.Once
	scram     *scram.Client
	scramErr  error
}

// connEntry is a connection being dialed or dialed.
type connEntry struct {
	ready chan struct{} // closed when the dial has finished; c and err are final then
	c     *conn         // nil if the dial failed
	err   error
}

// Retry policy of the Client's own requests (admin, metadata, fetch and
// list-offsets); the Producer has its own, in ProducerConfig.
const (
	requestAttempts   = 10
	requestBackoff    = 50 * time.Millisecond
	requestBackoffMax = time.Second
)

// New validates cfg, applies its defaults, and connects: it tries the seed
// brokers in order until one answers Metadata, from which it learns the
// cluster. It blocks for at most about (DialTimeout + RequestTimeout) per
// seed. Errors: a *ConfigError (ErrInvalidConfig), or an error wrapping
// ErrBrokerUnavailable and each seed's failure if none answered.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	cl := &Client{
		cfg:    cfg,
		log:    cfg.Logger,
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[string]*connEntry),
	}
	if _, err := cl.fetchMetadata(ctx); err != nil {
		_ = cl.Close()
		return nil, fmt.Errorf("%w: no seed broker of %v answered: %w", ErrBrokerUnavailable, cfg.Brokers, err)
	}
	return cl, nil
}

// Close closes every connection and waits until all goroutines of the
// Client and its Producers have returned. Requests in flight fail with an
// error wrapping ErrClosed and ErrConnectionLost; messages still buffered
// in Producers fail with ErrClosed (close Producers first to deliver
// them). Later calls fail with ErrClosed. Close is idempotent, safe for
// concurrent use, and always returns nil; it must not be called from a
// ProduceAsync callback (it waits for the callback goroutine).
func (cl *Client) Close() error {
	cl.closeOnce.Do(func() {
		cl.mu.Lock()
		cl.closed = true
		entries := cl.conns
		cl.conns = nil
		cl.mu.Unlock()
		cl.cancel()
		for _, e := range entries {
			<-e.ready // a dial in progress ends at once: cl.ctx is cancelled
			if e.c != nil {
				e.c.close()
			}
		}
		cl.wg.Wait()
	})
	return nil
}

// goTracked runs f in a goroutine that Close waits for, unless the Client
// is closed (then it returns false and does not run f).
func (cl *Client) goTracked(f func()) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		return false
	}
	cl.wg.Add(1)
	go func() {
		defer cl.wg.Done()
		f()
	}()
	return true
}

// getConn returns a live connection to addr, dialing one if needed (one
// dial per address at a time; concurrent callers wait for it). Errors:
// ErrClosed, ctx's error, or an error wrapping ErrBrokerUnavailable.
func (cl *Client) getConn(ctx context.Context, addr string) (*conn, error) {
	for {
		cl.mu.Lock()
		if cl.closed {
			cl.mu.Unlock()
			return nil, ErrClosed
		}
		e := cl.conns[addr]
		if e == nil {
			e = &connEntry{ready: make(chan struct{})}
			cl.conns[addr] = e
			cl.mu.Unlock()
			cl.dial(ctx, addr, e)
			return e.c, e.err
		}
		cl.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err != nil {
			return nil, e.err
		}
		if !e.c.dead.Load() {
			return e.c, nil
		}
		cl.mu.Lock()
		if cl.conns[addr] == e {
			delete(cl.conns, addr)
		}
		cl.mu.Unlock()
	}
}

// dial connects e to addr and starts its reader, or records why it could
// not; either way it closes e.ready.
func (cl *Client) dial(ctx context.Context, addr string, e *connEntry) {
	defer close(e.ready)
	dctx, cancel := context.WithTimeout(ctx, cl.cfg.DialTimeout)
	stop := context.AfterFunc(cl.ctx, cancel)
	dialFn := cl.cfg.Dial
	if dialFn == nil {
		var d net.Dialer
		dialFn = d.DialContext
	}
	nc, err := dialFn(dctx, "tcp", addr)
	if err == nil && cl.cfg.TLS != nil {
		nc, err = handshakeTLS(dctx, nc, cl.cfg.TLS, addr)
	}
	stop()
	cancel()
	if err == nil {
		if lerr := cl.login(ctx, nc); lerr != nil {
			nc.Close()
			cl.mu.Lock()
			defer cl.mu.Unlock()
			e.err = lerr
			if cl.conns[addr] == e {
				delete(cl.conns, addr)
			}
			return
		}
	}

	cl.mu.Lock()
	defer cl.mu.Unlock()
	if err == nil && cl.closed {
		_ = nc.Close()
		err = ErrClosed
	}
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			err = fmt.Errorf("%w: dial %s: %v", ErrBrokerUnavailable, addr, err)
		}
		e.err = err
		if cl.conns[addr] == e {
			delete(cl.conns, addr)
		}
		return
	}
	c := newConn(nc, addr, cl.cfg.MaxFrame, cl.cfg.RequestTimeout, cl.log)
	e.c = c
	cl.wg.Add(1)
	go func() {
		defer cl.wg.Done()
		c.readLoop()
	}()
}

// leaderConn returns a connection to the cluster's leader, refreshing
// metadata if no leader is known. Errors: ErrClosed, ctx's error, an
// error wrapping ErrNoLeader or ErrBrokerUnavailable (then the leader is
// forgotten, so the next call asks the cluster again).
func (cl *Client) leaderConn(ctx context.Context) (*conn, error) {
	addr := cl.leaderAddr()
	if addr == "" {
		if err := cl.refreshMetadata(ctx); err != nil {
			return nil, err
		}
		if addr = cl.leaderAddr(); addr == "" {
			return nil, fmt.Errorf("minibroker: no leader known: %w", ErrNoLeader)
		}
	}
	c, err := cl.getConn(ctx, addr)
	if err != nil {
		if errors.Is(err, ErrBrokerUnavailable) {
			cl.forgetLeader(addr)
		}
		return nil, err
	}
	return c, nil
}

// readConn returns a connection for a read: to the leader when one is
// known and reachable (its high-water marks are the freshest), else to the
// first reachable node or seed.
func (cl *Client) readConn(ctx context.Context) (*conn, error) {
	var err error
	for _, addr := range cl.candidates() {
		var c *conn
		if c, err = cl.getConn(ctx, addr); err == nil {
			return c, nil
		}
		if !errors.Is(err, ErrBrokerUnavailable) {
			return nil, err
		}
		cl.forgetLeader(addr)
	}
	return nil, err
}

// response is what every wire response type implements.
type response interface{ Err() error }

// leaderGone reports whether err says the broker asked is not (or no
// longer) the leader, so the client should forget it and look again.
func leaderGone(err error) bool {
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader) || errors.Is(err, ErrShuttingDown)
}

// route says where do sends a request.
type route uint8

const (
	anyNode     route = iota // a read any node can serve (readConn)
	leaderWrite              // a write: to the leader; a lost answer leaves its outcome unknown
	leaderRead               // a read only the leader serves (group state)
)

// do sends req (API key) and decodes the answer into resp, retrying
// retriable failures (see IsRetriable) with backoff until it succeeds, ctx
// ends or requestAttempts are used. Leader requests go to the leader (a
// NotLeader answer makes the client refresh metadata), the others to
// readConn. Each attempt waits at most timeout for its answer. If a write
// fails after an attempt whose outcome is unknown, the error also wraps
// ErrOutcomeUnknown. Blocks until done.
func (cl *Client) do(ctx context.Context, to route, key wire.APIKey, req any, resp response, timeout time.Duration) error {
	write := to == leaderWrite
	uncertain := false
	var err error
	for attempt := 1; ; attempt++ {
		var c *conn
		if to != anyNode {
			c, err = cl.leaderConn(ctx)
		} else {
			c, err = cl.readConn(ctx)
		}
		if err == nil {
			if err = c.roundTrip(ctx, key, req, resp, timeout); err == nil {
				if err = resp.Err(); err == nil {
					return nil
				}
			}
			if leaderGone(err) || errors.Is(err, ErrTimeout) {
				// A leader that leaves a request unanswered is presumed
				// stuck (a paused process, a hung disk): ask the cluster
				// again rather than wait on it once more.
				cl.forgetLeader(c.addr)
			}
		}
		if write && outcomeUnknown(err) {
			uncertain = true
		}
		if ctx.Err() != nil || !IsRetriable(err) || attempt >= requestAttempts {
			break
		}
		d := backoff(requestBackoff, requestBackoffMax, attempt)
		cl.log.Debug("minibroker: retrying request", "api", key.String(), "attempt", attempt, "backoff", d, "err", err)
		if sleepCtx(ctx, d) != nil {
			break
		}
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (last error: %v)", cerr, err)
	}
	return withUncertainty(err, write && uncertain)
}

// backoff returns the wait before retry number attempt (1-based): base
// doubled per attempt up to max, with ±20% jitter.
func backoff(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	if j := int64(d) / 5; j > 0 {
		d += time.Duration(rand.Int64N(2*j+1) - j)
	}
	return d
}

// sleepCtx waits for d or until ctx ends, returning ctx's error then.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handshakeTLS runs a TLS handshake over nc, dialed to addr, with a copy
// of cfg whose ServerName is addr's host unless cfg names one. It blocks
// until done or ctx ends; on error it closes nc.
func handshakeTLS(ctx context.Context, nc net.Conn, cfg *tls.Config, addr string) (net.Conn, error) {
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}
