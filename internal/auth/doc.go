// Package auth holds what the broker's security layers share: who a
// connection is (Principal), the SCRAM credentials kept in the replicated
// state (scram*.go), and the access-control vocabulary and matching rules
// (acl*.go). It does no I/O; the broker and kafka packages authenticate
// connections with it, and the replication package stores users and ACLs
// in its FSM and checks requests against them.
//
// See docs/security.md for the threat model and how the pieces fit.
package auth
