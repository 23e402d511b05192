package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/minibroker/minibroker/client"
)

// defaultBrokers is where the tools look for a cluster: the client
// address of `minibroker serve` with no flags.
const defaultBrokers = "127.0.0.1:9092"

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
	cfg := client.Config{
		Brokers:     brokers,
		DialTimeout: dialTimeout,
		Logger:      slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if err := cfg.Validate(); err != nil {
		var ce *client.ConfigError
		if errors.As(err, &ce) && ce.Field == "Brokers" {
			return nil, usageErrorf("--brokers: %s", ce.Reason)
		}
		return nil, fmt.Errorf("client: %w", err)
	}
	cl, err := client.New(cfg)
	if err != nil {
		return nil, explain(err, brokers, "")
	}
	return cl, nil
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
