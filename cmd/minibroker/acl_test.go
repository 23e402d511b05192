package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// wantOut fails the test unless r succeeded and its stdout holds every
// one of want.
func wantOut(t *testing.T, r result, want ...string) {
	t.Helper()
	wantExit(t, r, exitOK)
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Fatalf("stdout %q lacks %q", r.stdout, w)
		}
	}
}

// TestACLCommands: acl add, list (table, json, filtered) and remove
// against a broker, and the usage errors.
func TestACLCommands(t *testing.T) {
	c := toolCLI(t)
	wantOut(t, c.run("acl", "add", "--principal", "alice", "--topic", "orders", "--op", "read,write"),
		"added: User:alice allow read on topic orders", "added: User:alice allow write on topic orders")
	wantOut(t, c.run("acl", "add", "--principal", "*", "--group", "billing-", "--prefix", "--op", "describe", "--deny"),
		"added: User:* deny describe on group billing-*")
	wantOut(t, c.run("acl", "add", "--principal", "User:ops", "--cluster", "--op", "alter"),
		"added: User:ops allow alter on the cluster")

	r := c.run("acl", "list", "--format", "json")
	var all []aclJSON
	if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &all) != nil || len(all) != 4 {
		t.Fatalf("list: %+v", r)
	}
	wantOut(t, c.run("acl", "list"), "PRINCIPAL", "User:ops", "cluster", "kafka-cluster", "prefixed")
	r = c.run("acl", "list", "--principal", "alice", "--format", "json")
	var mine []aclJSON
	if json.Unmarshal([]byte(r.stdout), &mine) != nil || len(mine) != 2 || mine[0].Principal != "User:alice" {
		t.Fatalf("list --principal alice: %+v", r)
	}
	r = c.run("acl", "list", "--group", "billing-", "--prefix", "--format", "json")
	var grp []aclJSON
	if json.Unmarshal([]byte(r.stdout), &grp) != nil || len(grp) != 1 || grp[0].Permission != "deny" || grp[0].Pattern != "prefixed" {
		t.Fatalf("list --group: %+v", r)
	}

	wantOut(t, c.run("acl", "remove", "--principal", "alice", "--topic", "orders", "--op", "write"),
		"removed: User:alice allow write on topic orders")
	wantOut(t, c.run("acl", "remove", "--principal", "alice", "--topic", "orders", "--op", "write"), "no such ACL")
	r = c.run("acl", "list", "--topic", "orders", "--format", "json")
	var left []aclJSON
	if json.Unmarshal([]byte(r.stdout), &left) != nil || len(left) != 1 || left[0].Operation != "read" {
		t.Fatalf("after remove: %+v", r)
	}

	wantExit(t, c.run("acl", "add", "--topic", "t", "--op", "read"), exitUsage, "--principal")
	wantExit(t, c.run("acl", "add", "--principal", "a", "--topic", "t", "--group", "g", "--op", "read"), exitUsage, "one of")
	wantExit(t, c.run("acl", "add", "--principal", "a", "--topic", "t"), exitUsage, "--op")
	wantExit(t, c.run("acl", "add", "--principal", "a", "--topic", "t", "--op", "fly"), exitUsage, "fly")
	wantExit(t, c.run("acl", "add", "--principal", "a", "--group", "g", "--op", "write"), exitRuntime, "refused the ACL")
}
