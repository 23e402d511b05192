package tests

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
)

// newAuthClient is newClient logged in as user.
func newAuthClient(t *testing.T, user, password string, addrs ...string) (*client.Client, error) {
	t.Helper()
	cl, err := client.New(client.Config{Brokers: addrs, User: user, Password: password, RequestTimeout: 5 * time.Second})
	if err == nil {
		t.Cleanup(func() { cl.Close() })
	}
	return cl, err
}

// TestClientSCRAM: the Go client logs in (1 and 3 nodes; with three, the
// followers log in to the leader with the admin credentials when they
// join and forward), produces and reads back; the admin manages users; a
// wrong password, an unknown user and no login at all are refused.
func TestClientSCRAM(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d nodes", n), func(t *testing.T) {
			c := brokertest.NewCluster(t, n, brokertest.SCRAM("admin", "admin-pw"))
			ctx := ctxT(t)
			admin, err := newAuthClient(t, "admin", "admin-pw", c.Addrs()...)
			if err != nil {
				t.Fatal(err)
			}
			if err := admin.CreateTopic(ctx, "t", client.TopicConfig{Partitions: 2}); err != nil {
				t.Fatal(err)
			}
			// ACLs are enforced with authentication on: alice may write t.
			// (Granted before she exists: a node that knows her has applied
			// it.)
			if err := admin.CreateACLs(ctx, client.ACL{Principal: "User:alice", Resource: client.ACLTopic, Name: "t", Operation: client.ACLWrite}); err != nil {
				t.Fatal(err)
			}
			if err := admin.CreateUser(ctx, "alice", "alice-pw", client.UserOptions{}); err != nil {
				t.Fatal(err)
			}
			users, err := admin.ListUsers(ctx)
			if err != nil || len(users) != 2 || users[0].Name != "admin" || !users[0].Superuser || users[1].Name != "alice" || users[1].Superuser || len(users[1].Mechanisms) != 2 {
				t.Fatalf("users %+v %v", users, err)
			}

			// alice, through every node in turn, with either mechanism.
			for i, addr := range c.Addrs() {
				mech := client.MechSCRAMSHA256
				if i%2 == 1 {
					mech = client.MechSCRAMSHA512
				}
				var alice *client.Client
				waitUntil(t, "alice logs in at "+addr, func() bool { // a follower learns of alice shortly
					cl, err := client.New(client.Config{Brokers: []string{addr}, User: "alice", Password: "alice-pw", Mechanism: mech, RequestTimeout: 5 * time.Second})
					if err != nil {
						return false
					}
					alice = cl
					return true
				})
				t.Cleanup(func() { alice.Close() })
				p := alice.Producer(client.ProducerConfig{Acks: client.AcksAll})
				if _, err := p.Produce(ctx, client.Message{Topic: "t", Value: []byte(fmt.Sprint("v", i))}); err != nil {
					t.Fatalf("alice produces through %s: %v", addr, err)
				}
				p.Close()
				if _, err := alice.ListUsers(ctx); !errors.Is(err, client.ErrClusterAuthorization) {
					t.Fatalf("alice lists users: %v", err)
				}
			}
			var got int
			for p := int32(0); p < 2; p++ {
				got += len(readAll(t, admin, "t", p))
			}
			if got != n {
				t.Fatalf("read %d records, want %d", got, n)
			}

			// Refusals: wrong password, unknown user, no login.
			for _, tc := range []struct{ user, pw string }{{"alice", "wrong"}, {"nobody", "alice-pw"}} {
				_, err := newAuthClient(t, tc.user, tc.pw, c.Addrs()...)
				if !errors.Is(err, client.ErrSaslAuthentication) {
					t.Fatalf("%s/%s: %v, want ErrSaslAuthentication", tc.user, tc.pw, err)
				}
			}
			anon, err := client.New(client.Config{Brokers: c.Addrs(), RequestTimeout: 5 * time.Second})
			if err == nil {
				defer anon.Close()
				_, err = anon.ListTopics(ctx)
			}
			if !errors.Is(err, client.ErrUnauthenticated) {
				t.Fatalf("no login: %v, want ErrUnauthenticated", err)
			}

			// alice deleted: refused from then on.
			if err := admin.DeleteUser(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			if err := admin.DeleteUser(ctx, "alice"); !errors.Is(err, client.ErrUnknownUser) {
				t.Fatalf("delete again: %v", err)
			}
			for _, addr := range c.Addrs() {
				waitUntil(t, "deleted alice refused at "+addr, func() bool {
					_, err := client.New(client.Config{Brokers: []string{addr}, User: "alice", Password: "alice-pw", RequestTimeout: 5 * time.Second})
					return errors.Is(err, client.ErrSaslAuthentication)
				})
			}
			c.VerifyReplicas()
		})
	}
}
