package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
)

func TestClusterStatusAndRemoveNode(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	follower := (c.WaitLeader() + 1) % 3
	// Knowing only a follower, the client still asks the leader.
	cl, err := client.New(client.Config{Brokers: []string{c.Broker(follower).Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	lead := c.Leader()
	var st client.ClusterStatus
	deadline := time.Now().Add(20 * time.Second)
	for {
		if st, err = cl.ClusterStatus(ctx); err != nil {
			t.Fatal(err)
		}
		registered := 0
		for _, n := range st.Nodes {
			if n.Addr != "" {
				registered++
			}
		}
		if registered == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("addresses never all registered: %+v", st)
		}
	}
	if st.AnsweredBy != lead.ID() || st.LeaderID != lead.ID() || st.Term == 0 || st.CommitIndex == 0 ||
		st.LastLogIndex < st.CommitIndex || st.AppliedIndex > st.CommitIndex || len(st.Nodes) != 3 {
		t.Fatalf("status %+v", st)
	}
	if n, ok := st.Leader(); !ok || n.ID != lead.ID() || n.Addr != lead.Addr() || n.RaftAddr != lead.RaftAddr() || !n.Voter {
		t.Fatalf("Leader() = %+v, %v", n, ok)
	}
	for i, n := range st.Nodes {
		if n.ID != c.Broker(i).ID() || !n.Voter {
			t.Errorf("node %d: %+v", i, n)
		}
	}

	victim := (c.WaitLeader() + 2) % 3
	victimID := c.Broker(victim).ID()
	c.Kill(victim)
	if err := cl.RemoveNode(ctx, victimID); err != nil {
		t.Fatalf("RemoveNode(%s): %v", victimID, err)
	}
	if st, err = cl.ClusterStatus(ctx); err != nil || len(st.Nodes) != 2 {
		t.Fatalf("status after removal: %+v, %v", st, err)
	}
	for _, n := range st.Nodes {
		if n.ID == victimID {
			t.Fatalf("removed node still listed: %+v", st)
		}
	}
	if err := cl.RemoveNode(ctx, victimID); !errors.Is(err, client.ErrUnknownNode) {
		t.Fatalf("second RemoveNode = %v, want ErrUnknownNode", err)
	}
	if err := cl.RemoveNode(ctx, ""); !errors.Is(err, client.ErrMalformed) {
		t.Fatalf("RemoveNode(\"\") = %v, want ErrMalformed", err)
	}
	c.VerifyReplicas()
}
