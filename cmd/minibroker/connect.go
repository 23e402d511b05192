package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/internal/tlsconf"
)

// What `minibroker serve` uses with no flags, and so where the tools look
// for a cluster (defaultBrokers) and `recover` for a node's data.
// Kafka clients and tools assume 9092, so the Kafka listener has it; the
// native protocol is on 9094.
const (
	defaultDataDir   = "./minibroker-data"
	defaultAddr      = "127.0.0.1:9094"
	defaultKafkaAddr = "127.0.0.1:9092"
	defaultRaftAddr  = "127.0.0.1:9093"
	defaultBrokers   = defaultAddr
)

// dialTimeout bounds each connection attempt of the tools.
const dialTimeout = 3 * time.Second

// brokersFlag adds --brokers (a setting: MINIBROKER_BROKERS, key
// "brokers") to fs, storing into dst.
func brokersFlag(fs *pflag.FlagSet, dst *[]string) {
	fs.StringSliceVar(dst, "brokers", []string{defaultBrokers},
		"client addresses of one or more cluster members (HOST:PORT[,HOST:PORT])")
	markSettings(fs, "brokers")
}

// connect returns a Client of the cluster at brokers. Client logs of
// level warn and above (a retry that may duplicate, ...) go to a.stderr.
// Errors: a *usageError for a malformed address, else an explained error
// (no broker reachable, ...).
func (a *app) connect(brokers []string) (*client.Client, error) {
	if err := a.resolveLogin(); err != nil {
		return nil, err
	}
	cl, err := client.New(a.clientConfig(brokers))
	var ce *client.ConfigError
	switch {
	case errors.As(err, &ce) && ce.Field == "Brokers":
		return nil, usageErrorf("--brokers: %s", ce.Reason)
	case errors.As(err, &ce):
		return nil, fmt.Errorf("client: %w", err)
	case err != nil:
		return nil, explain(err, brokers, "")
	}
	return cl, nil
}

// clientConfig is the client configuration of the tools: brokers, their
// dial timeout, and warnings and above logged to a.stderr.
func (a *app) clientConfig(brokers []string) client.Config {
	return client.Config{
		Brokers:     brokers,
		DialTimeout: dialTimeout,
		Logger:      slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		TLS:         a.tls.cfg,
		User:        a.login.user,
		Password:    a.login.password,
	}
}

// preRun runs before every command: it applies the settings (flags not
// given from the environment and the config file), then loads the tools'
// TLS files.
func (a *app) preRun(cmd *cobra.Command) error {
	if err := applySettings(cmd, a.getenv); err != nil {
		return err
	}
	return a.loadClientTLS()
}

// clientTLS is the TLS of the tools' clients.
type clientTLS struct {
	files tlsconf.Files // --tls-ca, --tls-cert, --tls-key
	cfg   *tls.Config   // loaded from files; nil: plaintext
}

// clientTLSFlags adds the tools' --tls-ca, --tls-cert and --tls-key
// (settings: MINIBROKER_TLS_CA ..., keys "tls-ca" ...) to fs, a persistent
// flag set of the root: every tool has them. serve has flags of the same
// names (its own certificate), which take their place there.
func (a *app) clientTLSFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.tls.files.CAFile, "tls-ca", "", "CA certificate (PEM) to verify the brokers with: speak TLS to them")
	fs.StringVar(&a.tls.files.CertFile, "tls-cert", "", "client certificate (PEM) to present to the brokers (with --tls-key); implies TLS")
	fs.StringVar(&a.tls.files.KeyFile, "tls-key", "", "private key (PEM) of --tls-cert")
	markSettings(fs, "tls-ca", "tls-cert", "tls-key")
}

// loadClientTLS loads the tools' TLS files, if any are given: with only
// --tls-cert and --tls-key the system's roots verify the brokers. Errors:
// a *usageError naming the flags.
func (a *app) loadClientTLS() error {
	f := a.tls.files
	if f == (tlsconf.Files{}) {
		return nil
	}
	r, err := tlsconf.New(f, nil)
	if err != nil {
		return usageErrorf("--tls-ca, --tls-cert, --tls-key: %w", err)
	}
	a.tls.cfg = r.ClientConfig()
	return nil
}

// withClient connects to brokers (see connect), runs fn with the client
// and closes it. It returns connect's error or fn's.
func (a *app) withClient(brokers []string, fn func(cl *client.Client) error) error {
	cl, err := a.connect(brokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	return fn(cl)
}
