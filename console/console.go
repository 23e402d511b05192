package console

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/lab"
)

//go:embed assets
var assets embed.FS

// Config configures a Console.
type Config struct {
	// Broker is the node the console runs beside. Required.
	Broker *broker.Broker
	// Write enables the write actions: create and delete topics, reset a
	// group's offsets. Default false: read-only.
	Write bool
	// Interval is how often the console samples the cluster (and pages
	// update). Default 1s.
	Interval time.Duration
	// Logger receives the console's logs; nil discards them.
	Logger *slog.Logger
	// ClientTLS is the TLS configuration of the console's client of the
	// cluster, needed when the broker serves TLS (broker.Config.TLS).
	// Default nil: plaintext.
	ClientTLS *tls.Config
	// User and Password log the console's client in when the cluster
	// requires authentication (serve --auth scram: serve passes the admin
	// credentials). Empty: no login.
	User, Password string
	// LabDir is the parent of the lab clusters' temporary directories
	// ("" : the system's temporary directory).
	LabDir string
	// Addr is the address the console is served on, as bound
	// ("127.0.0.1:9095"). The console answers only requests whose Host is
	// one of its names (a defence against DNS rebinding): localhost,
	// 127.0.0.1 and [::1] with this port, this IP with this port (unless it
	// is 0.0.0.0 or ::), and AllowedHosts. Default "": the loopback names
	// with any port.
	Addr string
	// AllowedHosts are further names (or IP addresses) the console answers
	// to, as in Host headers: "name" (any port) or "name:port". A console
	// bound to 0.0.0.0 or :: answers only loopback names unless its names
	// are listed here. Errors in New: ErrAllowedHost.
	AllowedHosts []string
	// LabSizes are how much a lab run does (zero: lab.ManualSizes, about
	// ten seconds of producing; tests make them smaller).
	LabSizes lab.Sizes
}

// ErrNoBroker is returned by New for a Config without a Broker.
var ErrNoBroker = errors.New("console: Config.Broker is required")

// Console is the web console of one node. It is an http.Handler, safe for
// concurrent use.
type Console struct {
	cfg    Config
	log    *slog.Logger
	lc     *lazyClient
	smp    *sampler
	tmpl   *template.Template
	hosts  *hostCheck
	root   http.Handler // mux behind the Host check
	labs   *labRuns
	cancel context.CancelFunc
	done   chan struct{}  // closed by Close: live streams end
	wg     sync.WaitGroup // the sampler

	verifyRun sync.Mutex // held while a cluster verify runs
	vmu       sync.Mutex // guards last
	last      *verdict   // the latest cluster verify verdict, nil before the first

	closeOnce sync.Once
}

// New starts a console of cfg.Broker and its sampler goroutine. It does
// not contact the cluster (its client connects on first use, so a node
// still replaying its log gets a console that shows so). Errors:
// ErrNoBroker, ErrAllowedHost, an Addr that is not HOST:PORT, a template
// that does not parse. Close it when done.
func New(cfg Config) (*Console, error) {
	if cfg.Broker == nil {
		return nil, ErrNoBroker
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hosts, err := newHostCheck(cfg.Addr, cfg.AllowedHosts)
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("").Funcs(funcs).ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Console{cfg: cfg, log: logger, lc: &lazyClient{addr: cfg.Broker.Addr(), tls: cfg.ClientTLS, user: cfg.User, password: cfg.Password}, tmpl: tmpl, hosts: hosts, cancel: cancel, done: make(chan struct{}), labs: newLabRuns(cfg.LabDir, cfg.LabSizes)}
	c.smp = newSampler(cfg.Broker, c.lc, cfg.Interval)
	c.routes()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.smp.run(ctx)
	}()
	return c, nil
}

// ServeHTTP serves the console's pages to requests whose Host is one of
// the console's names (Config.Addr, Config.AllowedHosts); others get 421
// Misdirected Request.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.root.ServeHTTP(w, r) }

// Close stops the sampler, any lab run and the client. It blocks until
// they have stopped. Idempotent; it returns the client's Close error.
// Live pages still open end at their next update.
func (c *Console) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.cancel()
		close(c.done)
		c.wg.Wait()
		c.labs.stopAll()
		err = c.lc.close()
	})
	return err
}

func (c *Console) routes() {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets/static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/cluster", http.StatusFound) })
	mux.HandleFunc("GET /cluster", c.clusterPage)
	mux.HandleFunc("GET /cluster/verify", c.lastVerify)
	mux.HandleFunc("POST /cluster/verify", c.sameOrigin(c.verify))
	mux.HandleFunc("GET /topics", c.topicsPage)
	mux.HandleFunc("GET /topics/{name}", c.topicPage)
	mux.HandleFunc("GET /groups", c.groupsPage)
	mux.HandleFunc("GET /groups/{name}", c.groupPage)
	mux.HandleFunc("GET /live", c.live)
	mux.HandleFunc("GET /api/snapshot", c.apiSnapshot)
	mux.HandleFunc("POST /topics", c.writeOnly(c.createTopic))
	mux.HandleFunc("POST /topics/{name}/delete", c.writeOnly(c.deleteTopic))
	mux.HandleFunc("POST /groups/{name}/reset", c.writeOnly(c.resetGroup))
	mux.HandleFunc("GET /lab", c.labPage)
	mux.HandleFunc("POST /lab/runs", c.sameOrigin(c.labStart))
	mux.HandleFunc("GET /lab/runs/{id}", c.labResult)
	mux.HandleFunc("POST /lab/runs/{id}/fault", c.sameOrigin(c.labFault))
	mux.HandleFunc("POST /lab/runs/{id}/stop", c.sameOrigin(c.labStop))
	mux.HandleFunc("GET /lab/runs/{id}/events", c.labEvents)
	c.root = c.hosts.wrap(mux)
}

func (c *Console) lastVerdict() *verdict {
	c.vmu.Lock()
	defer c.vmu.Unlock()
	return c.last
}

func (c *Console) setVerdict(v *verdict) {
	c.vmu.Lock()
	defer c.vmu.Unlock()
	c.last = v
}

// sameOrigin guards a state-changing request: it refuses one that a
// browser marks as sent by another site (Sec-Fetch-Site cross-site or
// same-site) or whose Origin names another origin than the console's
// Host. A page elsewhere must not drive this console. (The Host itself
// was checked by hostCheck, so Origin == Host means one of the console's
// own names.)
func (c *Console) sameOrigin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s := r.Header.Get("Sec-Fetch-Site"); s == "cross-site" || s == "same-site" {
			http.Error(w, "cross-site request refused (Sec-Fetch-Site: "+s+")", http.StatusForbidden)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
			http.Error(w, "cross-origin request refused (Origin "+o+")", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

// writeOnly serves h only when the console may write (Config.Write).
func (c *Console) writeOnly(h http.HandlerFunc) http.HandlerFunc {
	return c.sameOrigin(func(w http.ResponseWriter, r *http.Request) {
		if !c.cfg.Write {
			http.Error(w, "the console is read-only: start serve with --console-write to allow this", http.StatusForbidden)
			return
		}
		h(w, r)
	})
}
