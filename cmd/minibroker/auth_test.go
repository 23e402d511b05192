package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/minibroker/minibroker/broker/brokertest"
)

// TestACLCommandsLogIn: acl add, list and remove log in like the other
// tools (--user, MINIBROKER_USER, MINIBROKER_PASSWORD, --password-file)
// against a cluster that authenticates its clients.
func TestACLCommandsLogIn(t *testing.T) {
	cluster := brokertest.NewCluster(t, 1, brokertest.SCRAM("admin", "admin-pw"))
	c := newCLI(t)
	c.env["MINIBROKER_BROKERS"] = cluster.Addrs()[0]
	c.env["MINIBROKER_USER"] = "admin"
	c.env["MINIBROKER_PASSWORD"] = "admin-pw"
	wantOut(t, c.run("acl", "add", "--principal", "alice", "--topic", "orders", "--op", "read"),
		"added: User:alice allow read on topic orders")
	wantOut(t, c.run("acl", "list"), "User:alice")

	pw := filepath.Join(t.TempDir(), "admin.pw")
	if err := os.WriteFile(pw, []byte("admin-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	delete(c.env, "MINIBROKER_USER")
	delete(c.env, "MINIBROKER_PASSWORD")
	wantOut(t, c.run("acl", "remove", "--user", "admin", "--password-file", pw, "--principal", "alice", "--topic", "orders", "--op", "read"),
		"removed: User:alice allow read on topic orders")
}
