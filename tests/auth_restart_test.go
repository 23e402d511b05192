package tests

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
)

// TestLoginAtRestartedNodeWaitsForReplay: a restarted node serves at once
// but re-applies its log (where the users are) only once it learns how far
// it is committed. A login there in the meantime waits for that instead of
// refusing a user it does not know yet as a wrong password: native (the Go
// client) and Kafka (franz-go, SCRAM). The restarted node is the second of
// three up, so it replays only after an election.
func TestLoginAtRestartedNodeWaitsForReplay(t *testing.T) {
	c := brokertest.NewCluster(t, 3, brokertest.SCRAM("admin", "admin-pw"))
	ctx := ctxT(t)
	admin, err := newAuthClient(t, "admin", "admin-pw", c.Addrs()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateUser(ctx, "alice", "alice-pw", client.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, addr := range c.Addrs() {
		waitUntil(t, "alice logs in at "+addr, func() bool {
			_, err := newAuthClient(t, "alice", "alice-pw", addr)
			return err == nil
		})
	}
	for _, kafka := range []bool{false, true} {
		leader := c.WaitLeader()
		i := (leader + 1) % 3
		c.Kill(i)
		c.Kill((leader + 2) % 3) // the leader is left without a quorum
		b := c.Restart(i)
		if kafka {
			cl, err := kgo.NewClient(kgo.SeedBrokers(b.KafkaAddr()),
				kgo.SASL(scram.Auth{User: "alice", Pass: "alice-pw"}.AsSha256Mechanism()), kgo.RetryTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err = cl.Ping(pctx)
			cancel()
			cl.Close()
			if err != nil {
				t.Fatalf("Kafka login at the restarted n%d: %v", i+1, err)
			}
		} else {
			cl, err := client.New(client.Config{Brokers: []string{b.Addr()}, User: "alice", Password: "alice-pw", RequestTimeout: 20 * time.Second})
			if err != nil {
				t.Fatalf("native login at the restarted n%d: %v", i+1, err)
			}
			cl.Close()
		}
		c.Restart((leader + 2) % 3)
	}
}
