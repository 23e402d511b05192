package replication

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// TestForceNewCluster: a follower's data directory, with the whole cluster
// stopped, becomes a one-node cluster with every record, forgets the other
// members (membership and client addresses), takes writes, and a fresh
// node joins it and catches up. On both Raft log stores.
func TestForceNewCluster(t *testing.T) {
	for _, store := range RaftLogStores {
		t.Run(string(store), func(t *testing.T) { testForceNewCluster(t, store) })
	}
}

func testForceNewCluster(t *testing.T, store RaftLogStore) {
	c := newStoreCluster(t, 3, func(cfg *Config) { cfg.Node.RaftLog = store })
	mustCreate(t, c.stores[c.waitLeader()], "t", 1, TopicConfig{})
	c.append("t", 0, "a", 20)
	for i := range 3 {
		c.do("register", func(s *Store) error { return s.RegisterNode(waitCtx(t), c.cfgs[i].Node.ID, "127.0.0.1:1", "") })
	}
	lead := c.waitLeader()
	f := (lead + 1) % 3
	c.waitSame(lead, "t", 1)
	waitFor(t, "the registrations on "+c.cfgs[f].Node.ID, func() bool { return len(c.stores[f].FSM().Nodes()) == 3 })
	want := raw(t, c.stores[f], "t", 0)
	for i := range 3 {
		c.kill(i)
	}

	cfg := c.cfgs[f]
	rec, err := ForceNewCluster(cfg.Node.DataDir, cfg.Node.ID, cfg.Node.RaftAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dropped []string
	for _, s := range rec.Dropped {
		dropped = append(dropped, string(s.ID))
	}
	slices.Sort(dropped)
	if len(dropped) != 2 || slices.Contains(dropped, cfg.Node.ID) {
		t.Fatalf("dropped %v", dropped)
	}

	cfg.Node.Bootstrap = false
	c.cfgs[f] = cfg
	s := c.start(f)
	if got := c.waitLeader(); got != f {
		t.Fatalf("leader %d, want the recovered node %d", got, f)
	}
	servers, err := s.Node().Servers()
	if err != nil || len(servers) != 1 || string(servers[0].ID) != cfg.Node.ID {
		t.Fatalf("servers %+v, %v", servers, err)
	}
	waitFor(t, "the former members' addresses forgotten", func() bool {
		nodes := s.FSM().Nodes()
		return len(nodes) == 1 && nodes[0].ID == cfg.Node.ID
	})
	if got := raw(t, s, "t", 0); !bytes.Equal(got, want) {
		t.Fatalf("recovered partition: %d bytes, want the %d the node had", len(got), len(want))
	}
	c.append("t", 0, "b", 5)

	// A fresh node (new id, empty data) joins and catches up.
	j := (f + 1) % 3
	c.cfgs[j] = Config{Node: testConfig(t, "n9", false)}
	c.cfgs[j].Node.RaftLog = store
	c.cfgs[j].Node.HeartbeatTimeout, c.cfgs[j].Node.ElectionTimeout = cfg.Node.HeartbeatTimeout, cfg.Node.ElectionTimeout
	c.cfgs[j].Node.LeaderLeaseTimeout = cfg.Node.LeaderLeaseTimeout
	c.start(j)
	c.addVoter(j)
	c.waitSame(f, "t", 1)

	// Nothing to recover in an empty directory.
	if _, err := ForceNewCluster(t.TempDir(), "x", "127.0.0.1:1", nil); !errors.Is(err, ErrNoState) {
		t.Fatalf("empty dir: %v, want ErrNoState", err)
	}
}
