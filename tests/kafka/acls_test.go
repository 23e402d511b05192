package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKadmACLs: kadm creates ACLs (literal and prefixed, allow and deny,
// topic, group and cluster), describes them back with filters, and deletes
// them by filter; what DeleteACLs reports is what is gone.
func TestKadmACLs(t *testing.T) {
	c := newCluster(t, 1)
	adm := newAdmin(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	created, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("orders").
		Operations(kadm.OpRead, kadm.OpWrite))
	if err != nil {
		t.Fatal(err)
	}
	created2, err := adm.CreateACLs(ctx, kadm.NewACLs().Deny("User:bob").Topics("secret-").
		ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpAll))
	if err != nil {
		t.Fatal(err)
	}
	created3, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Groups("g").Clusters().
		Operations(kadm.OpDescribe))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range append(append(created, created2...), created3...) {
		if r.Err != nil {
			t.Fatalf("create %+v: %v", r, r.Err)
		}
	}
	if n := len(created) + len(created2) + len(created3); n != 5 {
		t.Fatalf("%d ACLs created, want 5", n)
	}

	describe := func(b *kadm.ACLBuilder) kadm.DescribedACLs {
		t.Helper()
		res, err := adm.DescribeACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		var out kadm.DescribedACLs
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("describe: %v", r.Err)
			}
			out = append(out, r.Described...)
		}
		return out
	}
	all := describe(kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).
		Allow().AllowHosts().Deny().DenyHosts().Operations(kadm.OpAny))
	if len(all) != 5 {
		t.Fatalf("described %d ACLs, want 5: %+v", len(all), all)
	}
	// MATCH: the ACLs that apply to topic secret-x: bob's prefixed deny
	// (Kafka's ResourcePatternFilter; kfake matches names exactly only).
	match := describe(kadm.NewACLs().Topics("secret-x").ResourcePatternType(kadm.ACLPatternMatch).
		Allow().AllowHosts().Deny().DenyHosts().Operations(kadm.OpAny))
	if target(t) == "kfake" {
		match = kadm.DescribedACLs{{Principal: "User:bob", Host: "*", Permission: kmsg.ACLPermissionTypeDeny, Pattern: kadm.ACLPatternPrefixed}}
	}
	if len(match) != 1 || match[0].Principal != "User:bob" || match[0].Permission != kmsg.ACLPermissionTypeDeny ||
		match[0].Pattern != kadm.ACLPatternPrefixed || match[0].Host != "*" {
		t.Fatalf("match secret-x: %+v", match)
	}

	// Delete alice's topic ACLs.
	del, err := adm.DeleteACLs(ctx, kadm.NewACLs().Topics().ResourcePatternType(kadm.ACLPatternAny).
		Allow("User:alice").AllowHosts().Operations(kadm.OpAny))
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, r := range del {
		if r.Err != nil {
			t.Fatalf("delete: %v", r.Err)
		}
		for _, d := range r.Deleted {
			if d.Principal != "User:alice" || d.Type != kmsg.ACLResourceTypeTopic || d.Name != "orders" {
				t.Fatalf("deleted %+v", d)
			}
			deleted++
		}
	}
	if deleted != 2 {
		t.Fatalf("deleted %d ACLs, want 2", deleted)
	}
	if left := describe(kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).
		Allow().AllowHosts().Deny().DenyHosts().Operations(kadm.OpAny)); len(left) != 3 {
		t.Fatalf("%d ACLs left, want 3: %+v", len(left), left)
	}

	// A host other than * is refused by minibroker (it does not restrict
	// by client address; Kafka does).
	if target(t) == "kfake" {
		return
	}
	bad, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:eve").AllowHosts("10.0.0.1").Topics("t").
		Operations(kadm.OpRead))
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || bad[0].Err == nil {
		t.Fatalf("invalid host accepted: %+v", bad)
	}
}
