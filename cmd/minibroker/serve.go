package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/internal/tlsconf"
	"github.com/minibroker/minibroker/replication"
)

// serveConfig is what `minibroker serve` resolved from its flags,
// environment and config file.
type serveConfig struct {
	broker    broker.Config // Logger is set by runServe
	logFormat string        // text or json
	logLevel  string        // debug, info, warn or error
	console   consoleSettings
	tls       tlsconf.Files // --tls-cert, --tls-key, --tls-ca; all or none
}

// The environment variables of the first superuser (see
// broker.Config.AdminUser).
const (
	adminUserEnv     = "MINIBROKER_ADMIN_USER"
	adminPasswordEnv = "MINIBROKER_ADMIN_PASSWORD"
)

// shutdownTimeout bounds a graceful stop after SIGINT or SIGTERM.
const shutdownTimeout = 30 * time.Second

func newServeCmd(a *app) *cobra.Command {
	var (
		sc        serveConfig
		join      []string
		logFormat = newEnum("text", "text", "json")
		logLevel  = newEnum("info", "debug", "info", "warn", "error")
		raftLog   = newEnum(string(replication.RaftLogBolt), string(replication.RaftLogBolt), string(replication.RaftLogWAL))
		auth      = newEnum(string(broker.AuthNone), string(broker.AuthNone), string(broker.AuthSCRAM))
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a minibroker node",
		Long: `Run a minibroker node until SIGINT or SIGTERM, then stop it gracefully and
exit 0.

With no flags it runs one node with its data in ./minibroker-data, Kafka
clients on 127.0.0.1:9092 (kcat -b 127.0.0.1:9092, franz-go, sarama, ...),
minibroker's own clients and tools on 127.0.0.1:9094 and Raft on
127.0.0.1:9093, and forms a one-node cluster when the data directory is new.
--kafka-addr "" turns the Kafka listener off; --kafka-advertised-addr is the
address Kafka clients are told to connect to (behind NAT or in a container). A node started with --join asks the members at
those client addresses to add it. A node whose data directory already holds
a cluster ignores --bootstrap and --join, so a stopped node comes back with
the same command.

Every flag can also be set with an environment variable (MINIBROKER_ plus the
flag name in upper case, dashes as underscores: MINIBROKER_RAFT_ADDR) or a key
of the --config file; flags win over the environment, which wins over the file.
It serves the web console on --http-addr (127.0.0.1:9095 unless told
otherwise; read-only unless --console-write), and there too /metrics
(Prometheus), /healthz (200 while the process runs) and /readyz (200 once the
node is a member and knows a leader, else 503 with the reason; 503 while
shutting down). --metrics-addr serves the last three on an address of their
own. If the default console address is taken (a second node on this
machine), serve warns and goes on without the console.

--tls-cert, --tls-key and --tls-ca (all three: this node's certificate, with
common name node:<id>, its key, and the cluster's CA) serve TLS on the client
and Kafka listeners and require mutual TLS on the Raft port; the files are
re-read when they change. 'minibroker certs create' makes a set for a quick
start; see docs/security.md.

On SIGINT or SIGTERM it stops accepting clients, answers the requests in
flight, hands leadership over to another node if it leads, closes its data
and exits 0 (within 30s; a second signal kills it at once).

Logs go to stderr; the lines saying where the node serves go to stdout.`,
		Example: `  minibroker serve
  minibroker serve --id n1 --data d1 --addr 127.0.0.1:9101 --kafka-addr 127.0.0.1:9401 --raft-addr 127.0.0.1:9201 --bootstrap
  minibroker serve --id n2 --data d2 --addr 127.0.0.1:9102 --kafka-addr 127.0.0.1:9402 --raft-addr 127.0.0.1:9202 --join 127.0.0.1:9101`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sc.broker.Bootstrap && len(join) > 0 {
				return usageErrorf("serve: --bootstrap and --join exclude each other: the first node of a cluster bootstraps, the others join it")
			}
			for _, j := range join {
				if _, _, err := net.SplitHostPort(j); err != nil {
					return usageErrorf("serve: --join %q is not HOST:PORT: %w", j, err)
				}
			}
			for _, fa := range []struct{ flag, addr string }{
				{"--metrics-addr", sc.broker.MetricsAddr}, {"--kafka-addr", sc.broker.KafkaAddr},
				{"--kafka-advertised-addr", sc.broker.KafkaAdvertisedAddr},
			} {
				if fa.addr == "" {
					continue
				}
				if _, _, err := net.SplitHostPort(fa.addr); err != nil {
					return usageErrorf("serve: %s %q is not HOST:PORT: %w", fa.flag, fa.addr, err)
				}
			}
			// An empty --kafka-addr turns the Kafka listener off.
			sc.broker.DisableKafka = sc.broker.KafkaAddr == ""
			if sc.broker.DisableKafka && sc.broker.KafkaAdvertisedAddr != "" {
				return usageErrorf("serve: --kafka-advertised-addr needs the Kafka listener (--kafka-addr is empty)")
			}
			if a := sc.console.addr; a != "" {
				if _, _, err := net.SplitHostPort(a); err != nil {
					return usageErrorf("serve: --http-addr %q is not HOST:PORT: %w", a, err)
				}
			}
			if t := sc.tls; t != (tlsconf.Files{}) && (t.CertFile == "" || t.KeyFile == "" || t.CAFile == "") {
				return usageErrorf("serve: --tls-cert, --tls-key and --tls-ca go together (TLS for clients and mutual TLS between nodes)")
			}
			sc.console.explicit = cmd.Flags().Changed("http-addr")
			sc.broker.Join = join
			sc.logFormat, sc.logLevel = logFormat.value, logLevel.value
			sc.broker.RaftLog = replication.RaftLogStore(raftLog.value)
			sc.broker.Auth = broker.AuthMode(auth.value)
			// The first superuser comes from the environment only: a
			// password flag would show in ps and shell history.
			sc.broker.AdminUser, _ = a.getenv(adminUserEnv)
			sc.broker.AdminPassword, _ = a.getenv(adminPasswordEnv)
			if (sc.broker.AdminUser == "") != (sc.broker.AdminPassword == "") {
				return usageErrorf("serve: set both %s and %s, or neither", adminUserEnv, adminPasswordEnv)
			}
			// The console's client logs in with the admin credentials;
			// with TLS it presents this node's certificate instead, which
			// authenticates it (a SASL login on top would be refused).
			if sc.broker.Auth == broker.AuthSCRAM && sc.tls == (tlsconf.Files{}) {
				sc.console.user, sc.console.password = sc.broker.AdminUser, sc.broker.AdminPassword
			}
			serve := a.serve
			if serve == nil {
				serve = runServe
			}
			return serve(cmd.Context(), a, sc)
		},
	}
	f := cmd.Flags()
	f.StringVar(&sc.broker.ID, "id", "", "node id, unique in the cluster for good (default: the one saved in the data dir, else n1 for a node that bootstraps, n-<random> for one that joins)")
	f.StringVar(&sc.broker.DataDir, "data", defaultDataDir, "data directory")
	f.StringVar(&sc.broker.Addr, "addr", defaultAddr, "client address to listen on (HOST:PORT)")
	f.StringVar(&sc.broker.KafkaAddr, "kafka-addr", defaultKafkaAddr, "Kafka protocol address to listen on (HOST:PORT; empty: no Kafka listener)")
	f.StringVar(&sc.broker.KafkaAdvertisedAddr, "kafka-advertised-addr", "", "Kafka address told to Kafka clients (HOST:PORT; default: the address bound)")
	f.BoolVar(&sc.broker.AutoCreateTopics, "auto-create-topics", false, "let a Kafka client's Metadata request create a topic that does not exist (1 partition)")
	f.StringVar(&sc.broker.RaftAddr, "raft-addr", defaultRaftAddr, "Raft address to listen on (HOST:PORT)")
	f.BoolVar(&sc.broker.Bootstrap, "bootstrap", false, "form a new cluster if the data dir holds none (harmless if it does)")
	f.StringSliceVar(&join, "join", nil, "client addresses of cluster members to join, comma-separated (HOST:PORT[,HOST:PORT])")
	f.Var(logFormat, "log-format", "log format on stderr: text or json")
	f.Var(logLevel, "log-level", "lowest level logged: debug, info, warn or error")
	f.StringVar(&sc.broker.MetricsAddr, "metrics-addr", "", "HTTP address for /metrics (Prometheus), /healthz and /readyz (HOST:PORT; default: none)")
	f.Var(raftLog, "raft-log", "Raft log store of a new data dir: bolt (raft-boltdb) or wal (raft-wal); a data dir keeps the one it was created with")
	f.StringVar(&sc.console.addr, "http-addr", defaultHTTPAddr, "HTTP address of the web console, with /metrics, /healthz and /readyz too (HOST:PORT; \"\" turns it off; the default is skipped with a warning if taken)")
	f.BoolVar(&sc.console.write, "console-write", false, "let the web console create and delete topics and reset groups (default: read-only)")
	f.StringVar(&sc.tls.CertFile, "tls-cert", "", "this node's certificate (PEM; common name node:<id>): TLS on the client and Kafka listeners, mutual TLS on Raft; re-read when it changes")
	f.StringVar(&sc.tls.KeyFile, "tls-key", "", "the private key (PEM) of --tls-cert")
	f.StringVar(&sc.tls.CAFile, "tls-ca", "", "the cluster's CA certificate (PEM): verifies the other nodes and client certificates")
	markSettings(f, "tls-cert", "tls-key", "tls-ca")
	markSettings(f, "http-addr", "console-write")
	addConsoleHostFlag(f, &sc.console)
	f.Var(auth, "auth", "client authentication: none, or scram (SASL SCRAM on both listeners; the first superuser from "+adminUserEnv+" and "+adminPasswordEnv+")")
	markSettings(f, "auth")
	markSettings(f, "id", "data", "addr", "kafka-addr", "kafka-advertised-addr", "auto-create-topics", "raft-addr", "bootstrap", "join", "metrics-addr", "log-format", "log-level", "raft-log")
	return cmd
}

// newLogger returns the structured logger of serve, writing to w.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // the flag only accepts valid levels
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runServe runs a broker until ctx ends, then stops it gracefully; or
// until the broker stops itself on a fatal error, which it returns.
func runServe(ctx context.Context, a *app, sc serveConfig) error {
	logger := newLogger(a.stderr, sc.logFormat, sc.logLevel)
	cfg := sc.broker
	cfg.Logger = logger
	if sc.tls != (tlsconf.Files{}) {
		r, err := tlsconf.New(sc.tls, logger.With("tls", "reloader"))
		if err != nil {
			return usageErrorf("serve: --tls-cert, --tls-key, --tls-ca: %w", err)
		}
		if cfg.TLS, err = r.ServerConfig(); err != nil {
			return usageErrorf("serve: %w", err)
		}
		if cfg.PeerTLS, err = r.PeerConfig(); err != nil {
			return usageErrorf("serve: %w", err)
		}
		// The console's client: the CA, and this node's certificate.
		sc.console.clientTLS = r.ClientConfig()
	}
	for _, w := range startWarnings(cfg) {
		logger.Warn(w.msg, w.args...)
	}
	b, err := startBroker(ctx, cfg)
	if err != nil {
		return explainStart(err, cfg)
	}
	if b == nil {
		return nil // interrupted while starting; already stopped
	}
	fmt.Fprintf(a.stdout, "minibroker %s serving on %s (raft %s, data %s)\n", b.ID(), b.Addr(), b.RaftAddr(), cfg.DataDir)
	if k := b.KafkaAddr(); k != "" {
		fmt.Fprintf(a.stdout, "minibroker %s serving Kafka clients on %s\n", b.ID(), k)
	}
	if m := b.MetricsAddr(); m != "" {
		fmt.Fprintf(a.stdout, "minibroker %s metrics on http://%s/metrics (health /healthz, /readyz)\n", b.ID(), m)
	}
	con, err := startConsole(sc.console, b, logger)
	if err != nil {
		b.Close()
		return &hintError{err: err, msg: fmt.Sprintf("%v — pick a free port with --http-addr, or turn the console off with --http-addr \"\"", err)}
	}
	if con != nil {
		fmt.Fprintf(a.stdout, "minibroker %s console on http://%s/ (metrics /metrics, health /healthz, /readyz)\n", b.ID(), con.addr())
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			con.stop(sctx)
		}()
	}
	select {
	case <-ctx.Done():
	case <-b.Done():
		// The broker closed itself: its replication stopped on a fatal
		// error (it logged why). Exit non-zero so a supervisor restarts
		// it once the cause (a full disk, say) is fixed.
		return fmt.Errorf("minibroker %s stopped: %w", b.ID(), b.Err())
	}
	logger.Info("stopping: signal received")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := stopBroker(sctx, b); err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("stopping: %w", err)
		}
		// Shutdown closed everything anyway; only the graceful part (in-flight
		// requests, leadership hand-over) was cut short.
		logger.Warn("graceful stop took too long; closed without waiting further", "timeout", shutdownTimeout)
	}
	fmt.Fprintf(a.stdout, "minibroker %s stopped\n", b.ID())
	return nil
}

// stopBroker stops b gracefully: it stops accepting, answers the requests
// in flight, hands leadership over if b leads a cluster, then closes. When
// ctx ends first it closes at once and returns an error matching ctx's.
// It blocks until b is closed.
func stopBroker(ctx context.Context, b *broker.Broker) error {
	return b.Shutdown(ctx)
}

// startBroker runs broker.Start, which may wait for a cluster to answer,
// and gives up waiting when ctx ends: it then returns (nil, nil) once
// Start has returned and whatever it started is closed.
func startBroker(ctx context.Context, cfg broker.Config) (*broker.Broker, error) {
	type started struct {
		b   *broker.Broker
		err error
	}
	ch := make(chan started, 1)
	go func() {
		b, err := broker.Start(cfg)
		ch <- started{b, err}
	}()
	select {
	case s := <-ch:
		return s.b, s.err
	case <-ctx.Done():
		cfg.Logger.Info("signal received while starting; stopping once started")
		s := <-ch
		if s.b != nil {
			if err := s.b.Close(); err != nil {
				return nil, fmt.Errorf("stopping: %w", err)
			}
		}
		return nil, nil
	}
}

// explainStart says what to do about an error of broker.Start.
func explainStart(err error, cfg broker.Config) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return &hintError{err: err, msg: fmt.Sprintf(
			"cannot listen: %v — is another minibroker (or Kafka) running? Pick free ports with --addr, --kafka-addr, --raft-addr and --metrics-addr", err)}
	case errors.Is(err, broker.ErrStartTimeout) && len(cfg.Join) > 0:
		return &hintError{err: err, msg: fmt.Sprintf(
			"could not join the cluster at %s: %v — is a member serving there? (--join)", strings.Join(cfg.Join, ","), err)}
	case errors.Is(err, broker.ErrStartTimeout):
		return &hintError{err: err, msg: fmt.Sprintf(
			"the node did not become ready: %v — for a cluster, start the other nodes too", err)}
	}
	return err
}

// startWarning is one line serve logs at warn level as it starts.
type startWarning struct {
	msg  string
	args []any // slog attributes
}

// startWarnings returns what serve warns about before it starts a node
// with cfg: --auth scram without the admin pair, addresses beyond this
// machine without authentication, and a Raft address beyond this machine
// without TLS (--auth does not cover the Raft port: only mutual TLS
// does). cfg.PeerTLS set means TLS is on.
func startWarnings(cfg broker.Config) []startWarning {
	var ws []startWarning
	tlsOn := cfg.PeerTLS != nil
	if cfg.Auth == broker.AuthSCRAM && cfg.AdminUser == "" {
		msg := "--auth scram without " + adminUserEnv + ": only users that exist already can log in, and nodes cannot log in to each other"
		if tlsOn {
			// The node certificates authenticate the nodes.
			msg = "--auth scram without " + adminUserEnv + ": only users that exist already can log in"
		}
		ws = append(ws, startWarning{msg: msg})
	}
	for _, addr := range []struct{ flag, addr string }{{"--addr", cfg.Addr}, {"--kafka-addr", cfg.KafkaAddr}, {"--raft-addr", cfg.RaftAddr}} {
		if addr.addr == "" || !exposed(addr.addr) {
			continue
		}
		switch {
		case cfg.Auth != broker.AuthSCRAM:
			ws = append(ws, startWarning{msg: "listening beyond this machine without authentication: anyone who can reach this address can read, write and delete topics (see --auth scram and --tls-cert in docs/security.md)",
				args: []any{"flag", addr.flag, "addr", addr.addr}})
		case addr.flag == "--raft-addr" && !tlsOn:
			ws = append(ws, startWarning{msg: "Raft listening beyond this machine without TLS: --auth does not cover the Raft port, anyone who can reach it can vote and append entries (see --tls-cert in docs/security.md)",
				args: []any{"flag", addr.flag, "addr", addr.addr}})
		}
	}
	return ws
}

// exposed reports whether addr may be reachable from other machines: its
// host is empty (all interfaces), a non-loopback IP, or a name other than
// localhost.
func exposed(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false // broker.Config.Validate reports it
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}
