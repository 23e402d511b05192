package auth

// Principal is who a connection is authenticated as. The zero value is
// the anonymous principal of a connection that has not authenticated.
//
// A connection's principal is set once, when it authenticates (SASL, or a
// verified TLS client certificate), and read by every request after; the
// connection's reader goroutine owns it.
type Principal struct {
	// User is the authenticated user name ("" before authentication). For
	// a TLS client certificate it is the certificate's subject common name.
	User string
	// Superuser may do everything: no ACL is consulted. Read from the user
	// record when the connection authenticates (a later change to the
	// record applies to new connections), and true for cluster nodes.
	Superuser bool
	// Node is a cluster node (a client certificate signed by the cluster's
	// CA whose common name starts with NodePrefix): it may join, forward
	// requests and compare replicas.
	Node bool
}

// NodePrefix starts the common name of a node's certificate ("node:n1").
const NodePrefix = "node:"

// Authenticated reports whether p is not the anonymous principal.
func (p Principal) Authenticated() bool { return p.User != "" }

// String is the principal as Kafka names it in ACLs: "User:alice".
func (p Principal) String() string { return "User:" + p.User }
