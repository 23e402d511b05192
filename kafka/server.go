package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/replication"
)

// Config configures a Server. Store and NodeID are required; every other
// zero field takes the default written beside it.
type Config struct {
	// Store is the replicated store the server reads and writes. Required.
	Store *replication.Store
	// NodeID is this node's id in the store (replication.NodeConfig.ID).
	// Required.
	NodeID string
	// AdvertisedAddr is the host:port Metadata names for this node when the
	// cluster state has no Kafka address registered for it yet (the broker
	// registers it through Raft). Default: the address Serve's listener is
	// bound to.
	AdvertisedAddr string
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// MaxFrameBytes is the largest request frame accepted (Kafka's
	// socket.request.max.bytes). A larger size prefix closes the
	// connection before anything is allocated. Default 100 MiB, Kafka's.
	MaxFrameBytes int
	// MaxMessageBytes is the largest record batch a Produce may carry
	// (Kafka's message.max.bytes); a larger one is answered
	// MESSAGE_TOO_LARGE. Default 1048588, Kafka's.
	MaxMessageBytes int
	// MaxInFlight is the number of requests one connection may have read
	// and not yet answered; the reader waits beyond it. Default 100.
	MaxInFlight int
	// MaxFetchWait caps a Fetch's MaxWaitMillis. Default 30s.
	MaxFetchWait time.Duration
	// IdleTimeout closes a connection with nothing in flight that sent no
	// request for this long. Default 10 minutes (Kafka's
	// connections.max.idle.ms).
	IdleTimeout time.Duration
	// AutoCreateTopics lets Metadata create a topic it is asked for and
	// does not know (with DefaultPartitions partitions), when the client
	// allows it (v4+: AllowAutoTopicCreation). Default false.
	AutoCreateTopics bool
	// DefaultPartitions is the partition count of auto-created topics and
	// of CreateTopics with NumPartitions -1. Default 1.
	DefaultPartitions int32
	// InitProducer allocates a producer id for InitProducerId. Default
	// Store.InitProducer, which works on the leader only: a follower
	// answers NOT_LEADER_OR_FOLLOWER. The broker sets it to a function
	// that asks the leader when this node is a follower, as clients send
	// InitProducerId to any broker.
	InitProducer func(ctx context.Context) (int64, error)
	// LookupCred returns a user's SCRAM credential for a login (SCRAM and
	// PLAIN); it may block. Default: read from Store's applied state. The
	// broker sets one that, on a node still re-applying its log after a
	// restart, waits for that before refusing a user it does not know.
	LookupCred func(user, mech string) (auth.ScramCred, bool)
	// GroupMinSessionTimeout and GroupMaxSessionTimeout bound the session
	// timeout a JoinGroup may ask for (Kafka's group.min.session.timeout.ms
	// and group.max.session.timeout.ms); outside them it is answered
	// INVALID_SESSION_TIMEOUT. Defaults 1s (Kafka's is 6s; lower lets tests
	// expire members quickly) and 30 minutes.
	GroupMinSessionTimeout time.Duration
	GroupMaxSessionTimeout time.Duration
	// CreateACLs and DeleteACLs change the ACLs for CreateAcls and
	// DeleteAcls. Default: Store.CreateACLs and Store.DeleteACLs, which
	// work on the leader only (a follower answers NOT_CONTROLLER). The
	// broker sets functions that ask the leader when this node is a
	// follower, as Kafka clients send these requests to any broker.
	CreateACLs func(ctx context.Context, acls []auth.ACL) error
	DeleteACLs func(ctx context.Context, filters []auth.Filter) ([][]auth.ACL, error)
	// EnforceACLs checks every request against the replicated ACLs for
	// the connection's principal (docs/security.md); set when connections
	// authenticate. Default false: everything is allowed.
	EnforceACLs bool
	// RequireAuth makes every connection authenticate (SASL SCRAM-SHA-256
	// or SCRAM-SHA-512; PLAIN on TLS connections) against the store's
	// users before anything but ApiVersions, SaslHandshake and
	// SaslAuthenticate is served. Default false: every connection is an
	// anonymous superuser.
	RequireAuth bool
	// OnAuthFailure, if set, is called (on the connection's reader
	// goroutine) for every failed authentication, before the connection
	// closes: the broker counts and logs them. It must not block.
	OnAuthFailure func(mechanism, user, remote string, err error)
}

// Defaults for Config's zero fields.
const (
	DefaultMaxFrameBytes     = 100 << 20
	DefaultMaxMessageBytes   = 1048588
	DefaultMaxInFlight       = 100
	DefaultMaxFetchWait      = 30 * time.Second
	DefaultIdleTimeout       = 10 * time.Minute
	DefaultDefaultPartitions = 1
	DefaultGroupMinSession   = time.Second
	DefaultGroupMaxSession   = 30 * time.Minute
)

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = min(DefaultMaxMessageBytes, c.MaxFrameBytes)
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxFetchWait == 0 {
		c.MaxFetchWait = DefaultMaxFetchWait
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = DefaultDefaultPartitions
	}
	if c.GroupMinSessionTimeout == 0 {
		c.GroupMinSessionTimeout = DefaultGroupMinSession
	}
	if c.GroupMaxSessionTimeout == 0 {
		c.GroupMaxSessionTimeout = DefaultGroupMaxSession
	}
	if c.InitProducer == nil && c.Store != nil {
		c.InitProducer = c.Store.InitProducer
	}
	if c.CreateACLs == nil && c.Store != nil {
		c.CreateACLs = c.Store.CreateACLs
	}
	if c.DeleteACLs == nil && c.Store != nil {
		c.DeleteACLs = c.Store.DeleteACLs
	}
	return c
}

// Validate reports what is wrong with c (after defaults) as an error
// wrapping ErrInvalidConfig. It does no I/O and never panics.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Store == nil:
		return bad("Store is required")
	case c.NodeID == "":
		return bad("NodeID is required")
	case c.MaxFrameBytes < 1024 || c.MaxFrameBytes > 1<<30:
		return bad("MaxFrameBytes %d not in [1 KiB, 1 GiB]", c.MaxFrameBytes)
	case c.MaxMessageBytes < 1 || c.MaxMessageBytes > c.MaxFrameBytes:
		return bad("MaxMessageBytes %d not in [1, MaxFrameBytes]", c.MaxMessageBytes)
	case c.MaxInFlight < 1:
		return bad("MaxInFlight %d < 1", c.MaxInFlight)
	case c.MaxFetchWait < 0 || c.IdleTimeout < 0:
		return bad("negative timeout")
	case c.GroupMinSessionTimeout < 0 || c.GroupMaxSessionTimeout < c.GroupMinSessionTimeout:
		return bad("group session timeouts [%v, %v]", c.GroupMinSessionTimeout, c.GroupMaxSessionTimeout)
	case c.DefaultPartitions < 1 || c.DefaultPartitions > replication.MaxPartitions:
		return bad("DefaultPartitions %d not in [1, %d]", c.DefaultPartitions, replication.MaxPartitions)
	}
	if c.AdvertisedAddr != "" {
		if _, _, err := splitHostPort(c.AdvertisedAddr); err != nil {
			return bad("AdvertisedAddr: %v", err)
		}
	}
	return nil
}

// Server serves the Kafka protocol on listeners handed to Serve. It is
// safe for concurrent use.
type Server struct {
	cfg    Config // defaults applied; read-only
	logger *slog.Logger
	store  *replication.Store
	// authLog rate-limits the log lines of unauthenticated requests.
	authLog auth.LogLimiter
	groups  *coordinator // the Kafka group coordinator (groups.go)

	ctx    context.Context // ends at Close: unblocks handlers
	cancel context.CancelFunc

	mu      sync.Mutex                // guards lns, conns, closed, boundTo, groupsRunning
	lns     map[net.Listener]struct{} // listeners being served
	conns   map[*conn]struct{}        // open connections
	closed  bool
	boundTo string // the first listener's address (for AdvertisedAddr's default)
	// groupsRunning: the group coordinator's ticker was started (by the
	// first Serve).
	groupsRunning bool
	wg            sync.WaitGroup // Serve loops and connection goroutines
	closeErr      error
	// authz checks requests against the ACLs (authz.go).
	authz authorizer
}

// New returns a Server for cfg, or an error wrapping ErrInvalidConfig. It
// does not listen: see Serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, logger: cfg.Logger, store: cfg.Store,
		lns: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.authz.enforce.Store(cfg.EnforceACLs)
	s.groups = newCoordinator(s)
	return s, nil
}

// Serve accepts connections on ln and serves each in its own goroutines.
// It blocks until Close is called or ln is closed, and then returns
// ErrServerClosed (after Close) or an error wrapping net.ErrClosed; other
// accept errors (out of file descriptors) are logged and retried with
// backoff. Serve closes ln
// before it returns. It may be called for several listeners.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	if s.boundTo == "" {
		s.boundTo = ln.Addr().String()
	}
	if !s.groupsRunning {
		// The group coordinator's ticker (session and rebalance timeouts,
		// leadership changes), until Close.
		s.groupsRunning = true
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.groups.run()
		}()
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("kafka: accept: %w", err)
			}
			// Out of file descriptors and the like: wait and try again,
			// as net/http does, rather than stop serving for good.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger.Warn("kafka accept failed; retrying", "error", err, "in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return ErrServerClosed
			}
			continue
		}
		backoff = 0
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops the server: it closes every listener and connection (requests
// in flight end; their answers are dropped) and blocks until every Serve
// loop and connection goroutine has returned. It is idempotent and safe for
// concurrent use; it always returns nil.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.cancel()
		for ln := range s.lns {
			ln.Close()
		}
		for c := range s.conns {
			c.nc.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.groups.proposals.Wait()
	return nil
}

// advertisedAddr is the Kafka address of this node as configured (or the
// first listener's), for when the cluster state has none registered.
func (s *Server) advertisedAddr() string {
	if s.cfg.AdvertisedAddr != "" {
		return s.cfg.AdvertisedAddr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.boundTo
}
