package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/kafka"
	"github.com/minibroker/minibroker/replication"
)

// Broker is one running minibroker node. It is safe for concurrent use.
type Broker struct {
	cfg  Config // defaults applied; read-only
	id   string
	addr string // advertised client address
	// leaving is set when this node, as the leader, removes itself from
	// the cluster: from then on the registrar registers it no more.
	leaving atomic.Bool
	logger  *slog.Logger
	store   *replication.Store
	ln      net.Listener
	// kafka serves the Kafka protocol; nil when Config.DisableKafka.
	// kafkaAddr is its advertised address. Both set in Start; read-only
	// after.
	kafka       *kafka.Server
	kafkaAddr   string
	kafkaListen string       // the Kafka listener's bound address
	coord       *coordinator // consumer groups; active while this node leads
	// replayTo is the last index of the Raft log at start and replayFSMTo
	// the last one the FSM applies (set in Start, read-only after);
	// caughtUp turns true once they are applied (replay.go).
	replayTo    uint64
	replayFSMTo uint64
	caughtUp    atomic.Bool
	// metrics is set in Start before anything serves; read-only after.
	metrics *metrics
	// authz checks requests against the ACLs (authz.go).
	authz authorizer
	// httpLn and httpSrv serve /metrics, /healthz and /readyz; nil when
	// Config.MetricsAddr is empty. Set in Start; read-only after.
	httpLn  net.Listener
	httpSrv *http.Server

	ctx    context.Context // ends at Close: unblocks long polls and loops
	cancel context.CancelFunc

	mu    sync.Mutex         // guards conns and the check of draining before cwg.Add
	conns map[*conn]struct{} // open client connections
	wg    sync.WaitGroup     // accept loop, registrar, metrics server
	cwg   sync.WaitGroup     // connection goroutines

	// draining is closed when Shutdown begins: no connection is accepted,
	// connections stop reading requests and close once their in-flight
	// requests are answered, long polls return. graceful is closed when the
	// first Shutdown's graceful phase has ended.
	draining  chan struct{}
	graceful  chan struct{}
	drainOnce sync.Once

	// authLog rate-limits the log lines of failed authentications.
	authLog auth.LogLimiter

	closeOnce sync.Once
	closeErr  error
	done      chan struct{} // closed when the first Close has finished

	// tlsFails counts failed TLS handshakes per listener (tls.go); set in
	// Start before anything listens, read-only after.
	tlsFails tlsFailures

	fatalMu sync.Mutex // guards fatal
	fatal   error      // why the broker closed itself (fatal.go); nil otherwise
}

const idFile = "node-id"

// Start starts a broker and returns once it can serve: a node that forms a
// new cluster has elected itself; a node joining a cluster has been added;
// a restarted node is serving (it may wait for an election before it can
// take writes, when the rest of its cluster is still down). It returns an
// error wrapping ErrInvalidConfig, ErrStartTimeout, mlog.ErrCorrupt,
// mlog.ErrOldFormat (a data directory written by a version before Kafka
// support: the message says so), or a network or disk error; on error
// everything started is stopped again (and cfg.RaftListener closed).
func Start(cfg Config) (_ *Broker, err error) {
	handed := false // cfg.RaftListener was handed to replication.Open, which closes it on error
	defer func() {
		if err != nil && !handed && cfg.RaftListener != nil {
			_ = cfg.RaftListener.Close()
		}
	}()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("broker: data dir: %w", err)
	}
	have, err := replication.DataDirRaftLog(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if have != "" && have != cfg.RaftLog {
		// Refused before anything binds or is written; NewNode checks too.
		return nil, fmt.Errorf("broker: %w", &replication.StoreMismatchError{DataDir: cfg.DataDir, Created: have, Requested: cfg.RaftLog})
	}
	if err := replication.CheckDataFormat(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("broker: %w", err) // before anything binds or is written
	}
	fresh := have == ""
	bootstrap := cfg.Bootstrap || (fresh && len(cfg.Join) == 0)
	id, err := resolveID(cfg, bootstrap)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen: %w", err)
	}
	var httpLn net.Listener
	b := &Broker{cfg: cfg, id: id, logger: cfg.Logger.With("node", id), ln: ln, conns: map[*conn]struct{}{},
		draining: make(chan struct{}), graceful: make(chan struct{}), done: make(chan struct{})}
	b.tlsFails = newTLSFailures(b)
	b.ln = b.wrapTLS(ln, listenerNative)
	kln, err := b.listenKafka()
	if err != nil {
		ln.Close()
		return nil, err
	}
	closeKafkaLn := func() {
		if kln != nil {
			kln.Close()
		}
	}
	if cfg.MetricsAddr != "" {
		if httpLn, err = b.listenHTTP(); err != nil {
			ln.Close()
			closeKafkaLn()
			return nil, err
		}
	}
	b.addr = cfg.AdvertiseAddr
	if b.addr == "" {
		b.addr = ln.Addr().String()
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	handed = true
	b.store, err = replication.Open(replication.Config{
		Node: replication.NodeConfig{
			ID: id, RaftAddr: cfg.RaftAddr, RaftListener: cfg.RaftListener, DataDir: cfg.DataDir, Bootstrap: bootstrap,
			HeartbeatTimeout: cfg.HeartbeatTimeout, ElectionTimeout: cfg.ElectionTimeout,
			LeaderLeaseTimeout: cfg.LeaderLeaseTimeout, SnapshotThreshold: cfg.SnapshotThreshold,
			TrailingLogs: cfg.TrailingLogs, SnapshotInterval: cfg.SnapshotInterval, Logger: cfg.Logger,
			RaftPeerAddr: cfg.RaftPeerAddr, UnsafeNoSync: cfg.UnsafeNoFsync, RaftLog: cfg.RaftLog,
			RaftTLS: cfg.PeerTLS, RaftTLSFailures: b.tlsFails[listenerRaft],
		},
		LogSync: cfg.LogSync,
		LogFS:   cfg.LogFS,
		Logger:  cfg.Logger,
	})
	if err != nil {
		ln.Close()
		closeKafkaLn()
		if httpLn != nil {
			httpLn.Close()
		}
		b.cancel()
		return nil, err
	}
	b.metrics = newMetrics(b)
	b.registerTLSMetrics(b.metrics.reg)
	if httpLn != nil {
		b.serveHTTP(httpLn)
	}
	b.markReplayTarget()
	// ACLs apply when connections authenticate; before the listeners serve.
	b.authz.enforce.Store(b.cfg.authOn())
	b.coord = newCoordinator(b)
	b.wg.Add(3)
	go b.acceptLoop()
	go b.registrar()
	go b.coord.run()
	go b.watchFatal()
	if cfg.AdminUser != "" {
		b.wg.Add(1)
		go b.ensureAdmin()
	}
	if err := b.startKafka(kln); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.waitReady(fresh, bootstrap); err != nil {
		b.Close()
		if ferr := b.Err(); ferr != nil {
			return nil, ferr
		}
		return nil, err
	}
	b.logger.Info("broker serving", "addr", b.addr, "kafka_addr", b.kafkaAddr, "raft_addr", b.store.Node().RaftAddr(),
		"metrics_addr", b.MetricsAddr(), "data_dir", cfg.DataDir)
	return b, nil
}

// resolveID picks the node id: Config.ID, else the saved one, else a new
// one; and saves it so later runs agree.
func resolveID(cfg Config, bootstrap bool) (string, error) {
	saved, err := savedID(cfg)
	if err != nil {
		return "", err
	}
	id := saved
	switch {
	case cfg.ID != "":
		id = cfg.ID
	case id != "":
	case bootstrap:
		id = "n1"
	default:
		var r [4]byte
		rand.Read(r[:])
		id = "n-" + hex.EncodeToString(r[:])
	}
	if id != saved {
		if err := os.WriteFile(filepath.Join(cfg.DataDir, idFile), []byte(id+"\n"), 0o644); err != nil {
			return "", fmt.Errorf("broker: save node id: %w", err)
		}
	}
	return id, nil
}

// savedID returns the node id saved in cfg.DataDir ("" if none), checked
// against cfg.ID when both are set.
func savedID(cfg Config) (string, error) {
	saved, err := os.ReadFile(filepath.Join(cfg.DataDir, idFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("broker: read node id: %w", err)
	}
	id := strings.TrimSpace(string(saved))
	if cfg.ID != "" && id != "" && cfg.ID != id {
		return "", fmt.Errorf("%w: ID %q, but %s belongs to node %q", ErrInvalidConfig, cfg.ID, cfg.DataDir, id)
	}
	return id, nil
}

// waitReady blocks until the node can serve, as Start describes.
func (b *Broker) waitReady(fresh, bootstrap bool) error {
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.StartTimeout)
	defer cancel()
	node := b.store.Node()
	switch {
	case fresh && !bootstrap:
		if err := b.join(ctx, b.cfg.Join); err != nil {
			return err
		}
	case !fresh:
		// A restarted member of a multi-node cluster serves at once: its
		// peers may start after it.
		servers, err := node.Servers()
		if err != nil || len(servers) != 1 {
			return nil
		}
	}
	if _, _, err := node.WaitLeader(ctx); err != nil {
		return fmt.Errorf("%w: no leader: %v", ErrStartTimeout, err)
	}
	// Serve metadata from the first request on: wait until the log this
	// node had is applied (replay.go).
	if err := b.waitReplayed(ctx); err != nil {
		return fmt.Errorf("%w: replaying the log: %v", ErrStartTimeout, err)
	}
	// Kafka clients learn the brokers from Metadata, which lists the nodes
	// registered through Raft: wait until this node's addresses are (the
	// registrar, or the leader for a joining node, registers them).
	if err := b.waitRegistered(ctx); err != nil {
		return fmt.Errorf("%w: registering this node's addresses: %v", ErrStartTimeout, err)
	}
	b.awaitAdmin(ctx)
	return nil
}

// waitRegistered blocks until this node's applied state has its client and
// Kafka addresses registered as they are now, or ctx ends.
func (b *Broker) waitRegistered(ctx context.Context) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if n, ok := b.registeredNode(b.id); ok && n.Addr == b.addr && n.KafkaAddr == b.kafkaAddr {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// acceptLoop accepts client connections until the listener closes or the
// broker closes or drains. A failed Accept (out of file descriptors, and
// the like) is logged and retried with backoff (5ms doubling to 1s), as
// the Kafka listener does, never the end of the port.
func (b *Broker) acceptLoop() {
	defer b.wg.Done()
	var backoff time.Duration
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			if b.ctx.Err() != nil || b.isDraining() || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			b.logger.Warn("accept failed; retrying", "error", err, "in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-b.ctx.Done():
				t.Stop()
				return
			case <-b.draining:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		c := newConn(b, nc)
		b.mu.Lock()
		if b.ctx.Err() != nil || b.isDraining() {
			b.mu.Unlock()
			nc.Close()
			return
		}
		b.conns[c] = struct{}{}
		b.cwg.Add(1)
		b.mu.Unlock()
		b.metrics.connsAccepted.Inc()
		b.metrics.connsOpen.Inc()
		go func() {
			defer b.cwg.Done()
			c.serve()
			b.mu.Lock()
			delete(b.conns, c)
			b.mu.Unlock()
			b.metrics.connsOpen.Dec()
		}()
	}
}

// registrar keeps this node's client address registered in the cluster
// state: the leader records its own; a follower asks the leader with a
// JoinCluster request. It wakes on leadership changes and every
// registrarRecheck, and retries with backoff while registration fails; it
// never spins.
func (b *Broker) registrar() {
	defer b.wg.Done()
	node := b.store.Node()
	backoff := 50 * time.Millisecond
	for {
		changed := node.LeaderChanged()
		raftAddr, member := b.selfInConfig()
		if b.registered(raftAddr, member) {
			backoff = 50 * time.Millisecond
			// Look again when the leader changes, and every
			// registrarRecheck: a registration applied later than ours
			// (a JoinCluster this node sent in an earlier run, still on
			// its way through the leader) may have replaced it.
			recheck := time.NewTimer(registrarRecheck)
			select {
			case <-b.ctx.Done():
				recheck.Stop()
				return
			case <-changed:
			case <-recheck.C:
			}
			recheck.Stop()
			continue
		}
		// A node removed from the cluster must not join it again, nor one
		// that is removing itself (removeNode unregisters it first).
		err := errNotMember
		if b.leaving.Load() {
			err = errLeaving
		} else if member {
			err = b.register()
		}
		if err != nil {
			b.logger.Debug("registering client address", "error", err)
		}
		// After a failure, or a success this node has not applied yet,
		// look again after a while (sooner if the leader changes).
		timer := time.NewTimer(backoff)
		select {
		case <-b.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		case <-changed:
			timer.Stop()
		}
		if err != nil {
			backoff = min(2*backoff, 2*time.Second)
		}
	}
}

var (
	errNotMember = errors.New("not a member of the cluster")
	errLeaving   = errors.New("removing itself from the cluster")
)

// registrarRecheck is how often the registrar checks that the cluster
// still has this node's addresses as they are.
const registrarRecheck = time.Second

// registered reports whether the cluster knows this node's addresses as
// they are now: its client address (registered through Raft) and, if it
// is a member (raftAddr is what the configuration records for it; see
// selfInConfig), its Raft address, which differs after `recover` was given
// another one, or a restart on another port.
func (b *Broker) registered(raftAddr string, member bool) bool {
	if member && raftAddr != b.store.Node().RaftAddr() {
		return false
	}
	n, ok := b.registeredNode(b.id)
	return ok && n.Addr == b.addr && n.KafkaAddr == b.kafkaAddr
}

func (b *Broker) register() error {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	node := b.store.Node()
	leaderID, _ := node.Leader()
	switch {
	case leaderID == "":
		return errors.New("no leader")
	case leaderID == b.id:
		if !node.IsReady() {
			return errors.New("leader not ready")
		}
		// Re-adding itself updates the Raft address the configuration
		// records, if it changed (a no-op otherwise).
		if err := node.AddVoter(ctx, b.id, node.RaftAddr()); err != nil {
			return err
		}
		return b.store.RegisterNode(ctx, b.id, b.addr, b.kafkaAddr)
	}
	_, addr := b.leaderClientAddr()
	if addr == "" {
		return fmt.Errorf("leader %s has no known client address yet", leaderID)
	}
	return b.join(ctx, []string{addr})
}

// Addr is the client address this broker serves on (host:port), as
// advertised to clients and other nodes.
func (b *Broker) Addr() string { return b.addr }

// ListenAddr is the address the client listener is bound to; it differs
// from Addr only when Config.AdvertiseAddr is set (behind a proxy).
func (b *Broker) ListenAddr() string { return b.ln.Addr().String() }

// ID is this node's id.
func (b *Broker) ID() string { return b.id }

// RaftAddr is this node's Raft transport address.
func (b *Broker) RaftAddr() string { return b.store.Node().RaftAddr() }

// IsLeader reports whether this node is the ready Raft leader.
func (b *Broker) IsLeader() bool { return b.store.Node().IsReady() }

// Leader returns the current leader's id and client address, as far as
// this node knows ("" when unknown).
func (b *Broker) Leader() (id, addr string) { return b.leaderClientAddr() }

// Close stops the broker at once: it stops accepting, closes client
// connections (in-flight requests end; their writers see the connection
// close), stops the metrics server, then stops Raft and closes the data.
// Use Shutdown to let in-flight requests finish and hand leadership over
// first. Close is idempotent and safe for concurrent use; it blocks until
// all of that is done, and every call returns the first call's result: nil
// or the error of closing the data. Done is closed when it has finished.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.cancel()
		b.ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			c.nc.Close()
		}
		b.mu.Unlock()
		b.closeHTTP()
		if b.kafka != nil {
			b.kafka.Close() // blocks until its connections end
		}
		b.cwg.Wait()
		b.wg.Wait()
		b.closeErr = b.store.Close()
		b.logger.Info("broker closed")
		close(b.done)
	})
	return b.closeErr
}
