package console

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// The Host check defends against DNS rebinding. A page at
// http://evil.example:9095 whose name the attacker makes resolve to
// 127.0.0.1 reaches a console on loopback, and to the browser it is the
// page's own origin: the browser lets it read every answer. Such a request
// carries the attacker's name in Host (and in Origin), which is how the
// console tells it apart: it answers only Hosts that are its own names.
//
//	allowed Host                              port
//	localhost, 127.0.0.1, [::1]               the bound port (any port when Config.Addr is "")
//	the bound IP (not 0.0.0.0 or ::)          the bound port
//	each Config.AllowedHosts entry            its port if it names one, else any

// ErrAllowedHost is returned (wrapped, naming the entry) by New for a
// Config.AllowedHosts entry that is not a host name, an IP address or
// either with a port.
var ErrAllowedHost = errors.New("console: invalid allowed host")

// hostRule is one allowed host name; port "" matches any port.
type hostRule struct{ host, port string }

// hostCheck decides which Host headers a console answers. It is read-only
// after newHostCheck, so safe for concurrent use.
type hostCheck struct {
	rules []hostRule
}

// newHostCheck builds the rules for a console bound to addr ("" when not
// known) that also answers the names in extra. Errors: ErrAllowedHost.
func newHostCheck(addr string, extra []string) (*hostCheck, error) {
	hc := &hostCheck{}
	var port string
	if addr != "" {
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("console: Config.Addr %q is not HOST:PORT: %w", addr, err)
		}
		port = p
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			hc.rules = append(hc.rules, hostRule{normHost(host), port})
		} else if ip == nil && host != "" {
			// A name the node was told to bind: the operator's own.
			hc.rules = append(hc.rules, hostRule{normHost(host), port})
		}
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		hc.rules = append(hc.rules, hostRule{h, port})
	}
	for _, e := range extra {
		r, err := parseHostRule(e)
		if err != nil {
			return nil, err
		}
		hc.rules = append(hc.rules, r)
	}
	return hc, nil
}

// parseHostRule parses an AllowedHosts entry: "name", "name:port",
// "1.2.3.4", "[::1]", "::1" or "[::1]:port".
func parseHostRule(e string) (hostRule, error) {
	s := strings.TrimSpace(e)
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = s, ""
	}
	host = normHost(host)
	if host == "" || strings.ContainsAny(host, "/ \t*@?#") || (port != "" && strings.Trim(port, "0123456789") != "") {
		return hostRule{}, fmt.Errorf("%w: %q", ErrAllowedHost, e)
	}
	return hostRule{host, port}, nil
}

// normHost lower-cases a host name and drops IPv6 brackets and a final dot.
func normHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// allowed reports whether r's Host names this console.
func (hc *hostCheck) allowed(r *http.Request) bool {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil { // no port: the scheme's default
		host, port = r.Host, "80"
		if r.TLS != nil {
			port = "443"
		}
	}
	host = normHost(host)
	if host == "" {
		return false
	}
	for _, rule := range hc.rules {
		if rule.host == host && (rule.port == "" || rule.port == port) {
			return true
		}
	}
	return false
}

// wrap serves h only for requests whose Host is allowed; others get 421
// Misdirected Request with a plain-text reason.
func (hc *hostCheck) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hc.allowed(r) {
			http.Error(w, fmt.Sprintf("minibroker console: refused: Host %q is not a name of this console "+
				"(a defence against DNS rebinding). Use http://localhost:PORT/ or http://127.0.0.1:PORT/, "+
				"or let this name in with serve --http-allowed-hosts.", r.Host), http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// GuardHost returns a handler that serves h only for requests whose Host
// header is one of this console's names (see Config.Addr and
// Config.AllowedHosts), and refuses the others with 421 Misdirected
// Request. Serve whatever shares the console's listener (/metrics, health
// checks) through it: the console's own pages are guarded already. The
// handler is safe for concurrent use.
func (c *Console) GuardHost(h http.Handler) http.Handler { return c.hosts.wrap(h) }
