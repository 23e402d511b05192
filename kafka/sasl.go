package kafka

import (
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
)

// Kafka's SASL error codes.
const (
	codeUnsupportedSaslMechanism int16 = 33
	codeIllegalSaslState         int16 = 34
	codeSaslAuthenticationFailed int16 = 58
)

// errUnauthenticated ends a connection that sent a request before it
// authenticated (logged rate-limited: a client can cause it at will).
var errUnauthenticated = errors.New("kafka: request before authentication")

// errAuthClose ends the reading of a connection whose authentication
// failed: the writer sends the answers queued (the failure last) and
// closes it.
var errAuthClose = errors.New("kafka: authentication failed")

// anonymous is the principal of every connection when authentication is off.
var anonymous = auth.Principal{User: "ANONYMOUS", Superuser: true}

// preAuthAPIs are the only requests served before a connection authenticates.
func preAuthAPI(key int16) bool {
	switch key {
	case kmsg.ApiVersions.Int16(), kmsg.SASLHandshake.Int16(), kmsg.SASLAuthenticate.Int16():
		return true
	}
	return false
}

// mechanisms lists the SASL mechanisms a connection may use: SCRAM, and
// PLAIN only over TLS (it sends the password itself).
func (c *conn) mechanisms() []string {
	ms := auth.ScramMechanisms()
	if c.isTLS() {
		ms = append(ms, auth.MechPlain)
	}
	return ms
}

// handleSASLHandshake picks the mechanism. Only v1 is served: v0 means
// the raw SASL framing follows, which this package does not speak; it is
// refused with UNSUPPORTED_VERSION and the connection closed.
func handleSASLHandshake(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = c.mechanisms()
	switch {
	case !c.s.cfg.RequireAuth:
		resp.SupportedMechanisms = nil
		resp.ErrorCode = codeIllegalSaslState
		c.authFail(sl, req.Mechanism, "", errors.New("authentication is off on this listener"))
	case req.Version < 1:
		resp.ErrorCode = codeUnsupportedVersion
		c.authFail(sl, req.Mechanism, "", errors.New("SaslHandshake v0 (raw SASL framing) is not supported: use v1"))
	case c.principal.Authenticated() || c.saslMech != "":
		resp.ErrorCode = codeIllegalSaslState
		c.authFail(sl, req.Mechanism, "", errors.New("SaslHandshake after a handshake"))
	case !slices.Contains(resp.SupportedMechanisms, req.Mechanism):
		resp.ErrorCode = codeUnsupportedSaslMechanism
		c.authFail(sl, req.Mechanism, "", fmt.Errorf("mechanism %q not offered on this connection", req.Mechanism))
	default:
		c.saslMech = req.Mechanism
	}
	sl.finish(resp)
}

// handleSASLAuthenticate runs one step of the exchange chosen by the
// handshake, on the reader goroutine (which owns the conversation and
// the principal). A failure answers SASL_AUTHENTICATION_FAILED and closes
// the connection.
func handleSASLAuthenticate(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	fail := func(code int16, user string, err error) {
		resp.ErrorCode = code
		msg := fmt.Sprintf("Authentication failed during authentication due to invalid credentials with SASL mechanism %s", c.saslMech)
		if code != codeSaslAuthenticationFailed {
			msg = err.Error()
		}
		resp.ErrorMessage = &msg
		c.authFail(sl, c.saslMech, user, err)
		sl.finish(resp)
	}
	switch {
	case c.saslMech == "" || c.principal.Authenticated():
		fail(codeIllegalSaslState, "", errors.New("SaslAuthenticate without a SaslHandshake first"))
		return
	case c.saslMech == auth.MechPlain:
		user, err := auth.VerifyPlain(req.SASLAuthBytes, c.s.lookupCred)
		if err != nil {
			fail(codeSaslAuthenticationFailed, "", err)
			return
		}
		c.principal = c.s.store.Principal(user)
		sl.finish(resp)
		return
	}
	if c.sasl == nil {
		s, err := auth.NewScramServer(c.saslMech, c.s.lookupCred)
		if err != nil {
			fail(codeSaslAuthenticationFailed, "", err)
			return
		}
		c.sasl = s
	}
	out, done, err := c.sasl.Step(req.SASLAuthBytes)
	if err != nil {
		fail(codeSaslAuthenticationFailed, c.sasl.User(), err)
		return
	}
	resp.SASLAuthBytes = out
	if done {
		c.principal = c.s.store.Principal(c.sasl.User())
		c.sasl = nil
	}
	sl.finish(resp)
}

// authFail reports a failed authentication (Config.OnAuthFailure) and
// marks the slot so that the connection closes once its answer is
// written; the reader stops (dispatch returns errAuthClose).
func (c *conn) authFail(sl *slot, mech, user string, err error) {
	sl.closeAfter = true
	c.authFailed = true
	if f := c.s.cfg.OnAuthFailure; f != nil {
		f(mech, user, c.nc.RemoteAddr().String(), err)
	}
}

// lookupCred reads a user's credential: Config.LookupCred, by default from
// the applied state.
func (s *Server) lookupCred(user, mech string) (auth.ScramCred, bool) {
	if f := s.cfg.LookupCred; f != nil {
		return f(user, mech)
	}
	return s.store.Cred(user, mech)
}
