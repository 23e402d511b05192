package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The HTTP endpoints served on Config.MetricsAddr.
const (
	metricsPath = "/metrics" // Prometheus text (or OpenMetrics) exposition of Registry
	healthPath  = "/healthz" // 200 while the process serves
	readyPath   = "/readyz"  // 200 when ready (see readiness), else 503 with the reason
)

// httpShutdownTimeout bounds how long Close waits for scrapes in progress.
const httpShutdownTimeout = 5 * time.Second

// listenHTTP binds Config.MetricsAddr; serveHTTP serves on it. Binding
// first lets Start fail on a busy port before anything else runs.
func (b *Broker) listenHTTP() (net.Listener, error) {
	ln, err := net.Listen("tcp", b.cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("broker: metrics listen: %w", err)
	}
	return ln, nil
}

// serveHTTP starts the metrics and health server on ln, in a goroutine
// tracked by b.wg. It returns at once.
func (b *Broker) serveHTTP(ln net.Listener) {
	errLog := slog.NewLogLogger(b.logger.Handler(), slog.LevelWarn)
	b.httpLn = ln
	b.httpSrv = &http.Server{Handler: b.healthMux(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := b.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.logger.Error("metrics server failed", "error", err)
		}
	}()
}

// healthMux serves metricsPath, healthPath and readyPath.
func (b *Broker) healthMux() *http.ServeMux {
	errLog := slog.NewLogLogger(b.logger.Handler(), slog.LevelWarn)
	mux := http.NewServeMux()
	mux.Handle("GET "+metricsPath, promhttp.HandlerFor(b.metrics.reg, promhttp.HandlerOpts{
		ErrorLog:      errLog,
		ErrorHandling: promhttp.ContinueOnError, // a failing collector must not hide the others
		Registry:      b.metrics.reg,            // counts promhttp's own errors there
	}))
	mux.HandleFunc("GET "+healthPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET "+readyPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ok, reason := b.readiness()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, reason)
	})
	return mux
}

// closeHTTP stops the metrics server, letting scrapes in progress finish
// for a moment. It blocks until the server has stopped.
func (b *Broker) closeHTTP() {
	if b.httpSrv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	if err := b.httpSrv.Shutdown(ctx); err != nil {
		b.httpSrv.Close()
	}
}

// readiness reports whether this node is ready to serve, with a one-line
// reason: it is not shutting down, it is in the Raft configuration and it
// knows a leader; if it is the
// leader, it has passed its post-election barrier (applied every entry of
// earlier terms). It does not block.
func (b *Broker) readiness() (bool, string) {
	if b.isDraining() || b.ctx.Err() != nil {
		return false, "shutting down"
	}
	node := b.store.Node()
	id, _ := node.Leader()
	switch {
	case !b.isMember():
		return false, "not a member of the cluster (not joined yet, or removed)"
	case id == "":
		return false, "no leader known (election in progress)"
	case id == b.id && !node.IsReady():
		return false, "leader, but not yet caught up with earlier terms"
	case id == b.id:
		return true, "ok: leader"
	}
	return true, "ok: follower of " + id
}

// MetricsAddr is the address the metrics and health server is bound to
// (host:port, with the real port when Config.MetricsAddr had port 0), or
// "" when Config.MetricsAddr is empty. It does not block.
func (b *Broker) MetricsAddr() string {
	if b.httpLn == nil {
		return ""
	}
	return b.httpLn.Addr().String()
}
