package broker_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/internal/wire"
)

// login runs a SCRAM exchange on a raw connection and returns the last
// response (an error response when refused).
func (c *rawConn) login(mech, user, password string) wire.SaslAuthenticateResponse {
	c.t.Helper()
	cl, err := auth.NewScramClient(mech, user, password)
	if err != nil {
		c.t.Fatal(err)
	}
	msg, _, err := cl.Step(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	for {
		var resp wire.SaslAuthenticateResponse
		c.call(wire.SaslAuthenticate, &wire.SaslAuthenticateRequest{Mechanism: mech, Bytes: msg}, &resp)
		if resp.ErrorCode != wire.CodeNone || resp.Done {
			return resp
		}
		if msg, _, err = cl.Step(resp.Bytes); err != nil {
			c.t.Fatalf("server-first refused by the client: %v", err)
		}
	}
}

// eof reports whether the next read on the connection is EOF: the broker
// closed it (after its answer, which was read).
func (c *rawConn) eof() bool {
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.br.ReadByte()
	return errors.Is(err, io.EOF)
}

// authFailures reads minibroker_auth_failures_total{listener, mechanism}.
func authFailures(t *testing.T, b *broker.Broker, listener, mech string) float64 {
	t.Helper()
	mfs, err := b.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "minibroker_auth_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["listener"] == listener && labels["mechanism"] == mech {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestNativeSCRAM(t *testing.T) {
	c := brokertest.NewCluster(t, 1, brokertest.SCRAM("admin", "admin-pw"))
	b := c.Broker(0)

	// Unauthenticated: refused with Unauthenticated, then closed.
	rc := dialRaw(t, b.Addr())
	var md wire.MetadataResponse
	rc.call(wire.Metadata, &wire.MetadataRequest{}, &md)
	if md.ErrorCode != wire.CodeUnauthenticated {
		t.Fatalf("metadata before login: %v %q", md.ErrorCode, md.ErrorMessage)
	}
	if !rc.eof() {
		t.Fatal("connection left open after an unauthenticated request")
	}

	// A wrong password: refused, counted, closed.
	for _, mech := range auth.ScramMechanisms() {
		before := authFailures(t, b, "native", mech)
		rc = dialRaw(t, b.Addr())
		if r := rc.login(mech, "admin", "wrong"); r.ErrorCode != wire.CodeSaslAuthentication {
			t.Fatalf("%s wrong password: %+v", mech, r)
		}
		if !rc.eof() {
			t.Fatalf("%s: connection left open after a failed login", mech)
		}
		if got := authFailures(t, b, "native", mech); got != before+1 {
			t.Fatalf("%s: auth_failures_total %v, want %v", mech, got, before+1)
		}
	}
	// An unknown user alike.
	rc = dialRaw(t, b.Addr())
	if r := rc.login(auth.MechSCRAMSHA256, "nobody", "admin-pw"); r.ErrorCode != wire.CodeSaslAuthentication {
		t.Fatalf("unknown user: %+v", r)
	}
	// A malformed first message and an unknown mechanism.
	rc = dialRaw(t, b.Addr())
	var sr wire.SaslAuthenticateResponse
	rc.call(wire.SaslAuthenticate, &wire.SaslAuthenticateRequest{Mechanism: auth.MechSCRAMSHA256, Bytes: []byte("garbage")}, &sr)
	if sr.ErrorCode != wire.CodeSaslAuthentication || !rc.eof() {
		t.Fatalf("garbage: %+v", sr)
	}
	rc = dialRaw(t, b.Addr())
	rc.call(wire.SaslAuthenticate, &wire.SaslAuthenticateRequest{Mechanism: "PLAIN", Bytes: []byte("\x00admin\x00admin-pw")}, &sr)
	if sr.ErrorCode != wire.CodeSaslAuthentication || !rc.eof() {
		t.Fatalf("PLAIN on the native protocol: %+v", sr)
	}

	// The right password: served (both mechanisms).
	for _, mech := range auth.ScramMechanisms() {
		rc = dialRaw(t, b.Addr())
		if r := rc.login(mech, "admin", "admin-pw"); r.ErrorCode != wire.CodeNone || !r.Done {
			t.Fatalf("%s login: %+v", mech, r)
		}
		rc.call(wire.Metadata, &wire.MetadataRequest{}, &md)
		if md.ErrorCode != wire.CodeNone {
			t.Fatalf("metadata after login: %v %q", md.ErrorCode, md.ErrorMessage)
		}
	}

	// A second login on an authenticated connection is refused.
	if r := rc.login(auth.MechSCRAMSHA512, "admin", "admin-pw"); r.ErrorCode != wire.CodeSaslAuthentication {
		t.Fatalf("second login: %+v", r)
	}

	// Users: the admin creates bob (not a superuser), who can log in but
	// not administer users.
	ac := dialRaw(t, b.Addr())
	ac.login(auth.MechSCRAMSHA512, "admin", "admin-pw")
	var pu wire.PutUserResponse
	ac.call(wire.PutUser, &wire.PutUserRequest{Name: "bob", Password: "bob-pw", Mechanisms: []string{auth.MechSCRAMSHA256}}, &pu)
	if pu.ErrorCode != wire.CodeNone {
		t.Fatalf("put user: %+v", pu)
	}
	ac.call(wire.PutUser, &wire.PutUserRequest{Name: "", Password: "x"}, &pu)
	if pu.ErrorCode != wire.CodeInvalidUser {
		t.Fatalf("put user without a name: %+v", pu)
	}
	ac.call(wire.PutUser, &wire.PutUserRequest{Name: "x", Password: "x", Mechanisms: []string{"MD5"}}, &pu)
	if pu.ErrorCode != wire.CodeInvalidUser {
		t.Fatalf("put user with a bad mechanism: %+v", pu)
	}
	var lu wire.ListUsersResponse
	ac.call(wire.ListUsers, &wire.ListUsersRequest{}, &lu)
	if len(lu.Users) != 2 || lu.Users[0].Name != "admin" || !lu.Users[0].Superuser || len(lu.Users[0].Mechanisms) != 2 ||
		lu.Users[1].Name != "bob" || lu.Users[1].Superuser || len(lu.Users[1].Mechanisms) != 1 {
		t.Fatalf("list users: %+v", lu)
	}
	bc := dialRaw(t, b.Addr())
	if r := bc.login(auth.MechSCRAMSHA512, "bob", "bob-pw"); r.ErrorCode != wire.CodeSaslAuthentication {
		t.Fatalf("bob has no SHA-512 credential: %+v", r)
	}
	bc = dialRaw(t, b.Addr())
	if r := bc.login(auth.MechSCRAMSHA256, "bob", "bob-pw"); r.ErrorCode != wire.CodeNone {
		t.Fatalf("bob login: %+v", r)
	}
	bc.call(wire.ListUsers, &wire.ListUsersRequest{}, &lu)
	if lu.ErrorCode != wire.CodeClusterAuthorization {
		t.Fatalf("bob lists users: %+v", lu)
	}
	var du wire.DeleteUserResponse
	bc.call(wire.DeleteUser, &wire.DeleteUserRequest{Name: "admin"}, &du)
	if du.ErrorCode != wire.CodeClusterAuthorization {
		t.Fatalf("bob deletes admin: %+v", du)
	}
	ac.call(wire.DeleteUser, &wire.DeleteUserRequest{Name: "bob"}, &du)
	if du.ErrorCode != wire.CodeNone {
		t.Fatalf("delete bob: %+v", du)
	}
	ac.call(wire.DeleteUser, &wire.DeleteUserRequest{Name: "bob"}, &du)
	if du.ErrorCode != wire.CodeUnknownUser {
		t.Fatalf("delete bob again: %+v", du)
	}
	bc = dialRaw(t, b.Addr())
	if r := bc.login(auth.MechSCRAMSHA256, "bob", "bob-pw"); r.ErrorCode != wire.CodeSaslAuthentication {
		t.Fatalf("deleted bob logs in: %+v", r)
	}
}

// TestNativeAuthOff: without authentication nothing changes (a request
// is served without login), and a SaslAuthenticate is refused.
func TestNativeAuthOff(t *testing.T) {
	b := brokertest.NewBroker(t)
	rc := dialRaw(t, b.Addr())
	var md wire.MetadataResponse
	rc.call(wire.Metadata, &wire.MetadataRequest{}, &md)
	if md.ErrorCode != wire.CodeNone {
		t.Fatalf("metadata: %+v", md)
	}
	var lu wire.ListUsersResponse
	rc.call(wire.ListUsers, &wire.ListUsersRequest{}, &lu)
	if lu.ErrorCode != wire.CodeNone || len(lu.Users) != 0 {
		t.Fatalf("list users: %+v", lu)
	}
	if r := rc.login(auth.MechSCRAMSHA512, "admin", "pw"); r.ErrorCode != wire.CodeSaslAuthentication {
		t.Fatalf("login with auth off: %+v", r)
	}
}

// TestSCRAMClusterForms: with authentication on, nodes log in to each
// other (JoinCluster) with the admin credentials; a node with the wrong
// ones cannot join.
func TestSCRAMClusterForms(t *testing.T) {
	c := brokertest.NewCluster(t, 3, brokertest.SCRAM("admin", "admin-pw"))
	for i := 0; i < 3; i++ {
		rc := dialRaw(t, c.Broker(i).Addr())
		if r := rc.login(auth.MechSCRAMSHA512, "admin", "admin-pw"); r.ErrorCode != wire.CodeNone {
			t.Fatalf("n%d login: %+v", i+1, r)
		}
	}
	c.VerifyReplicas()

	// Negative control: a fourth node with a wrong admin password.
	cfg := brokertest.Config(t, 3)
	cfg.Auth, cfg.AdminUser, cfg.AdminPassword = broker.AuthSCRAM, "admin", "wrong"
	cfg.Join = []string{c.Broker(c.WaitLeader()).Addr()}
	cfg.StartTimeout = 2 * time.Second
	if b, err := broker.Start(cfg); err == nil {
		b.Close()
		t.Fatal("a node with a wrong admin password joined")
	}
}
