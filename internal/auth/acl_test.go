package auth

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func allow(principal string, res ResourceType, pat PatternType, name string, op Operation) ACL {
	return ACL{Principal: principal, Host: "*", Resource: res, Pattern: pat, Name: name, Operation: op, Permission: PermissionAllow}
}

func deny(principal string, res ResourceType, pat PatternType, name string, op Operation) ACL {
	a := allow(principal, res, pat, name, op)
	a.Permission = PermissionDeny
	return a
}

var (
	alice = Principal{User: "alice"}
	bob   = Principal{User: "bob"}
)

func TestAuthorize(t *testing.T) {
	const (
		T  = ResourceTopic
		G  = ResourceGroup
		C  = ResourceCluster
		L  = PatternLiteral
		Pf = PatternPrefixed
	)
	tests := []struct {
		name string
		acls []ACL
		p    Principal
		op   Operation
		res  ResourceType
		rn   string
		want bool
	}{
		{"no acls: denied", nil, alice, OpRead, T, "orders", false},
		{"superuser without acls", nil, Principal{User: "root", Superuser: true}, OpAlter, C, ClusterName, true},
		{"superuser despite deny", []ACL{deny("User:root", T, L, "orders", OpAll)}, Principal{User: "root", Superuser: true}, OpRead, T, "orders", true},
		{"literal allow", []ACL{allow("User:alice", T, L, "orders", OpRead)}, alice, OpRead, T, "orders", true},
		{"literal allow, other op", []ACL{allow("User:alice", T, L, "orders", OpRead)}, alice, OpWrite, T, "orders", false},
		{"literal allow, other name", []ACL{allow("User:alice", T, L, "orders", OpRead)}, alice, OpRead, T, "orders2", false},
		{"literal allow, other principal", []ACL{allow("User:alice", T, L, "orders", OpRead)}, bob, OpRead, T, "orders", false},
		{"literal allow, other resource type", []ACL{allow("User:alice", T, L, "orders", OpRead)}, alice, OpRead, G, "orders", false},
		{"literal star name", []ACL{allow("User:alice", T, L, "*", OpWrite)}, alice, OpWrite, T, "anything", true},
		{"literal star is only for its type", []ACL{allow("User:alice", T, L, "*", OpRead)}, alice, OpRead, G, "g", false},
		{"prefixed allow", []ACL{allow("User:alice", T, Pf, "ord", OpRead)}, alice, OpRead, T, "orders", true},
		{"prefixed equal name", []ACL{allow("User:alice", T, Pf, "orders", OpRead)}, alice, OpRead, T, "orders", true},
		{"prefixed no match", []ACL{allow("User:alice", T, Pf, "ord", OpRead)}, alice, OpRead, T, "or", false},
		{"prefixed star is a prefix, not a wildcard", []ACL{allow("User:alice", T, Pf, "*", OpRead)}, alice, OpRead, T, "orders", false},
		{"wildcard principal", []ACL{allow("User:*", T, L, "orders", OpRead)}, bob, OpRead, T, "orders", true},
		{"wildcard principal not for anonymous", []ACL{allow("User:*", T, L, "orders", OpRead)}, Principal{}, OpRead, T, "orders", false},
		{"all grants every op", []ACL{allow("User:alice", G, L, "g", OpAll)}, alice, OpDelete, G, "g", true},
		{"describe implied by read", []ACL{allow("User:alice", T, L, "t", OpRead)}, alice, OpDescribe, T, "t", true},
		{"describe implied by write", []ACL{allow("User:alice", T, L, "t", OpWrite)}, alice, OpDescribe, T, "t", true},
		{"describe implied by delete", []ACL{allow("User:alice", T, L, "t", OpDelete)}, alice, OpDescribe, T, "t", true},
		{"describe implied by alter", []ACL{allow("User:alice", T, L, "t", OpAlter)}, alice, OpDescribe, T, "t", true},
		{"describe not implied by create", []ACL{allow("User:alice", T, L, "t", OpCreate)}, alice, OpDescribe, T, "t", false},
		{"read not implied by describe", []ACL{allow("User:alice", T, L, "t", OpDescribe)}, alice, OpRead, T, "t", false},
		{"describe configs implied by alter configs", []ACL{allow("User:alice", T, L, "t", OpAlterConfigs)}, alice, OpDescribeConfigs, T, "t", true},
		{"alter configs not implied by describe configs", []ACL{allow("User:alice", T, L, "t", OpDescribeConfigs)}, alice, OpAlterConfigs, T, "t", false},
		{"deny wins over allow", []ACL{allow("User:alice", T, L, "t", OpRead), deny("User:alice", T, L, "t", OpRead)}, alice, OpRead, T, "t", false},
		{"deny wins, order reversed", []ACL{deny("User:alice", T, L, "t", OpRead), allow("User:alice", T, L, "t", OpRead)}, alice, OpRead, T, "t", false},
		{"deny all wins", []ACL{allow("User:alice", T, L, "t", OpWrite), deny("User:alice", T, Pf, "", OpAll)}, alice, OpWrite, T, "t", false},
		{"wildcard deny wins over user allow", []ACL{allow("User:alice", T, L, "t", OpRead), deny("User:*", T, L, "t", OpRead)}, alice, OpRead, T, "t", false},
		{"prefixed deny wins over literal allow", []ACL{allow("User:alice", T, L, "secret-x", OpRead), deny("User:alice", T, Pf, "secret", OpRead)}, alice, OpRead, T, "secret-x", false},
		{"deny of another op does not refuse", []ACL{allow("User:alice", T, L, "t", OpRead), deny("User:alice", T, L, "t", OpWrite)}, alice, OpRead, T, "t", true},
		{"deny read does not deny implied describe", []ACL{allow("User:alice", T, L, "t", OpWrite), deny("User:alice", T, L, "t", OpRead)}, alice, OpDescribe, T, "t", true},
		{"deny for another user", []ACL{allow("User:alice", T, L, "t", OpRead), deny("User:bob", T, L, "t", OpRead)}, alice, OpRead, T, "t", true},
		{"deny only: denied", []ACL{deny("User:bob", T, L, "t", OpRead)}, alice, OpRead, T, "t", false},
		{"cluster alter", []ACL{allow("User:alice", C, L, ClusterName, OpAlter)}, alice, OpAlter, C, ClusterName, true},
		{"cluster idempotent write", []ACL{allow("User:alice", C, L, ClusterName, OpIdempotentWrite)}, alice, OpIdempotentWrite, C, ClusterName, true},
		{"user named like a wildcard", []ACL{allow("User:*", T, L, "t", OpRead)}, Principal{User: "*"}, OpRead, T, "t", true},
		{"principal type must be User", []ACL{allow("Group:alice", T, L, "t", OpRead)}, alice, OpRead, T, "t", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Authorize(tc.acls, tc.p, tc.op, tc.res, tc.rn); got != tc.want {
				t.Fatalf("Authorize(%v, %v %v %q) = %v, want %v", tc.p, tc.op, tc.res, tc.rn, got, tc.want)
			}
		})
	}
}

func TestValidateACL(t *testing.T) {
	ok := allow("User:alice", ResourceTopic, PatternLiteral, "orders", OpRead)
	if err := ValidateACL(ok); err != nil {
		t.Fatal(err)
	}
	good := []ACL{
		allow("User:*", ResourceTopic, PatternPrefixed, "a", OpAll),
		allow("User:a", ResourceGroup, PatternLiteral, "*", OpDelete),
		deny("User:a", ResourceCluster, PatternLiteral, ClusterName, OpAlter),
		allow("User:a", ResourceTopic, PatternLiteral, "t", OpAlterConfigs),
	}
	for _, a := range good {
		if err := ValidateACL(a); err != nil {
			t.Errorf("%+v: %v", a, err)
		}
	}
	bad := map[string]func(a *ACL){
		"no principal":       func(a *ACL) { a.Principal = "" },
		"no user":            func(a *ACL) { a.Principal = "User:" },
		"other type":         func(a *ACL) { a.Principal = "Group:x" },
		"control char":       func(a *ACL) { a.Principal = "User:a\x00" },
		"long principal":     func(a *ACL) { a.Principal = "User:" + string(make([]byte, 300)) },
		"host":               func(a *ACL) { a.Host = "10.0.0.1" },
		"empty host":         func(a *ACL) { a.Host = "" },
		"resource any":       func(a *ACL) { a.Resource = ResourceAny },
		"resource unknown":   func(a *ACL) { a.Resource = 9 },
		"pattern any":        func(a *ACL) { a.Pattern = PatternAny },
		"pattern match":      func(a *ACL) { a.Pattern = PatternMatch },
		"empty name":         func(a *ACL) { a.Name = "" },
		"op any":             func(a *ACL) { a.Operation = OpAny },
		"op not for topics":  func(a *ACL) { a.Operation = OpClusterAction },
		"op not for groups":  func(a *ACL) { a.Resource = ResourceGroup; a.Operation = OpWrite },
		"permission any":     func(a *ACL) { a.Permission = PermissionAny },
		"permission zero":    func(a *ACL) { a.Permission = 0 },
		"cluster other name": func(a *ACL) { a.Resource = ResourceCluster; a.Name = "c"; a.Operation = OpAlter },
		"cluster prefixed": func(a *ACL) {
			a.Resource = ResourceCluster
			a.Name = ClusterName
			a.Pattern = PatternPrefixed
			a.Operation = OpAlter
		},
		"name not printable":  func(a *ACL) { a.Name = "a\nb" },
		"name over the limit": func(a *ACL) { a.Name = string(make([]byte, MaxNameLen+1)) },
	}
	for name, mutate := range bad {
		a := ok
		mutate(&a)
		if err := ValidateACL(a); !errors.Is(err, ErrInvalidACL) {
			t.Errorf("%s: %+v: %v, want ErrInvalidACL", name, a, err)
		}
	}
}

func TestFilterMatches(t *testing.T) {
	lit := allow("User:alice", ResourceTopic, PatternLiteral, "orders", OpRead)
	star := allow("User:alice", ResourceTopic, PatternLiteral, "*", OpRead)
	pre := deny("User:bob", ResourceTopic, PatternPrefixed, "ord", OpWrite)
	grp := allow("User:alice", ResourceGroup, PatternLiteral, "orders", OpRead)
	all := []ACL{lit, star, pre, grp}
	any := Filter{Resource: ResourceAny, Pattern: PatternAny, Operation: OpAny, Permission: PermissionAny}
	tests := []struct {
		name string
		f    func(f *Filter)
		want []ACL
	}{
		{"everything", func(*Filter) {}, all},
		{"principal", func(f *Filter) { f.Principal = "User:bob" }, []ACL{pre}},
		{"resource", func(f *Filter) { f.Resource = ResourceGroup }, []ACL{grp}},
		{"any pattern, name", func(f *Filter) { f.Name = "orders" }, []ACL{lit, grp}},
		{"literal pattern", func(f *Filter) { f.Pattern = PatternLiteral; f.Resource = ResourceTopic }, []ACL{lit, star}},
		{"prefixed pattern", func(f *Filter) { f.Pattern = PatternPrefixed }, []ACL{pre}},
		{"match", func(f *Filter) { f.Pattern = PatternMatch; f.Name = "orders"; f.Resource = ResourceTopic }, []ACL{lit, star, pre}},
		{"match other", func(f *Filter) { f.Pattern = PatternMatch; f.Name = "x"; f.Resource = ResourceTopic }, []ACL{star}},
		{"operation", func(f *Filter) { f.Operation = OpWrite }, []ACL{pre}},
		{"permission", func(f *Filter) { f.Permission = PermissionDeny }, []ACL{pre}},
		{"host", func(f *Filter) { f.Host = "h" }, nil},
	}
	for _, tc := range tests {
		f := any
		tc.f(&f)
		if err := ValidateFilter(f); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []ACL
		for _, a := range all {
			if f.Matches(a) {
				got = append(got, a)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if err := ValidateFilter(Filter{}); !errors.Is(err, ErrInvalidACL) {
		t.Errorf("zero filter: %v", err)
	}
}

// randomACL draws from a small universe so that ACLs often apply to the
// requests drawn by randomRequest.
func randomACL(r *rand.Rand) ACL {
	principals := []string{"User:alice", "User:bob", "User:*"}
	names := []string{"a", "ab", "b", "*", ""}
	ops := []Operation{OpAll, OpRead, OpWrite, OpCreate, OpDelete, OpAlter, OpDescribe, OpDescribeConfigs, OpAlterConfigs}
	a := ACL{
		Principal:  principals[r.IntN(len(principals))],
		Host:       "*",
		Resource:   []ResourceType{ResourceTopic, ResourceGroup}[r.IntN(2)],
		Pattern:    []PatternType{PatternLiteral, PatternPrefixed}[r.IntN(2)],
		Name:       names[r.IntN(len(names))],
		Operation:  ops[r.IntN(len(ops))],
		Permission: []Permission{PermissionAllow, PermissionDeny}[r.IntN(2)],
	}
	return a
}

type request struct {
	p    Principal
	op   Operation
	res  ResourceType
	name string
}

func randomRequest(r *rand.Rand) request {
	ops := []Operation{OpRead, OpWrite, OpCreate, OpDelete, OpAlter, OpDescribe, OpDescribeConfigs, OpAlterConfigs}
	return request{
		p:    []Principal{alice, bob}[r.IntN(2)],
		op:   ops[r.IntN(len(ops))],
		res:  []ResourceType{ResourceTopic, ResourceGroup}[r.IntN(2)],
		name: []string{"a", "ab", "abc", "b", "*"}[r.IntN(5)],
	}
}

// TestAuthorizeProperties checks, on random ACL lists and requests, that
// adding a deny never grants, adding an allow never revokes, the order of
// the list does not matter, and a superuser is always allowed.
func TestAuthorizeProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		acls := make([]ACL, r.IntN(6))
		for j := range acls {
			acls[j] = randomACL(r)
		}
		q := randomRequest(r)
		before := Authorize(acls, q.p, q.op, q.res, q.name)
		extra := randomACL(r)
		after := Authorize(append(slices.Clone(acls), extra), q.p, q.op, q.res, q.name)
		if extra.Permission == PermissionDeny && after && !before {
			t.Fatalf("adding deny %+v to %+v granted %+v", extra, acls, q)
		}
		if extra.Permission == PermissionAllow && before && !after {
			t.Fatalf("adding allow %+v to %+v revoked %+v", extra, acls, q)
		}
		shuffled := slices.Clone(acls)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := Authorize(shuffled, q.p, q.op, q.res, q.name); got != before {
			t.Fatalf("order changed the answer: %+v vs %+v for %+v", acls, shuffled, q)
		}
		su := q.p
		su.Superuser = true
		if !Authorize(acls, su, q.op, q.res, q.name) {
			t.Fatalf("superuser refused under %+v", acls)
		}
		// Granted means some allow applies and no deny for the op applies.
		if before {
			var allowFound bool
			for _, a := range acls {
				if principalMatches(a.Principal, q.p.User) && a.appliesTo(q.res, q.name) {
					if a.Permission == PermissionAllow && grants(a.Operation, q.op) {
						allowFound = true
					}
				}
			}
			if !allowFound {
				t.Fatalf("granted without an applying allow: %+v %+v", acls, q)
			}
		}
	}
}

func TestCompareSorts(t *testing.T) {
	a := allow("User:a", ResourceTopic, PatternLiteral, "x", OpRead)
	b := a
	b.Permission = PermissionDeny
	if Compare(a, a) != 0 || Compare(a, b) == 0 || Compare(a, b) != -Compare(b, a) {
		t.Fatal("Compare is not an order")
	}
}

func TestAuthorizeAny(t *testing.T) {
	w := allow("User:alice", ResourceTopic, PatternPrefixed, "logs-", OpWrite)
	if !AuthorizeAny([]ACL{w}, alice, OpWrite, ResourceTopic) {
		t.Fatal("prefixed write not found")
	}
	if AuthorizeAny([]ACL{w}, bob, OpWrite, ResourceTopic) || AuthorizeAny([]ACL{w}, alice, OpRead, ResourceTopic) {
		t.Fatal("granted to the wrong principal or op")
	}
	if AuthorizeAny([]ACL{w, deny("User:alice", ResourceTopic, PatternPrefixed, "logs", OpWrite)}, alice, OpWrite, ResourceTopic) {
		t.Fatal("a covering deny did not refuse")
	}
	if !AuthorizeAny(nil, Principal{User: "root", Superuser: true}, OpWrite, ResourceTopic) {
		t.Fatal("superuser refused")
	}
}
