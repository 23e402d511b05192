package broker

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
	mlog "github.com/minibroker/minibroker/log"
	"github.com/minibroker/minibroker/replication"
)

// Config configures a Broker. Only DataDir is required; every zero field
// takes the default written beside it.
type Config struct {
	// ID is this node's id, unique in the cluster forever. Default: the id
	// saved in DataDir by an earlier run, else "n1" for a node that
	// bootstraps and a random "n-xxxxxxxx" for one that joins.
	ID string
	// DataDir holds everything the node stores. Required.
	DataDir string
	// Addr is the client address to listen on. Default "127.0.0.1:0" (a
	// free port; Broker.Addr tells which).
	Addr string
	// KafkaAddr is the address of the Kafka protocol listener (package
	// kafka). Default "127.0.0.1:0" (a free port; Broker.KafkaAddr tells
	// which). DisableKafka turns the listener off.
	KafkaAddr string
	// KafkaAdvertisedAddr is the Kafka address this node registers in the
	// cluster state and Metadata tells Kafka clients (for NAT and
	// containers); default: the address actually bound.
	KafkaAdvertisedAddr string
	// DisableKafka serves no Kafka listener (KafkaAddr is then ignored).
	// Default false: every broker speaks Kafka.
	DisableKafka bool
	// AutoCreateTopics lets a Kafka Metadata request create a topic it
	// names that does not exist (one partition), as Kafka's
	// auto.create.topics.enable. Default false.
	AutoCreateTopics bool
	// RaftAddr is the Raft transport's address. Default "127.0.0.1:0".
	// Ignored when RaftListener is set.
	RaftAddr string
	// RaftListener, if set, is a TCP listener the Raft transport accepts
	// on instead of binding RaftAddr, as httptest.Server.Listener: for
	// tests and embedders that must hold their Raft port across restarts
	// (the cluster's configuration records it), with no moment at which
	// another process could take it. Its address replaces RaftAddr (and is
	// what Broker.RaftAddr returns). Start takes ownership: the broker
	// closes it on Close, and Start closes it when it returns an error.
	// Default nil: bind RaftAddr.
	RaftListener net.Listener
	// AdvertiseAddr is the client address other nodes and clients are told;
	// default: the address actually bound.
	AdvertiseAddr string
	// Bootstrap forms a new one-node cluster when DataDir holds no cluster
	// yet; harmless on a DataDir that does. Without Bootstrap and without
	// Join, a new DataDir bootstraps too (a single node needs no flags).
	Bootstrap bool
	// Join lists client addresses of existing members; a node with a new
	// DataDir asks them to add it. Ignored once the node is a member.
	Join []string

	// Raft timing; zero means hashicorp/raft's defaults (1s, 1s, 500ms).
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// SnapshotThreshold and TrailingLogs tune raft's log compaction; zero
	// means the replication package's defaults.
	SnapshotThreshold uint64
	TrailingLogs      uint64
	SnapshotInterval  time.Duration

	// StartTimeout bounds how long Start waits to be ready. Default 30s.
	StartTimeout time.Duration
	// IdleTimeout closes a client connection with no request in flight for
	// this long. Default 10 minutes.
	IdleTimeout time.Duration
	// MaxFrameBytes is the largest request frame accepted. Default 16 MiB.
	MaxFrameBytes int
	// MaxMessageBytes is the largest record (key + value + headers)
	// accepted. Default 1 MiB.
	MaxMessageBytes int
	// MaxInFlight is the number of requests one connection may have in
	// flight. Default 1024.
	MaxInFlight int
	// MaxFetchWait caps a Fetch's long-poll wait. Default 30s.
	MaxFetchWait time.Duration
	// RaftLog is the Raft log and stable store: replication.RaftLogBolt
	// ("bolt", raft-boltdb, the default) or replication.RaftLogWAL ("wal",
	// raft-wal: one fsync per append instead of bbolt's two; see
	// docs/architecture.md). A DataDir keeps the store it was created
	// with: Start refuses the other one with an error matching
	// replication.ErrStoreMismatch, and changes nothing.
	RaftLog replication.RaftLogStore
	// LogSync is the partition logs' fsync policy; the default, SyncNever,
	// relies on the fsynced Raft log (see replication.FSMConfig).
	LogSync mlog.SyncMode

	// MetricsAddr is the host:port of an HTTP server for /metrics
	// (Prometheus), /healthz and /readyz; empty (the default) serves none.
	// Port 0 picks a free port: Broker.MetricsAddr tells which. The metrics
	// are collected either way; see Broker.Registry.
	MetricsAddr string

	// Logger receives the broker's structured logs; nil discards them.
	Logger *slog.Logger

	// TLS, if set, serves the client listeners (native and Kafka, on the
	// same ports) over TLS with this configuration; it must present a
	// certificate (Certificates, GetCertificate or GetConfigForClient).
	// A verified client certificate authenticates the connection as its
	// common name (a node for "node:<id>", see auth.Principal). Build it
	// with tlsconf.Reloader.ServerConfig to follow certificate rotations.
	// Default nil: plaintext.
	TLS *tls.Config
	// PeerTLS, if set, is mutual TLS between nodes: the Raft transport
	// accepts and dials with it, and so do broker-to-broker calls (joining,
	// asking the leader for a producer id). It requires TLS. It must
	// present a certificate when dialing (Certificates or
	// GetClientCertificate) and when accepting, and require and verify the
	// other side's (tls.RequireAndVerifyClientCert); see
	// tlsconf.Reloader.PeerConfig, which also refuses certificates that
	// are not nodes'. Default nil: plaintext Raft.
	PeerTLS *tls.Config

	// Hooks for fault injection and special deployments. Their zero values
	// keep the normal behaviour.

	// LogFS is the filesystem the partition logs (segments, indexes,
	// recovery points) are written through; tests wrap mlog.OSFS to inject
	// ENOSPC, torn writes or lost unsynced writes. The Raft log, snapshots and
	// the state machine's metadata do not go through it. Default nil: the
	// real filesystem.
	LogFS mlog.FS
	// RaftPeerAddr, if set, maps a peer's node ID to the address this node
	// dials to reach its Raft transport, instead of the address in the Raft
	// configuration: a per-link TCP proxy lets a test cut exactly the links
	// of one node. "" dials the configuration's address. It is called for
	// every Raft RPC, so it must be fast and safe for concurrent use (see
	// replication.NodeConfig.RaftPeerAddr). Default nil: dial the
	// configuration's addresses.
	RaftPeerAddr func(id string) string
	// UnsafeNoFsync turns off the fsync of the Raft log (raft.db, or the
	// raft-wal segments). Only for
	// experiments such as the fault tests' control: a machine crash or
	// power loss then loses writes acknowledged with acks=1 and acks=all.
	// Default false: every write to the Raft log is fsynced.
	UnsafeNoFsync bool

	// Auth is how clients authenticate: AuthNone ("" or "none", the
	// default: nobody, every connection is an anonymous superuser) or
	// AuthSCRAM (SASL SCRAM on the native and Kafka listeners; see
	// docs/security.md).
	Auth AuthMode
	// AdminUser and AdminPassword name the first superuser: whenever this
	// node is the leader and the cluster has no user AdminUser, it creates
	// it (SCRAM-SHA-256 and SCRAM-SHA-512 credentials; the password is not
	// stored). With AuthSCRAM the node also logs in to its peers with them
	// (JoinCluster, InitProducer forwarding). Both or neither.
	AdminUser     string
	AdminPassword string
}

// Defaults for Config's zero fields.
const (
	DefaultStartTimeout = 30 * time.Second
	DefaultIdleTimeout  = 10 * time.Minute
	DefaultMaxInFlight  = 1024
	DefaultMaxFetchWait = 30 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.RaftAddr == "" {
		c.RaftAddr = "127.0.0.1:0"
	}
	if c.KafkaAddr == "" {
		c.KafkaAddr = "127.0.0.1:0"
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = wire.DefaultMaxFrame
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = min(wire.DefaultMaxMessage, c.MaxFrameBytes)
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxFetchWait == 0 {
		c.MaxFetchWait = DefaultMaxFetchWait
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.RaftLog == "" {
		c.RaftLog = replication.RaftLogBolt
	}
	return c
}

// Validate reports what is wrong with c (after defaults), as an error
// wrapping ErrInvalidConfig. It does no I/O and never panics.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.DataDir == "" {
		return bad("DataDir is required")
	}
	addrs := append([]string{c.Addr}, c.Join...)
	if c.RaftListener != nil {
		addrs = append(addrs, c.RaftListener.Addr().String())
	} else {
		addrs = append(addrs, c.RaftAddr)
	}
	if c.MetricsAddr != "" {
		addrs = append(addrs, c.MetricsAddr)
	}
	if !c.DisableKafka {
		addrs = append(addrs, c.KafkaAddr)
		if c.KafkaAdvertisedAddr != "" {
			addrs = append(addrs, c.KafkaAdvertisedAddr)
		}
	}
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return bad("address %q: %v", a, err)
		}
	}
	switch {
	case c.StartTimeout < 0 || c.IdleTimeout < 0 || c.MaxFetchWait < 0:
		return bad("negative timeout")
	case c.HeartbeatTimeout < 0 || c.ElectionTimeout < 0 || c.LeaderLeaseTimeout < 0:
		return bad("negative raft timeout")
	case c.MaxFrameBytes < 1024 || c.MaxFrameBytes > 1<<30:
		return bad("MaxFrameBytes %d not in [1 KiB, 1 GiB]", c.MaxFrameBytes)
	case c.MaxMessageBytes < 1 || c.MaxMessageBytes > c.MaxFrameBytes:
		return bad("MaxMessageBytes %d not in [1, MaxFrameBytes]", c.MaxMessageBytes)
	case c.MaxInFlight < 1:
		return bad("MaxInFlight %d < 1", c.MaxInFlight)
	case c.Bootstrap && len(c.Join) > 0:
		return bad("Bootstrap and Join exclude each other")
	case c.RaftLog != replication.RaftLogBolt && c.RaftLog != replication.RaftLogWAL:
		return bad("RaftLog %q is not bolt or wal", c.RaftLog)
	}
	if err := c.validateAuth(); err != nil {
		return bad("%v", err)
	}
	return c.validateTLS()
}

// validateTLS checks that TLS and PeerTLS can present certificates, that
// PeerTLS requires the other side's, and that PeerTLS comes with TLS
// (under PeerTLS a JoinCluster needs a node certificate on the client
// port, which a plaintext port never has: no node could join).
func (c Config) validateTLS() error {
	hasServerCert := func(t *tls.Config) bool {
		return len(t.Certificates) > 0 || t.GetCertificate != nil || t.GetConfigForClient != nil
	}
	if c.TLS != nil && !hasServerCert(c.TLS) {
		return fmt.Errorf("%w: TLS has no certificate to present", ErrInvalidConfig)
	}
	if p := c.PeerTLS; p != nil {
		switch {
		case c.TLS == nil:
			return fmt.Errorf("%w: PeerTLS needs TLS: nodes call each other on the client port, over TLS with their node certificates", ErrInvalidConfig)
		case !hasServerCert(p):
			return fmt.Errorf("%w: PeerTLS has no certificate to present", ErrInvalidConfig)
		case len(p.Certificates) == 0 && p.GetClientCertificate == nil:
			return fmt.Errorf("%w: PeerTLS has no client certificate: nodes authenticate each other with one", ErrInvalidConfig)
		case p.GetConfigForClient == nil && p.ClientAuth != tls.RequireAndVerifyClientCert:
			return fmt.Errorf("%w: PeerTLS must require and verify client certificates (tls.RequireAndVerifyClientCert)", ErrInvalidConfig)
		}
	}
	return nil
}
