package client

import (
	"context"
	"fmt"
	"strings"

	"github.com/minibroker/minibroker/internal/wire"
)

// ACLResource is what an ACL protects. The numbers are Kafka's.
type ACLResource int8

// ACL resources. ACLAnyResource is for ACLFilter only.
const (
	ACLAnyResource ACLResource = 1
	ACLTopic       ACLResource = 2
	ACLGroup       ACLResource = 3
	ACLCluster     ACLResource = 4
)

// ACLOperation is what a request does to a resource. The numbers are
// Kafka's.
type ACLOperation int8

// ACL operations. ACLAll matches every operation; Describe is implied by
// Read, Write, Delete and Alter, DescribeConfigs by AlterConfigs.
const (
	ACLAll             ACLOperation = 2
	ACLRead            ACLOperation = 3
	ACLWrite           ACLOperation = 4
	ACLCreate          ACLOperation = 5
	ACLDelete          ACLOperation = 6
	ACLAlter           ACLOperation = 7
	ACLDescribe        ACLOperation = 8
	ACLClusterAction   ACLOperation = 9
	ACLDescribeConfigs ACLOperation = 10
	ACLAlterConfigs    ACLOperation = 11
	ACLIdempotentWrite ACLOperation = 12
)

var aclOpNames = map[ACLOperation]string{
	ACLAll: "all", ACLRead: "read", ACLWrite: "write", ACLCreate: "create", ACLDelete: "delete",
	ACLAlter: "alter", ACLDescribe: "describe", ACLClusterAction: "cluster_action",
	ACLDescribeConfigs: "describe_configs", ACLAlterConfigs: "alter_configs", ACLIdempotentWrite: "idempotent_write",
}

// String names the operation as the CLI does ("read", "describe_configs").
func (o ACLOperation) String() string {
	if n, ok := aclOpNames[o]; ok {
		return n
	}
	return fmt.Sprintf("ACLOperation(%d)", int8(o))
}

// ParseACLOperation parses an operation name, case-insensitively, with or
// without '_' ("read", "DescribeConfigs", "describe_configs").
func ParseACLOperation(s string) (ACLOperation, error) {
	want := strings.ToLower(strings.ReplaceAll(s, "_", ""))
	for op, n := range aclOpNames {
		if strings.ReplaceAll(n, "_", "") == want {
			return op, nil
		}
	}
	return 0, fmt.Errorf("minibroker: unknown ACL operation %q", s)
}

// String names the resource type ("topic", "group", "cluster").
func (r ACLResource) String() string {
	switch r {
	case ACLAnyResource:
		return "any"
	case ACLTopic:
		return "topic"
	case ACLGroup:
		return "group"
	case ACLCluster:
		return "cluster"
	}
	return fmt.Sprintf("ACLResource(%d)", int8(r))
}

// ClusterResourceName is the name of the one cluster resource.
const ClusterResourceName = "kafka-cluster"

// ACL is one access-control entry: Principal may (or, with Deny, may not)
// perform Operation on the topic or group Name (every name starting with
// Name when Prefixed; a literal "*" is every one), or on the cluster.
type ACL struct {
	Principal string // "User:alice", or "User:*" for every user
	Resource  ACLResource
	Name      string // the topic or group (or prefix); for ACLCluster, ClusterResourceName (filled in)
	Prefixed  bool
	Operation ACLOperation
	Deny      bool
}

// ACLFilter selects ACLs for ListACLs: zero fields match everything.
type ACLFilter struct {
	Principal string      // "User:alice"; "" any
	Resource  ACLResource // 0 or ACLAnyResource: any
	Name      string      // exact resource name or prefix; "" any
}

func (a ACL) toWire() wire.ACL {
	w := wire.ACL{Principal: a.Principal, Host: "*", Resource: int8(a.Resource), Pattern: 3, Name: a.Name,
		Operation: int8(a.Operation), Permission: 3}
	if a.Resource == ACLCluster && w.Name == "" {
		w.Name = ClusterResourceName
	}
	if a.Prefixed {
		w.Pattern = 4
	}
	if a.Deny {
		w.Permission = 2
	}
	return w
}

func aclFromWire(w wire.ACL) ACL {
	return ACL{Principal: w.Principal, Resource: ACLResource(w.Resource), Name: w.Name, Prefixed: w.Pattern == 4,
		Operation: ACLOperation(w.Operation), Deny: w.Permission == 2}
}

func aclsFromWire(ws []wire.ACL) []ACL {
	out := make([]ACL, len(ws))
	for i, w := range ws {
		out[i] = aclFromWire(w)
	}
	return out
}

// CreateACLs adds ACLs on the leader (adding one that exists changes
// nothing). It blocks until they are replicated or ctx ends, following
// leader changes. Errors: ErrMalformed (an invalid ACL: none is added),
// ErrClusterAuthorization (the user lacks the cluster Alter permission),
// ErrClosed, ctx's error, or the last retriable error. Safe for concurrent
// use.
func (cl *Client) CreateACLs(ctx context.Context, acls ...ACL) error {
	req := &wire.CreateACLsRequest{ACLs: make([]wire.ACL, len(acls))}
	for i, a := range acls {
		req.ACLs[i] = a.toWire()
	}
	if err := cl.do(ctx, leaderWrite, wire.CreateACLs, req, new(wire.CreateACLsResponse), cl.cfg.RequestTimeout); err != nil {
		return fmt.Errorf("minibroker: create ACLs: %w", err)
	}
	return nil
}

// DeleteACLs removes the ACLs given (exact matches) and returns those it
// removed. Blocking, errors and concurrency as CreateACLs.
func (cl *Client) DeleteACLs(ctx context.Context, acls ...ACL) ([]ACL, error) {
	req := &wire.DeleteACLsRequest{Filters: make([]wire.ACL, len(acls))}
	for i, a := range acls {
		req.Filters[i] = a.toWire()
	}
	resp := new(wire.DeleteACLsResponse)
	if err := cl.do(ctx, leaderWrite, wire.DeleteACLs, req, resp, cl.cfg.RequestTimeout); err != nil {
		return nil, fmt.Errorf("minibroker: delete ACLs: %w", err)
	}
	return aclsFromWire(resp.Deleted), nil
}

// ListACLs returns the ACLs f selects, sorted by resource type, name,
// pattern and principal, as the leader has them. It blocks until answered;
// errors: ErrClusterAuthorization (the user lacks the cluster Describe
// permission), ErrClosed, ctx's error, or the last retriable error. Safe
// for concurrent use.
func (cl *Client) ListACLs(ctx context.Context, f ACLFilter) ([]ACL, error) {
	filter := wire.ACL{Principal: f.Principal, Resource: int8(f.Resource), Pattern: 1, Name: f.Name,
		Operation: 1, Permission: 1}
	if f.Resource == 0 {
		filter.Resource = int8(ACLAnyResource)
	}
	resp := new(wire.DescribeACLsResponse)
	if err := cl.do(ctx, leaderRead, wire.DescribeACLs, &wire.DescribeACLsRequest{Filter: filter}, resp, cl.cfg.RequestTimeout); err != nil {
		return nil, fmt.Errorf("minibroker: list ACLs: %w", err)
	}
	return aclsFromWire(resp.ACLs), nil
}
