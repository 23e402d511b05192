package auth

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Access control lists, with Kafka's vocabulary and rules, so that a Kafka
// CreateAcls request maps onto an ACL one to one: the numeric values of
// ResourceType, PatternType, Operation and Permission are Kafka's (kmsg's
// ACLResourceType, ACLResourcePatternType, ACLOperation and
// ACLPermissionType). This package does not import kmsg.

// ResourceType is what an ACL protects (Kafka's numbering).
type ResourceType int8

// Resource types. Any is for filters only.
const (
	ResourceAny     ResourceType = 1
	ResourceTopic   ResourceType = 2
	ResourceGroup   ResourceType = 3
	ResourceCluster ResourceType = 4
)

// PatternType says how an ACL's Name matches resource names (Kafka's
// numbering). Any and Match are for filters only.
type PatternType int8

// Pattern types.
const (
	PatternAny      PatternType = 1 // filter: any pattern type
	PatternMatch    PatternType = 2 // filter: ACLs that would apply to the filter's name
	PatternLiteral  PatternType = 3 // the name, or "*": every resource of the type
	PatternPrefixed PatternType = 4 // every name that starts with Name
)

// Operation is what a request does to a resource (Kafka's numbering).
type Operation int8

// Operations. Any is for filters only.
const (
	OpAny             Operation = 1
	OpAll             Operation = 2 // matches every operation
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
)

// Permission allows or denies (Kafka's numbering). Any is for filters
// only.
type Permission int8

// Permissions.
const (
	PermissionAny   Permission = 1
	PermissionDeny  Permission = 2
	PermissionAllow Permission = 3
)

// ClusterName is the name of the one cluster resource, as in Kafka.
const ClusterName = "kafka-cluster"

// WildcardPrincipal in an ACL matches every authenticated principal.
const WildcardPrincipal = "User:*"

// WildcardHost is the only host an ACL may name: minibroker does not
// restrict by client address.
const WildcardHost = "*"

// WildcardName as a literal ACL's Name matches every resource of its type.
const WildcardName = "*"

// MaxNameLen bounds an ACL's resource name. Its principal's name (after
// "User:") has at most MaxUserNameLen bytes, as a user name.
const MaxNameLen = 255

// ACL is one access-control entry: Principal may (Allow) or may not (Deny)
// perform Operation on the resources of type Resource whose name matches
// Name by Pattern. It is a value type; the replicated state keeps ACLs
// sorted (Compare) and without duplicates.
type ACL struct {
	Principal  string       `msgpack:"pr"` // "User:alice" or "User:*"
	Host       string       `msgpack:"h"`  // always "*"
	Resource   ResourceType `msgpack:"r"`
	Pattern    PatternType  `msgpack:"pt"`
	Name       string       `msgpack:"n"` // ClusterName for the cluster
	Operation  Operation    `msgpack:"op"`
	Permission Permission   `msgpack:"pe"`
}

// ErrInvalidACL is wrapped by the errors of ValidateACL and
// ValidateFilter.
var ErrInvalidACL = errors.New("auth: invalid ACL")

// opsFor lists the operations an ACL may name per resource type (Kafka's
// lists for the resource types minibroker has).
var opsFor = map[ResourceType][]Operation{
	ResourceTopic: {OpAll, OpRead, OpWrite, OpCreate, OpDelete, OpAlter, OpDescribe,
		OpDescribeConfigs, OpAlterConfigs},
	ResourceGroup:   {OpAll, OpRead, OpDescribe, OpDelete},
	ResourceCluster: {OpAll, OpCreate, OpClusterAction, OpDescribe, OpAlter, OpDescribeConfigs, OpAlterConfigs, OpIdempotentWrite},
}

// ValidateACL checks that a is a complete, storable ACL: a principal
// "User:<name>" (or "User:*") whose name has at most MaxUserNameLen bytes
// of StableText,
// host "*" (an empty host is not accepted: callers fill in "*"), a topic,
// group or cluster resource, a literal or prefixed pattern (literal only
// for the cluster, whose name is ClusterName), a non-empty StableText name
// of at most MaxNameLen bytes, an operation that applies to the resource
// type, and Allow or Deny. The error wraps ErrInvalidACL. Safe for
// concurrent use.
func ValidateACL(a ACL) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidACL, fmt.Sprintf(format, args...))
	}
	user, ok := strings.CutPrefix(a.Principal, "User:")
	switch {
	case !ok || user == "" || len(user) > MaxUserNameLen || !StableText(user):
		return bad("principal %q: want User:<name> or User:*", a.Principal)
	case a.Host != WildcardHost:
		return bad("host %q: only \"*\" is supported", a.Host)
	case a.Permission != PermissionAllow && a.Permission != PermissionDeny:
		return bad("permission %d: want allow or deny", a.Permission)
	case a.Pattern != PatternLiteral && a.Pattern != PatternPrefixed:
		return bad("pattern type %d: want literal or prefixed", a.Pattern)
	case a.Name == "" || len(a.Name) > MaxNameLen || !StableText(a.Name):
		return bad("resource name %q: want 1 to %d printable characters", a.Name, MaxNameLen)
	}
	ops, ok := opsFor[a.Resource]
	if !ok {
		return bad("resource type %d: want topic, group or cluster", a.Resource)
	}
	if a.Resource == ResourceCluster && (a.Pattern != PatternLiteral || a.Name != ClusterName) {
		return bad("the cluster resource is the literal name %q", ClusterName)
	}
	for _, op := range ops {
		if op == a.Operation {
			return nil
		}
	}
	return bad("operation %v does not apply to %v", a.Operation, a.Resource)
}

// StableText reports whether s is valid UTF-8 without C0 control
// characters, DEL or C1 control characters. Its answer depends on no
// Unicode table, so it is the same under every Go release: the replicated
// state machine may use it (a table-based check could refuse on an older
// replica what a newer one accepts, and the replicas would diverge). Safe
// for concurrent use.
func StableText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return false
		}
	}
	return true
}

// PrintableText reports whether s is valid UTF-8 of characters that
// unicode.IsPrint accepts (no format characters such as zero-width or
// bidirectional controls). The answer depends on the Go release's Unicode
// tables: call it before a command is proposed, never inside Apply. Safe
// for concurrent use.
func PrintableText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Compare orders ACLs: by resource type, name, pattern type, principal,
// host, operation and permission. It is the order of the replicated list.
func Compare(a, b ACL) int {
	return cmp.Or(
		cmp.Compare(a.Resource, b.Resource),
		strings.Compare(a.Name, b.Name),
		cmp.Compare(a.Pattern, b.Pattern),
		strings.Compare(a.Principal, b.Principal),
		strings.Compare(a.Host, b.Host),
		cmp.Compare(a.Operation, b.Operation),
		cmp.Compare(a.Permission, b.Permission),
	)
}

// appliesTo reports whether a's resource pattern covers the resource
// (res, name).
func (a *ACL) appliesTo(res ResourceType, name string) bool {
	if a.Resource != res {
		return false
	}
	switch a.Pattern {
	case PatternLiteral:
		return a.Name == name || a.Name == WildcardName
	case PatternPrefixed:
		return strings.HasPrefix(name, a.Name)
	}
	return false
}

// grants reports whether an allow ACL for operation have permits op:
// itself, All, and the implied operations (Describe by Read, Write,
// Delete and Alter; DescribeConfigs by AlterConfigs), as in Kafka.
func grants(have, op Operation) bool {
	switch {
	case have == op, have == OpAll:
		return true
	case op == OpDescribe:
		return have == OpRead || have == OpWrite || have == OpDelete || have == OpAlter
	case op == OpDescribeConfigs:
		return have == OpAlterConfigs
	}
	return false
}

// Authorize reports whether p may perform op on the resource (res, name)
// under acls, with Kafka's rules: a superuser may do everything; otherwise
// an ACL applies when its principal is p's ("User:<p.User>") or "User:*",
// and its resource pattern covers the resource; an applying Deny for op
// (or All) refuses, whatever allows; else an applying Allow for op, All or
// an operation that implies op grants; with none, the answer is no. An
// unauthenticated principal (User "") matches no ACL, not even "User:*".
// It does not block, allocates nothing, and is safe for concurrent use if
// acls is not modified meanwhile.
func Authorize(acls []ACL, p Principal, op Operation, res ResourceType, name string) bool {
	if p.Superuser {
		return true
	}
	if p.User == "" {
		return false
	}
	allowed := false
	for i := range acls {
		a := &acls[i]
		if !principalMatches(a.Principal, p.User) || !a.appliesTo(res, name) {
			continue
		}
		switch a.Permission {
		case PermissionDeny:
			if a.Operation == op || a.Operation == OpAll {
				return false
			}
		case PermissionAllow:
			if grants(a.Operation, op) {
				allowed = true
			}
		}
	}
	return allowed
}

// principalMatches reports whether an ACL's principal names user: it is
// "User:*" or "User:<user>" (compared without building a string).
func principalMatches(principal, user string) bool {
	rest, ok := strings.CutPrefix(principal, "User:")
	return ok && (rest == "*" || rest == user)
}

// Filter selects ACLs (Kafka's ACL binding filter) for listing and
// deleting. Zero-value string fields match everything; ResourceAny,
// PatternAny, OpAny and PermissionAny do too. PatternMatch selects the ACLs
// that apply to Name: literal Name, literal "*" and prefixed patterns that
// Name starts with.
type Filter struct {
	Principal  string // "" matches any
	Host       string // "" matches any
	Resource   ResourceType
	Pattern    PatternType
	Name       string // "" matches any
	Operation  Operation
	Permission Permission
}

// ValidateFilter checks that f uses known values. The error wraps
// ErrInvalidACL.
func ValidateFilter(f Filter) error {
	switch {
	case f.Resource < ResourceAny || f.Resource > ResourceCluster:
		return fmt.Errorf("%w: filter resource type %d", ErrInvalidACL, f.Resource)
	case f.Pattern < PatternAny || f.Pattern > PatternPrefixed:
		return fmt.Errorf("%w: filter pattern type %d", ErrInvalidACL, f.Pattern)
	case f.Operation < OpAny || f.Operation > OpIdempotentWrite:
		return fmt.Errorf("%w: filter operation %d", ErrInvalidACL, f.Operation)
	case f.Permission < PermissionAny || f.Permission > PermissionAllow:
		return fmt.Errorf("%w: filter permission %d", ErrInvalidACL, f.Permission)
	case f.Pattern == PatternMatch && f.Name == "":
		return fmt.Errorf("%w: a match filter needs a resource name", ErrInvalidACL)
	}
	return nil
}

// Matches reports whether f selects a.
func (f Filter) Matches(a ACL) bool {
	switch {
	case f.Principal != "" && f.Principal != a.Principal,
		f.Host != "" && f.Host != a.Host,
		f.Resource != ResourceAny && f.Resource != a.Resource,
		f.Operation != OpAny && f.Operation != a.Operation,
		f.Permission != PermissionAny && f.Permission != a.Permission:
		return false
	}
	switch f.Pattern {
	case PatternAny:
		return f.Name == "" || f.Name == a.Name
	case PatternMatch:
		return a.appliesTo(a.Resource, f.Name)
	default:
		return f.Pattern == a.Pattern && (f.Name == "" || f.Name == a.Name)
	}
}

// String names a resource type as Kafka's tools do.
func (r ResourceType) String() string {
	switch r {
	case ResourceAny:
		return "Any"
	case ResourceTopic:
		return "Topic"
	case ResourceGroup:
		return "Group"
	case ResourceCluster:
		return "Cluster"
	}
	return fmt.Sprintf("ResourceType(%d)", int8(r))
}

// String names a pattern type.
func (p PatternType) String() string {
	switch p {
	case PatternAny:
		return "Any"
	case PatternMatch:
		return "Match"
	case PatternLiteral:
		return "Literal"
	case PatternPrefixed:
		return "Prefixed"
	}
	return fmt.Sprintf("PatternType(%d)", int8(p))
}

var opNames = map[Operation]string{
	OpAny: "Any", OpAll: "All", OpRead: "Read", OpWrite: "Write", OpCreate: "Create",
	OpDelete: "Delete", OpAlter: "Alter", OpDescribe: "Describe", OpClusterAction: "ClusterAction",
	OpDescribeConfigs: "DescribeConfigs", OpAlterConfigs: "AlterConfigs", OpIdempotentWrite: "IdempotentWrite",
}

// String names an operation as Kafka's tools do ("Read", "DescribeConfigs").
func (o Operation) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return fmt.Sprintf("Operation(%d)", int8(o))
}

// String names a permission.
func (p Permission) String() string {
	switch p {
	case PermissionAny:
		return "Any"
	case PermissionDeny:
		return "Deny"
	case PermissionAllow:
		return "Allow"
	}
	return fmt.Sprintf("Permission(%d)", int8(p))
}

// AuthorizeAny reports whether p may perform op on at least one resource
// of type res under acls, existing or not, with Kafka's rules
// (authorizeByResourceType): a deny of the literal "*" refuses; else an
// allow that grants op answers yes unless the denies cover every name it
// covers: a literal name denied literally or by a prefix of it, a prefix
// denied by a prefix of it (a literal deny does not cover a prefix: other
// names start with it). Kafka uses it for InitProducerId without a
// transactional id (Write on any topic). It takes one pass over acls plus
// one over the allows (each checks the prefixes of its name: at most
// MaxNameLen look-ups), so the cost is linear in len(acls). Safe for
// concurrent use if acls is not modified meanwhile.
func AuthorizeAny(acls []ACL, p Principal, op Operation, res ResourceType) bool {
	if p.Superuser {
		return true
	}
	if p.User == "" {
		return false
	}
	var denyLit, denyPre map[string]bool // the principal's denies of op on res
	for i := range acls {
		a := &acls[i]
		if a.Permission != PermissionDeny || a.Resource != res || (a.Operation != op && a.Operation != OpAll) ||
			!principalMatches(a.Principal, p.User) {
			continue
		}
		switch a.Pattern {
		case PatternLiteral:
			if a.Name == WildcardName {
				return false
			}
			if denyLit == nil {
				denyLit = map[string]bool{}
			}
			denyLit[a.Name] = true
		case PatternPrefixed:
			if denyPre == nil {
				denyPre = map[string]bool{}
			}
			denyPre[a.Name] = true
		}
	}
	// prefixDenied reports whether a denied prefix starts name.
	prefixDenied := func(name string) bool {
		if denyPre == nil {
			return false
		}
		for n := 1; n <= len(name); n++ {
			if denyPre[name[:n]] {
				return true
			}
		}
		return false
	}
	for i := range acls {
		a := &acls[i]
		if a.Permission != PermissionAllow || a.Resource != res || !grants(a.Operation, op) ||
			!principalMatches(a.Principal, p.User) {
			continue
		}
		switch a.Pattern {
		case PatternLiteral:
			// "*" covers names no finite set of denies covers.
			if a.Name == WildcardName || (!denyLit[a.Name] && !prefixDenied(a.Name)) {
				return true
			}
		case PatternPrefixed:
			if !prefixDenied(a.Name) {
				return true
			}
		}
	}
	return false
}
