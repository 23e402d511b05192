package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/internal/wire"
	"github.com/minibroker/minibroker/replication"
)

// AuthMode is how clients authenticate (Config.Auth).
type AuthMode string

// Authentication modes.
const (
	// AuthNone (or "") authenticates nobody: every connection acts as an
	// anonymous superuser, as before authentication existed.
	AuthNone AuthMode = "none"
	// AuthSCRAM requires every connection (native and Kafka) to log in
	// with SASL SCRAM-SHA-256 or SCRAM-SHA-512 (Kafka also PLAIN over
	// TLS) before anything else is served. Users live in the replicated
	// state; Config.AdminUser creates the first one.
	AuthSCRAM AuthMode = "scram"
)

// anonymous is the principal of every connection when authentication is off.
var anonymous = auth.Principal{User: "ANONYMOUS", Superuser: true}

// authOn reports whether connections must authenticate.
func (c Config) authOn() bool { return c.Auth == AuthSCRAM }

// validateAuth checks the authentication settings.
func (c Config) validateAuth() error {
	switch c.Auth {
	case "", AuthNone, AuthSCRAM:
	default:
		return fmt.Errorf("Auth %q is not none or scram", c.Auth)
	}
	if (c.AdminUser == "") != (c.AdminPassword == "") {
		return errors.New("AdminUser and AdminPassword go together")
	}
	if c.AdminUser != "" {
		if err := auth.ValidateUserName(c.AdminUser); err != nil {
			return fmt.Errorf("AdminUser: %w", err)
		}
	}
	return nil
}

// loginReplayWait bounds how long a login for a user this node does not
// know waits while the node re-applies its log after a restart (replay.go):
// the users are in that log, so until then every login would be refused.
const loginReplayWait = 10 * time.Second

// lookupCred reads a user's credential from this node's applied state, for
// a login on either listener. A user not found on a node still re-applying
// its log is looked up again once the replay is done (it blocks up to
// loginReplayWait, or until the broker closes). Safe for concurrent use.
func (b *Broker) lookupCred(user, mech string) (auth.ScramCred, bool) {
	cred, ok := b.store.Cred(user, mech)
	if !ok && !b.replayed() {
		ctx, cancel := context.WithTimeout(b.ctx, loginReplayWait)
		defer cancel()
		_ = b.waitReplayed(ctx) // then look once more, replayed or not
		cred, ok = b.store.Cred(user, mech)
	}
	return cred, ok
}

// mechLabel bounds the mechanism label of the failure metric.
func mechLabel(mech string) string {
	switch mech {
	case auth.MechSCRAMSHA256, auth.MechSCRAMSHA512, auth.MechPlain:
		return mech
	}
	return "unknown"
}

// authFailed counts and logs (rate-limited) a failed authentication.
func (b *Broker) authFailed(listener, mech, user, remote string, err error) {
	b.metrics.authFailures.WithLabelValues(listener, mechLabel(mech)).Inc()
	if ok, suppressed := b.authLog.Allow(time.Now()); ok {
		b.logger.Warn("authentication failed", "listener", listener, "mechanism", mech, "user", user,
			"remote", remote, "error", err, "suppressed_since_last", suppressed)
	}
}

// saslAuthenticate runs one step of a connection's SASL exchange on the
// reader goroutine (which owns c.sasl and c.principal). It answers, and
// returns false when the connection must close: the exchange failed, or
// the request came on a connection that cannot authenticate.
func (c *conn) saslAuthenticate(corr uint32, body []byte) bool {
	var req wire.SaslAuthenticateRequest
	if err := wire.DecodeBody(body, &req); err != nil {
		c.respondErr(corr, wire.SaslAuthenticate, err)
		return false
	}
	fail := func(user string, err error) bool {
		c.b.authFailed("native", req.Mechanism, user, c.nc.RemoteAddr().String(), err)
		c.reply(corr, wire.SaslAuthenticate, wire.CodeSaslAuthentication, wire.SaslAuthenticateResponse{
			ErrorCode:    wire.CodeSaslAuthentication,
			ErrorMessage: fmt.Sprintf("authentication failed with %s: unknown user, wrong password or bad message", req.Mechanism),
		})
		return false
	}
	switch {
	case !c.b.cfg.authOn():
		return fail("", errors.New("authentication is off on this broker (serve --auth none)"))
	case c.principal.Authenticated():
		return fail(c.principal.User, errors.New("already authenticated"))
	}
	if c.sasl == nil {
		s, err := auth.NewScramServer(req.Mechanism, c.b.lookupCred)
		if err != nil {
			return fail("", err)
		}
		c.sasl, c.saslMech = s, req.Mechanism
	} else if req.Mechanism != c.saslMech {
		return fail(c.sasl.User(), fmt.Errorf("mechanism changed from %s", c.saslMech))
	}
	out, done, err := c.sasl.Step(req.Bytes)
	if err != nil {
		return fail(c.sasl.User(), err)
	}
	if done {
		c.principal = c.b.store.Principal(c.sasl.User())
		c.sasl = nil
	}
	c.reply(corr, wire.SaslAuthenticate, wire.CodeNone, wire.SaslAuthenticateResponse{Bytes: out, Done: done})
	return true
}

// refuseUnauthenticated answers a request sent before the connection
// authenticated; the caller closes the connection.
func (c *conn) refuseUnauthenticated(hdr wire.RequestHeader) {
	if ok, suppressed := c.b.authLog.Allow(time.Now()); ok {
		c.b.logger.Warn("request before authentication, closing connection", "api", hdr.APIKey,
			"remote", c.nc.RemoteAddr().String(), "suppressed_since_last", suppressed)
	}
	c.respondErr(hdr.CorrelationID, hdr.APIKey,
		wire.Err(wire.CodeUnauthenticated, "this broker requires authentication (SASL SCRAM) before "+hdr.APIKey.String()))
}

// authorizeUsers refuses a user administration request from a
// principal without the permission op on the cluster (Alter to change
// users, Describe to list them; superusers have every permission).
func (c *conn) authorizeUsers(op auth.Operation) error {
	return c.authorizeCluster(op)
}

// putUser derives the credentials of the request's password (random
// salt) and replicates them.
func (c *conn) putUser(ctx context.Context, req *wire.PutUserRequest) wire.PutUserResponse {
	err := c.authorizeUsers(auth.OpAlter)
	if err == nil {
		err = c.authorizeSuperuserChange(req.Name, req.Superuser)
	}
	if err == nil {
		err = c.b.putUser(ctx, req)
	}
	r := wire.PutUserResponse{ErrorCode: codeOf(err), ErrorMessage: c.b.errText(err)}
	if r.ErrorCode == wire.CodeNotLeader {
		_, r.LeaderAddr = c.b.leaderClientAddr()
	}
	return r
}

// authorizeSuperuserChange refuses, unless the connection's principal is
// a superuser (or nothing is enforced), to make a superuser or to change
// or delete the user name who is one: cluster Alter alone must not hand
// out, or take over, the superuser's powers. It reads this node's applied
// state: a user made a superuser by a command not yet applied here is
// seen as it was.
func (c *conn) authorizeSuperuserChange(name string, makeSuper bool) error {
	if !c.b.authz.enforce.Load() || c.principal.Superuser {
		return nil
	}
	u, exists := c.b.store.User(name)
	if makeSuper || (exists && u.Superuser) {
		return fmt.Errorf("%w: %s is not a superuser: only a superuser may create, change or delete a superuser (%q)",
			wire.ErrClusterAuthorization, c.principal, name)
	}
	return nil
}

// putUser checks the request, derives one credential per mechanism (both
// when none is named) and proposes them with Replace: the user's
// credentials of other mechanisms, which hold an older password, are
// dropped. Mechanisms are checked (known, at most two, duplicates
// collapsed) and the user limit before any key derivation. It blocks
// until the command is applied. Errors wrap replication.ErrInvalidUser,
// or are those of Store.PutUser.
func (b *Broker) putUser(ctx context.Context, req *wire.PutUserRequest) error {
	if err := auth.ValidateUserName(req.Name); err != nil {
		return fmt.Errorf("%w: %w", replication.ErrInvalidUser, err)
	}
	if !auth.PrintableText(req.Name) { // Apply's check is laxer: it must not depend on Unicode tables
		return fmt.Errorf("%w: %w: %q holds a non-printable character", replication.ErrInvalidUser, auth.ErrInvalidUserName, req.Name)
	}
	if req.Password == "" {
		return fmt.Errorf("%w: empty password", replication.ErrInvalidUser)
	}
	mechs, err := userMechanisms(req.Mechanisms)
	if err != nil {
		return err
	}
	if _, exists := b.store.User(req.Name); !exists && b.store.UserCount() >= replication.MaxUsers {
		return fmt.Errorf("%w: the limit is %d users", replication.ErrTooManyUsers, replication.MaxUsers)
	}
	cmd := replication.PutUserCmd{Name: req.Name, Superuser: &req.Superuser, Replace: true}
	for _, m := range mechs {
		cr, err := auth.NewCred(m, req.Password)
		if err != nil {
			return fmt.Errorf("%w: %w", replication.ErrInvalidUser, err)
		}
		cmd.Creds = append(cmd.Creds, cr)
	}
	return b.store.PutUser(ctx, cmd)
}

// userMechanisms returns the SCRAM mechanisms a PutUser names, without
// duplicates, or both when it names none. An unknown mechanism, or more
// names than there are mechanisms, wraps replication.ErrInvalidUser.
func userMechanisms(names []string) ([]string, error) {
	all := auth.ScramMechanisms()
	if len(names) == 0 {
		return all, nil
	}
	if len(names) > len(all) {
		return nil, fmt.Errorf("%w: %d mechanisms, at most %d", replication.ErrInvalidUser, len(names), len(all))
	}
	var out []string
	for _, m := range names {
		if !slices.Contains(all, m) {
			return nil, fmt.Errorf("%w: %w: %q", replication.ErrInvalidUser, auth.ErrUnknownMechanism, m)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// deleteUser deletes a user through Raft.
func (c *conn) deleteUser(ctx context.Context, req *wire.DeleteUserRequest) wire.DeleteUserResponse {
	err := c.authorizeUsers(auth.OpAlter)
	if err == nil {
		err = c.authorizeSuperuserChange(req.Name, false)
	}
	if err == nil {
		err = c.b.store.DeleteUser(ctx, req.Name, "")
	}
	r := wire.DeleteUserResponse{ErrorCode: codeOf(err), ErrorMessage: c.b.errText(err)}
	if r.ErrorCode == wire.CodeNotLeader {
		_, r.LeaderAddr = c.b.leaderClientAddr()
	}
	return r
}

// listUsers lists the users this node has applied.
func (c *conn) listUsers(context.Context, *wire.ListUsersRequest) wire.ListUsersResponse {
	if err := c.authorizeUsers(auth.OpDescribe); err != nil {
		return wire.ListUsersResponse{ErrorCode: codeOf(err), ErrorMessage: err.Error()}
	}
	var r wire.ListUsersResponse
	for _, u := range c.b.store.Users() {
		r.Users = append(r.Users, wire.UserInfo{Name: u.Name, Superuser: u.Superuser, Mechanisms: u.Mechanisms()})
	}
	return r
}

// ensureAdmin creates Config.AdminUser (a superuser with both SCRAM
// mechanisms) if the cluster has no such user: whenever this node is the
// ready leader, until the user is in this node's applied state. It runs
// until then or the broker closes.
func (b *Broker) ensureAdmin() {
	defer b.wg.Done()
	node := b.store.Node()
	backoff := 50 * time.Millisecond
	for {
		if _, ok := b.store.User(b.cfg.AdminUser); ok {
			return
		}
		changed := node.LeaderChanged()
		if node.IsReady() {
			err := b.createAdmin()
			if err == nil || errors.Is(err, replication.ErrUserExists) {
				if err == nil {
					b.logger.Info("created the admin user", "user", b.cfg.AdminUser)
				}
				continue
			}
			b.logger.Warn("creating the admin user", "user", b.cfg.AdminUser, "error", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-b.ctx.Done():
			t.Stop()
			return
		case <-changed:
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, 2*time.Second)
	}
}

// createAdmin proposes the admin user; ErrUserExists if another node
// created it first.
func (b *Broker) createAdmin() error {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	yes := true
	cmd := replication.PutUserCmd{Name: b.cfg.AdminUser, Superuser: &yes, Create: true}
	for _, m := range auth.ScramMechanisms() {
		cr, err := auth.NewCred(m, b.cfg.AdminPassword)
		if err != nil {
			return err
		}
		cmd.Creds = append(cmd.Creds, cr)
	}
	return b.store.PutUser(ctx, cmd)
}

// awaitAdmin waits, on the leader, until the admin user is applied, so
// that Start returns a broker its admin can log in to. It gives up
// silently at ctx's end (ensureAdmin keeps trying).
func (b *Broker) awaitAdmin(ctx context.Context) {
	if b.cfg.AdminUser == "" || !b.store.Node().IsReady() {
		return
	}
	for {
		if _, ok := b.store.User(b.cfg.AdminUser); ok {
			return
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
