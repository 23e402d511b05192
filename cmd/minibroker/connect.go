package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/minibroker/minibroker/client"
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
		User:        a.login.user,
		Password:    a.login.password,
	}
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
