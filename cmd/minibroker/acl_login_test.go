package main

import (
	"testing"

	"github.com/minibroker/minibroker/broker/brokertest"
)

// TestACLCommandsLogIn: against a cluster with authentication on, `acl`
// logs in like every tool (--user, MINIBROKER_USER, MINIBROKER_PASSWORD):
// the admin adds and lists ACLs, a wrong password is refused (the login
// is really made). A user's produce to a topic it may not describe is
// refused as not permitted, not as a topic that does not exist, until an
// ACL grants it.
func TestACLCommandsLogIn(t *testing.T) {
	c := brokertest.NewCluster(t, 1, brokertest.SCRAM("admin", "admin-pw"))
	cl := newCLI(t)
	cl.env["MINIBROKER_BROKERS"] = c.Addrs()[0]
	cl.env["MINIBROKER_USER"] = "admin"
	cl.env["MINIBROKER_PASSWORD"] = "admin-pw"
	wantExit(t, cl.run("topic", "create", "orders"), exitOK)
	cl.stdin = "alice-pw\n"
	wantExit(t, cl.run("user", "create", "alice"), exitOK)
	wantOut(t, cl.run("acl", "list"), "PRINCIPAL")

	alice := newCLI(t)
	alice.env["MINIBROKER_BROKERS"] = c.Addrs()[0]
	alice.env["MINIBROKER_PASSWORD"] = "alice-pw"
	alice.stdin = "a\nb\n"
	r := alice.run("produce", "orders", "--user", "alice")
	wantExit(t, r, exitRuntime, "permission denied")

	wantOut(t, cl.run("acl", "add", "--principal", "alice", "--topic", "orders", "--op", "write"),
		"added: User:alice allow write on topic orders")
	wantExit(t, alice.run("produce", "orders", "--user", "alice"), exitOK, "sent 2, acked 2, failed 0")
	wantOut(t, cl.run("acl", "list", "--user", "admin"), "User:alice")

	cl.env["MINIBROKER_PASSWORD"] = "wrong"
	wantExit(t, cl.run("acl", "list"), exitRuntime, "authentication failed")
}
