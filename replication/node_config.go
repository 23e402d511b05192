package replication

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/minibroker/minibroker/internal/tlsconf"
)

// NodeConfig configures a Node. The zero value of every optional field means
// "use the default" (see withDefaults); ID, RaftAddr and DataDir are required.
type NodeConfig struct {
	// ID is this server's raft ID, unique in the cluster for all time.
	ID string
	// RaftAddr is the TCP address the raft transport binds to, e.g.
	// "127.0.0.1:7001". Port 0 picks a free port; the bound address is then
	// advertised (see Node.RaftAddr). Ignored when RaftListener is set.
	RaftAddr string
	// RaftListener, if set, is a TCP listener the raft transport accepts
	// on instead of binding RaftAddr, as httptest.Server.Listener: for
	// tests and embedders that must hold their port across restarts, with
	// no moment at which another process could take it. Its address takes
	// RaftAddr's place (advertised unless RaftAdvertise is set). NewNode
	// takes ownership: the Node closes it on Close, and NewNode closes it
	// when it returns an error. Default nil: bind RaftAddr.
	RaftListener net.Listener
	// RaftAdvertise is the address other servers dial to reach this one.
	// Empty means the bound address, which must then not be unspecified
	// (0.0.0.0 or ::).
	RaftAdvertise string
	// DataDir holds the Raft log store (raft.db for bolt, the raft-wal
	// directory for wal), a marker file naming that store, and, unless
	// NewNode is given a snapshot store, the snapshots directory. Created
	// if missing.
	DataDir string
	// RaftLog chooses the Raft log and stable store: RaftLogBolt (default)
	// or RaftLogWAL. A DataDir keeps the store it was created with; NewNode
	// refuses the other one with a *StoreMismatchError.
	RaftLog RaftLogStore
	// Bootstrap makes a node with no raft state form a one-server cluster of
	// itself. With existing state it is ignored, so it is safe to keep it set
	// across restarts.
	Bootstrap bool

	// Raft timing. Defaults are raft.DefaultConfig's (1s, 1s, 500ms, 50ms).
	// LeaderLeaseTimeout must not exceed HeartbeatTimeout, and
	// ElectionTimeout must be at least HeartbeatTimeout.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration

	// Snapshotting and log compaction. Defaults are raft's: a snapshot is
	// considered every 120s (2 min) once 8192 entries are outstanding, and
	// 10240 entries are kept after it. Zero means the default, so
	// TrailingLogs cannot be set to 0.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// MaxAppendEntries bounds the entries sent in one AppendEntries RPC and
	// the size of raft's apply batch. Default 64, at most 1024.
	MaxAppendEntries int

	// Logger receives raft's and the node's logs. Nil discards them.
	Logger *slog.Logger

	// RaftTLS, if set, is mutual TLS on the Raft transport, both ways (see
	// stream_tls.go): accepting, it must require and verify the peer's
	// certificate; dialing, it presents this node's. Build it with
	// tlsconf.Reloader.PeerConfig, which also follows certificate
	// rotations and refuses certificates that are not nodes'. A failed
	// handshake closes that connection only; the listener keeps serving.
	// Default nil: plain TCP.
	RaftTLS *tls.Config
	// RaftTLSFailures, if set, counts and logs (rate limited) the failed
	// TLS handshakes on the Raft port. Default nil: not counted; raft's
	// transport does not log them either.
	RaftTLSFailures *tlsconf.FailureLog

	// Hooks for fault injection and special deployments. Their zero values
	// keep the normal behaviour.

	// RaftPeerAddr, if set, says how this node dials a peer: it maps the
	// peer's server ID to the address to dial instead of the address in the
	// Raft configuration, e.g. a per-link TCP proxy, so that a test can cut
	// exactly the links of one node, or a tunnel in a special deployment.
	// Returning "" dials the configuration's address (raft then logs a
	// warning each time). It is not called for this node's own ID, and it
	// only changes where this node connects: the configuration, and the
	// address this node advertises, stay as they are. Raft's goroutines
	// call it for every RPC this node sends (connections are pooled by the
	// address it returns), so it must be fast and safe for concurrent use.
	// Default nil: always dial the configuration's address.
	RaftPeerAddr func(id string) string
	// UnsafeNoSync turns off the fsync of the Raft log after every write to
	// it (bbolt's NoSync; for wal, the segment files' fsync). It is for experiments only (the control
	// of the fault tests, benchmarks): a machine crash or power loss then
	// loses Raft log entries, and so writes acknowledged with AcksLeader or
	// AcksAll, and can break Raft's safety (a vote or term forgotten). A
	// process crash loses nothing (the writes are in the page cache).
	// Default false: every write to the Raft log is fsynced.
	UnsafeNoSync bool

	// walSegmentBytes is the size of raft-wal's segment files; 0 means
	// raft-wal's default (64 MiB). Tests make it small so that segments
	// rotate and head truncation removes whole ones.
	walSegmentBytes int
}

// FastTimeouts returns a copy of c with short raft timeouts for in-process
// test clusters on loopback: 100ms heartbeat, election and lease, 5ms
// commit. A single node elects itself within 100-200ms, and a dead leader
// is replaced within a few hundred milliseconds. These are twice the values
// of raft's own tests, which lose leadership needlessly under -race on a
// loaded 2-core machine. Not for production: use the defaults there.
func (c NodeConfig) FastTimeouts() NodeConfig {
	c.HeartbeatTimeout = 100 * time.Millisecond
	c.ElectionTimeout = 100 * time.Millisecond
	c.LeaderLeaseTimeout = 100 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	return c
}

// withDefaults returns a copy of c with every unset optional field set to
// its default.
func (c NodeConfig) withDefaults() NodeConfig {
	d := raft.DefaultConfig()
	setDur := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDur(&c.HeartbeatTimeout, d.HeartbeatTimeout)
	setDur(&c.ElectionTimeout, d.ElectionTimeout)
	setDur(&c.LeaderLeaseTimeout, d.LeaderLeaseTimeout)
	setDur(&c.CommitTimeout, d.CommitTimeout)
	setDur(&c.SnapshotInterval, d.SnapshotInterval)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = d.SnapshotThreshold
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = d.TrailingLogs
	}
	if c.MaxAppendEntries == 0 {
		c.MaxAppendEntries = d.MaxAppendEntries
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.RaftLog == "" {
		c.RaftLog = RaftLogBolt
	}
	return c
}

// Validate reports whether c, with defaults applied to its unset fields, is
// a configuration NewNode accepts. It does no I/O (no DNS, no binding). The
// error is a *ConfigError, which matches ErrInvalidConfig. Validate never
// panics.
func (c NodeConfig) Validate() error {
	c = c.withDefaults()
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if c.ID == "" {
		return bad("ID", "must not be empty")
	}
	if c.DataDir == "" {
		return bad("DataDir", "must not be empty")
	}
	if c.RaftLog != RaftLogBolt && c.RaftLog != RaftLogWAL {
		return bad("RaftLog", "unknown raft log store %q (want bolt or wal)", c.RaftLog)
	}
	bindField, bindAddr := "RaftAddr", c.RaftAddr
	if c.RaftListener != nil {
		bindField, bindAddr = "RaftListener", c.RaftListener.Addr().String()
	}
	host, _, err := splitHostPort(bindAddr)
	if err != nil {
		return bad(bindField, "%v", err)
	}
	if c.RaftAdvertise != "" {
		ahost, aport, err := splitHostPort(c.RaftAdvertise)
		if err != nil {
			return bad("RaftAdvertise", "%v", err)
		}
		if ip := net.ParseIP(ahost); ahost == "" || aport == 0 || (ip != nil && ip.IsUnspecified()) {
			return bad("RaftAdvertise", "%q is not an address other servers can dial", c.RaftAdvertise)
		}
	} else if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return bad("RaftAdvertise", "must be set when %s %q binds all interfaces", bindField, bindAddr)
	}
	switch {
	case c.HeartbeatTimeout < 5*time.Millisecond:
		return bad("HeartbeatTimeout", "%v is below the minimum of 5ms", c.HeartbeatTimeout)
	case c.ElectionTimeout < c.HeartbeatTimeout:
		return bad("ElectionTimeout", "%v is below HeartbeatTimeout (%v)", c.ElectionTimeout, c.HeartbeatTimeout)
	case c.LeaderLeaseTimeout < 5*time.Millisecond:
		return bad("LeaderLeaseTimeout", "%v is below the minimum of 5ms", c.LeaderLeaseTimeout)
	case c.LeaderLeaseTimeout > c.HeartbeatTimeout:
		return bad("LeaderLeaseTimeout", "%v exceeds HeartbeatTimeout (%v)", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	case c.CommitTimeout < time.Millisecond:
		return bad("CommitTimeout", "%v is below the minimum of 1ms", c.CommitTimeout)
	case c.SnapshotInterval < 5*time.Millisecond:
		return bad("SnapshotInterval", "%v is below the minimum of 5ms", c.SnapshotInterval)
	case c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024:
		return bad("MaxAppendEntries", "%d is outside [1, 1024]", c.MaxAppendEntries)
	}
	return nil
}

// splitHostPort splits a "host:port" address and parses the port.
func splitHostPort(addr string) (host string, port uint16, err error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q in %q", ps, addr)
	}
	return host, uint16(p), nil
}

// raftConfig builds the raft.Config for c, which must have defaults applied.
func (c NodeConfig) raftConfig(logger hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.ID)
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.SnapshotInterval = c.SnapshotInterval
	rc.TrailingLogs = c.TrailingLogs
	rc.MaxAppendEntries = c.MaxAppendEntries
	// Entries queue in a buffer of MaxAppendEntries, so raft commits them in
	// batches. Raft then only honours an apply timeout for enqueueing.
	rc.BatchApplyCh = true
	// The FSM keeps its own durable state and recovers it on start, so raft
	// must not replace it with the latest snapshot. Raft still uses the
	// snapshot's metadata: entries up to its index are not re-applied, later
	// ones are, so the FSM must skip entries it already holds.
	rc.NoSnapshotRestoreOnStart = true
	// With ShutdownOnRemove, raft shuts itself down when a leader removes
	// itself, and then hands the only future that waits for its goroutines
	// to nobody: Close could no longer wait for raft before closing the
	// bolt store. A removed server instead stays a follower outside the
	// configuration; it starts no elections until it is closed.
	rc.ShutdownOnRemove = false
	rc.NoLegacyTelemetry = true
	rc.Logger = logger
	return rc
}

// hclogAdapter implements hclog.Logger on top of an slog.Logger, so raft's
// logs land in the node's structured logger. It is safe for concurrent use.
type hclogAdapter struct {
	l     *slog.Logger
	name  string
	args  []any         // implied arguments, already attached to l
	level *atomic.Int32 // minimum hclog.Level; shared with derived loggers
}

func newHCLogAdapter(l *slog.Logger) *hclogAdapter {
	lvl := new(atomic.Int32)
	lvl.Store(int32(hclog.Trace))
	return &hclogAdapter{l: l, level: lvl}
}

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (a *hclogAdapter) enabled(level hclog.Level) bool {
	return level >= hclog.Level(a.level.Load()) && a.l.Enabled(context.Background(), slogLevel(level))
}

// Log converts hclog's pre-formatted values (hclog.Fmt) and logs at level.
func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || !a.enabled(level) {
		return
	}
	copied := false
	for i, v := range args {
		f, ok := v.(hclog.Format)
		if !ok || len(f) == 0 {
			continue
		}
		if format, ok := f[0].(string); ok {
			if !copied { // never write to the caller's slice
				args, copied = append([]any(nil), args...), true
			}
			args[i] = fmt.Sprintf(format, f[1:]...)
		}
	}
	a.l.Log(context.Background(), slogLevel(level), msg, args...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }
func (a *hclogAdapter) IsTrace() bool                 { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool                 { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool                  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool                  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool                 { return a.enabled(hclog.Error) }
func (a *hclogAdapter) ImpliedArgs() []any            { return a.args }
func (a *hclogAdapter) Name() string                  { return a.name }
func (a *hclogAdapter) SetLevel(level hclog.Level)    { a.level.Store(int32(level)) }
func (a *hclogAdapter) GetLevel() hclog.Level         { return hclog.Level(a.level.Load()) }

// With returns a logger with args added to every record.
func (a *hclogAdapter) With(args ...any) hclog.Logger {
	b := *a
	b.l = a.l.With(args...)
	b.args = append(append([]any(nil), a.args...), args...)
	return &b
}

// Named returns a logger whose name is a's name with name appended.
func (a *hclogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return a.ResetNamed(name)
}

// ResetNamed returns a logger named name. The name is logged as "logger".
func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	b := *a
	b.name = name
	b.l = a.l.With("logger", name)
	return &b
}

// StandardLogger returns a *log.Logger that logs each line at Info, or at
// opts.ForceLevel when set.
func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	level := slog.LevelInfo
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = slogLevel(opts.ForceLevel)
	}
	return slog.NewLogLogger(a.l.Handler(), level)
}

// StandardWriter returns the writer of StandardLogger(opts).
func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return a.StandardLogger(opts).Writer()
}
