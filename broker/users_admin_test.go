package broker

import (
	"testing"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/internal/wire"
)

// grantClusterAlter gives user Alter on the cluster.
func grantClusterAlter(t *testing.T, b *Broker, user string) {
	t.Helper()
	if err := b.store.CreateACLs(testCtx(t), []auth.ACL{{Principal: "User:" + user, Host: "*",
		Resource: auth.ResourceCluster, Pattern: auth.PatternLiteral, Name: auth.ClusterName, Operation: auth.OpAlter,
		Permission: auth.PermissionAllow}}); err != nil {
		t.Fatal(err)
	}
}

// TestPutUserReplacesOtherMechanisms: setting a user's password for one
// mechanism leaves no credential of the old password.
func TestPutUserReplacesOtherMechanisms(t *testing.T) {
	b := startEnforcing(t)
	ac := rawAs(t, b, auth.Principal{User: "admin", Superuser: true})
	var pu wire.PutUserResponse
	if err := ac.call(wire.PutUser, &wire.PutUserRequest{Name: "alice", Password: "old"}, &pu); err != nil {
		t.Fatal(err)
	}
	if err := ac.call(wire.PutUser, &wire.PutUserRequest{Name: "alice", Password: "new", Mechanisms: []string{auth.MechSCRAMSHA256}}, &pu); err != nil {
		t.Fatal(err)
	}
	u, _ := b.store.User("alice")
	if c, ok := u.Cred(auth.MechSCRAMSHA512); ok && auth.VerifyPassword(c, "old") {
		t.Fatal("after a new SHA-256 password, the old password still logs in with SCRAM-SHA-512")
	}
	if c, ok := u.Cred(auth.MechSCRAMSHA256); !ok || !auth.VerifyPassword(c, "new") {
		t.Fatal("the new password does not verify")
	}
	// Mechanisms: duplicates collapse, unknown ones and more than two are refused.
	for _, tc := range []struct {
		mechs []string
		want  wire.Code
	}{
		{[]string{auth.MechSCRAMSHA512, auth.MechSCRAMSHA512}, wire.CodeNone},
		{[]string{auth.MechSCRAMSHA256, "MD5"}, wire.CodeInvalidUser},
		{[]string{auth.MechSCRAMSHA256, auth.MechSCRAMSHA512, auth.MechSCRAMSHA256, auth.MechSCRAMSHA512}, wire.CodeInvalidUser},
	} {
		err := ac.call(wire.PutUser, &wire.PutUserRequest{Name: "alice", Password: "pw", Mechanisms: tc.mechs}, &pu)
		if pu.ErrorCode != tc.want {
			t.Errorf("mechanisms %v: %v %v, want %v", tc.mechs, pu.ErrorCode, err, tc.want)
		}
	}
}

// TestClusterAlterCannotTouchSuperusers: a user with cluster Alter but
// not a superuser may not create a superuser, nor change or delete one.
func TestClusterAlterCannotTouchSuperusers(t *testing.T) {
	b := startEnforcing(t)
	ac := rawAs(t, b, auth.Principal{User: "admin", Superuser: true})
	var pu wire.PutUserResponse
	if err := ac.call(wire.PutUser, &wire.PutUserRequest{Name: "root", Password: "root-pw", Superuser: true}, &pu); err != nil {
		t.Fatal(err)
	}
	grantClusterAlter(t, b, "ops")
	oc := rawAs(t, b, auth.Principal{User: "ops"})
	oc.call(wire.PutUser, &wire.PutUserRequest{Name: "evil", Password: "x", Superuser: true}, &pu)
	if pu.ErrorCode != wire.CodeClusterAuthorization {
		t.Errorf("ops creates a superuser: %v %q", pu.ErrorCode, pu.ErrorMessage)
	}
	oc.call(wire.PutUser, &wire.PutUserRequest{Name: "root", Password: "mine"}, &pu)
	if pu.ErrorCode != wire.CodeClusterAuthorization {
		t.Errorf("ops resets a superuser's password: %v %q", pu.ErrorCode, pu.ErrorMessage)
	}
	var du wire.DeleteUserResponse
	oc.call(wire.DeleteUser, &wire.DeleteUserRequest{Name: "root"}, &du)
	if du.ErrorCode != wire.CodeClusterAuthorization {
		t.Errorf("ops deletes a superuser: %v %q", du.ErrorCode, du.ErrorMessage)
	}
	if u, ok := b.store.User("root"); !ok || !u.Superuser || !auth.VerifyPassword(u.Creds[0], "root-pw") {
		t.Fatalf("root changed: %+v", u)
	}
	if _, ok := b.store.User("evil"); ok {
		t.Fatal("evil exists")
	}
	// Ordinary users stay ops's to manage.
	if oc.call(wire.PutUser, &wire.PutUserRequest{Name: "bob", Password: "x"}, &pu); pu.ErrorCode != wire.CodeNone {
		t.Fatalf("ops creates bob: %v %q", pu.ErrorCode, pu.ErrorMessage)
	}
	if oc.call(wire.DeleteUser, &wire.DeleteUserRequest{Name: "bob"}, &du); du.ErrorCode != wire.CodeNone {
		t.Fatalf("ops deletes bob: %v %q", du.ErrorCode, du.ErrorMessage)
	}
}

// TestPutUserRefusesNonPrintableName: the broker refuses, before Raft, a
// name that Apply's table-free check would accept (a zero-width space).
func TestPutUserRefusesNonPrintableName(t *testing.T) {
	b := startEnforcing(t)
	ac := rawAs(t, b, auth.Principal{User: "admin", Superuser: true})
	var pu wire.PutUserResponse
	ac.call(wire.PutUser, &wire.PutUserRequest{Name: "ad\u200bmin", Password: "x"}, &pu)
	if pu.ErrorCode != wire.CodeInvalidUser {
		t.Fatalf("zero-width space in a name: %v %q", pu.ErrorCode, pu.ErrorMessage)
	}
}
