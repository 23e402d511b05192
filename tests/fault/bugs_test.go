package fault

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
)

// Reproductions of product bugs found by the fault tests. They fail until
// the bugs are fixed, so they run only with MINIBROKER_FAULT_BUGS=1:
//
//	MINIBROKER_FAULT_BUGS=1 go test -race -count=1 -run TestBug ./tests/fault/
func bugRepro(t *testing.T) {
	if os.Getenv("MINIBROKER_FAULT_BUGS") != "1" {
		t.Skip("a known bug's reproduction; set MINIBROKER_FAULT_BUGS=1 to run it")
	}
}

// TestBugClusterStatusStaleLeader: Client.ClusterStatus says it asks the
// leader, but when the node the client last knew as leader is a follower
// now, that node answers DescribeCluster (any node does) and the client
// returns its view, AnsweredBy != LeaderID, without learning the new
// leader: it keeps asking the old one until MetadataMaxAge (5 minutes)
// passes or another request of the same client gets NotLeader.
func TestBugClusterStatusStaleLeader(t *testing.T) {
	bugRepro(t)
	c := newCluster(t, 3)
	cl := newClient(t, c.addrs()...)
	st, err := within(5*time.Second, cl.ClusterStatus)
	if err != nil {
		t.Fatal(err)
	}
	old := c.byID(st.LeaderID)
	c.nodes[old].Stop() // the others elect a new leader
	other := c.nodes[(old+1)%3]
	waitFor(t, "a new leader", 30*time.Second, func() bool {
		s, err := c.status((old + 1) % 3)
		return err == nil && s.LeaderID != "" && s.LeaderID != st.LeaderID
	})
	c.nodes[old].Cont() // it learns the new term and follows
	waitFor(t, "the old leader to follow", 30*time.Second, func() bool {
		s, err := c.status(old)
		return err == nil && s.LeaderID != "" && s.LeaderID != st.LeaderID
	})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s, err := within(5*time.Second, cl.ClusterStatus)
		if err == nil && s.AnsweredBy == s.LeaderID {
			return
		}
		t.Logf("ClusterStatus answered by %s, which names %s as leader (err %v)", s.AnsweredBy, s.LeaderID, err)
		time.Sleep(500 * time.Millisecond) // asking again later; the bug is that it never changes
	}
	t.Fatalf("ClusterStatus still answered by the old leader %s after 5s (%s knows the leader)", st.LeaderID, other.cfg.ID)
}

// TestBugRestartedNodeDeniesTopic: a restarted node that has not yet
// replayed its Raft log (no quorum yet: the rest of the cluster is still
// down, or simply not yet in contact) answers Metadata from an empty state
// machine: the topic does not exist. A Producer then fails messages for
// an existing topic with ErrUnknownTopic, which check.OutcomeOf and
// client.IsRetriable treat as definite and final, instead of waiting for
// the cluster (ErrNoLeader is what it would retry). Seen in
// TestWholeClusterKilled as hundreds of "failed" attempts after the
// restart. Kafka treats UNKNOWN_TOPIC_OR_PARTITION as retriable for this
// reason.
func TestBugRestartedNodeDeniesTopic(t *testing.T) {
	bugRepro(t)
	c := newCluster(t, 3)
	c.createTopic("t", 1)
	for _, n := range c.nodes {
		n.signal(syscall.SIGKILL)
	}
	for _, n := range c.nodes {
		n.wait()
	}
	c.nodes[0].Restart() // alone: no leader, its log is not replayed
	cl, err := pinnedClient(c.nodes[0].Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	md, err := within(5*time.Second, cl.Metadata)
	t.Logf("metadata of the restarted node: topics %+v, leader %q, err %v", md.Topics, md.LeaderID, err)
	p := cl.Producer(client.ProducerConfig{})
	defer p.Close()
	_, err = within(10*time.Second, func(ctx context.Context) (client.Result, error) {
		return p.Produce(ctx, client.Message{Topic: "t", Value: []byte("x")})
	})
	if errors.Is(err, client.ErrUnknownTopic) {
		t.Fatalf("produce to an existing topic while the cluster restarts: %v (final, not retriable)", err)
	}
	t.Logf("produce: %v", err)
}
