package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/console"
	"github.com/spf13/pflag"
)

// defaultHTTPAddr is where serve offers the web console (and /metrics,
// /healthz, /readyz) unless told otherwise.
const defaultHTTPAddr = "127.0.0.1:9095"

// consoleSettings are serve's console flags.
type consoleSettings struct {
	addr     string // --http-addr; "" turns the console off
	explicit bool   // addr was given (flag, environment or file), not the default
	write    bool   // --console-write
	// allowedHosts are the further names the console answers to
	// (--http-allowed-hosts): its Host check refuses any other name.
	allowedHosts []string
	// clientTLS is the console's client TLS (set by runServe with TLS);
	// nil: plaintext.
	clientTLS *tls.Config
	// user and password log the console in (serve sets the admin
	// credentials when --auth scram without TLS; with TLS, this node's
	// certificate in clientTLS authenticates it).
	user, password string
}

// addConsoleHostFlag adds serve's --http-allowed-hosts setting to f.
func addConsoleHostFlag(f *pflag.FlagSet, cs *consoleSettings) {
	f.StringSliceVar(&cs.allowedHosts, "http-allowed-hosts", nil,
		"further host names (NAME or NAME:PORT, comma-separated) the web console answers to in the Host header; "+
			"it always answers localhost, 127.0.0.1 and [::1] on its port and the IP it is bound to, and refuses other names "+
			"(DNS rebinding): list the names clients use, needed when --http-addr is 0.0.0.0 or [::]")
	markSettings(f, "http-allowed-hosts")
}

// consoleServer is the console's HTTP server, beside a broker.
type consoleServer struct {
	con *console.Console
	srv *http.Server
	ln  net.Listener
	err chan error // Serve's result
}

// startConsole serves the web console of b on cs.addr: the pages, and
// /metrics, /healthz and /readyz as on --metrics-addr, all behind the
// console's Host check (console.Console.GuardHost). It returns nil
// (and no error) when the console is off, or when the default address is
// taken (another node on this machine has it: serve goes on without,
// saying so); a busy address given explicitly is an error. It does not
// block.
func startConsole(cs consoleSettings, b *broker.Broker, logger *slog.Logger) (*consoleServer, error) {
	if cs.addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cs.addr)
	if err != nil {
		if !cs.explicit && errors.Is(err, syscall.EADDRINUSE) {
			logger.Warn("web console off: its default address is taken (another node on this machine?); choose one with --http-addr", "addr", cs.addr)
			return nil, nil
		}
		return nil, fmt.Errorf("web console: %w", err)
	}
	if exposed(cs.addr) {
		logger.Warn("web console listening beyond this machine: it has no authentication, so anyone who can reach it can read every message"+map[bool]string{true: " and delete topics", false: ""}[cs.write],
			"flag", "--http-addr", "addr", cs.addr)
	}
	bound := ln.Addr().String()
	allowed := cs.allowedHosts
	host, _, _ := net.SplitHostPort(cs.addr)
	if host != "" && net.ParseIP(host) == nil {
		// Bound by name (--http-addr name:port): the console answers to it.
		_, port, _ := net.SplitHostPort(bound)
		allowed = append([]string{net.JoinHostPort(host, port)}, allowed...)
	}
	if ip := net.ParseIP(host); (host == "" || (ip != nil && ip.IsUnspecified())) && len(cs.allowedHosts) == 0 {
		logger.Warn("web console on all interfaces answers only to localhost, 127.0.0.1 and [::1] (a defence against DNS rebinding): list the names and addresses clients use with --http-allowed-hosts",
			"flag", "--http-addr", "addr", cs.addr)
	}
	con, err := console.New(console.Config{Broker: b, Write: cs.write, Logger: logger, ClientTLS: cs.clientTLS, User: cs.user, Password: cs.password,
		Addr: bound, AllowedHosts: allowed})
	if err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	health := b.HealthHandler()
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		mux.Handle(p, health)
	}
	mux.Handle("/", con)
	s := &consoleServer{con: con, ln: ln, err: make(chan error, 1),
		srv: &http.Server{Handler: con.GuardHost(mux), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}}
	go func() { s.err <- s.srv.Serve(ln) }()
	return s, nil
}

// addr is the bound address.
func (s *consoleServer) addr() string { return s.ln.Addr().String() }

// stop closes the console and its server, letting requests in progress
// finish until ctx ends. It blocks until both have stopped. A nil s is a
// no-op.
func (s *consoleServer) stop(ctx context.Context) {
	if s == nil {
		return
	}
	s.con.Close() // ends live streams, which Shutdown would wait for
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.err
}
