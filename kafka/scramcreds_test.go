package kafka

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/replication"
)

func putTestUser(t *testing.T, st *replication.Store, name string, super bool, mechs ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := replication.PutUserCmd{Name: name, Superuser: &super}
	for _, m := range mechs {
		cr, err := auth.NewCred(m, "pw")
		if err != nil {
			t.Fatal(err)
		}
		c.Creds = append(c.Creds, cr)
	}
	if err := st.PutUser(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// alterReq builds an AlterUserScramCredentials request: deletions of
// (user, mechanism number) and upsertions of a fixed salted password.
func alterReq(dels [][2]any, ups [][2]any) *kmsg.AlterUserSCRAMCredentialsRequest {
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	for _, d := range dels {
		x := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		x.Name, x.Mechanism = d[0].(string), d[1].(int8)
		req.Deletions = append(req.Deletions, x)
	}
	for _, u := range ups {
		x := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		x.Name, x.Mechanism, x.Iterations = u[0].(string), u[1].(int8), 4096
		x.Salt = []byte("salt")
		x.SaltedPassword = make([]byte, map[int8]int{1: 32, 2: 64}[x.Mechanism])
		req.Upsertions = append(req.Upsertions, x)
	}
	return req
}

// TestAlterUserSCRAMMechanismSwapKeepsUser: deleting SHA-256 and adding
// SHA-512 in one request keeps the user and its superuser flag.
func TestAlterUserSCRAMMechanismSwapKeepsUser(t *testing.T) {
	a := newAuthzServer(t)
	putTestUser(t, a.store, "root", true, auth.MechSCRAMSHA256)
	cl := a.client(auth.Principal{User: "admin", Superuser: true})
	resp := request[*kmsg.AlterUserSCRAMCredentialsResponse](t, cl, alterReq([][2]any{{"root", int8(1)}}, [][2]any{{"root", int8(2)}}))
	if len(resp.Results) != 1 || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("swap: %+v", resp.Results)
	}
	u, ok := a.store.User("root")
	if !ok || !u.Superuser || !slices.Equal(u.Mechanisms(), []string{auth.MechSCRAMSHA512}) {
		t.Fatalf("after the swap: %v %+v, want the superuser with SHA-512 only", ok, u)
	}
}

// TestAlterUserSCRAMSuperusersNeedSuperuser: cluster Alter alone may not
// change a superuser's credentials; it may change other users'.
func TestAlterUserSCRAMSuperusersNeedSuperuser(t *testing.T) {
	a := newAuthzServer(t)
	putTestUser(t, a.store, "root", true, auth.MechSCRAMSHA256)
	putTestUser(t, a.store, "bob", false, auth.MechSCRAMSHA256)
	grant(t, a.store, allowOn("ops", auth.ResourceCluster, auth.ClusterName, auth.OpAlter)...)
	cl := a.client(auth.Principal{User: "ops"})
	resp := request[*kmsg.AlterUserSCRAMCredentialsResponse](t, cl, alterReq(nil, [][2]any{{"root", int8(1)}, {"bob", int8(1)}}))
	codes := map[string]int16{}
	for _, r := range resp.Results {
		codes[r.User] = r.ErrorCode
	}
	if codes["root"] != codeClusterAuthorizationFailed || codes["bob"] != 0 {
		t.Fatalf("codes %v, want root refused (31), bob changed", codes)
	}
	if u, _ := a.store.User("root"); !auth.VerifyPassword(u.Creds[0], "pw") {
		t.Fatal("root's password changed")
	}
}

// TestAlterUserSCRAMAuthorizesFirst: without cluster Alter every user's
// result is CLUSTER_AUTHORIZATION_FAILED, even a malformed one.
func TestAlterUserSCRAMAuthorizesFirst(t *testing.T) {
	a := newAuthzServer(t)
	cl := a.client(alice)
	resp := request[*kmsg.AlterUserSCRAMCredentialsResponse](t, cl, alterReq([][2]any{{"x", int8(9)}}, [][2]any{{"", int8(1)}, {"y", int8(1)}, {"y", int8(1)}}))
	if len(resp.Results) != 3 {
		t.Fatalf("results %+v", resp.Results)
	}
	for _, r := range resp.Results {
		if r.ErrorCode != codeClusterAuthorizationFailed {
			t.Errorf("%q: code %d, want %d", r.User, r.ErrorCode, codeClusterAuthorizationFailed)
		}
	}
}
