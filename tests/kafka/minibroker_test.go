package kafka

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
)

// defaultTarget is what the tests run against without
// $MINIBROKER_KAFKA_TARGET.
const defaultTarget = "minibroker"

// newMinibroker starts an in-process minibroker cluster of nodes nodes,
// stopped when the test ends. While it runs, a watcher notes every change
// of a node's Raft state, term or leader; if the test fails, they are
// logged (a client's NOT_LEADER or LEADER_NOT_AVAILABLE is explained by an
// election, or not).
func newMinibroker(t *testing.T, nodes int) *cluster {
	t.Helper()
	c := brokertest.NewCluster(t, nodes, func(_ int, cfg *broker.Config) {
		// Calmer than brokertest's defaults (made for quick failover
		// tests): on a loaded machine under -race those let a leader lose
		// its lease every few seconds, and an election loses acks=0 and
		// acks=1 writes by design. These tests are about the protocol.
		cfg.HeartbeatTimeout = time.Second
		cfg.ElectionTimeout = time.Second
		cfg.LeaderLeaseTimeout = 500 * time.Millisecond
	})
	c.WaitLeader()
	bs := make([]*broker.Broker, nodes)
	for i := range bs {
		bs[i] = c.Broker(i)
	}
	w := watchLeaders(bs)
	t.Cleanup(func() { // runs before the cluster's cleanup
		if hist := w.stop(); t.Failed() {
			t.Logf("Raft state changes during the test:\n%s", hist)
		}
	})
	return &cluster{kind: "minibroker", nodes: nodes, kafka: c.KafkaAddrs(), native: c.Addrs(), bt: c}
}

// leaderWatch polls the nodes' Raft states.
type leaderWatch struct {
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex // guards hist
	hist []string
}

func watchLeaders(bs []*broker.Broker) *leaderWatch {
	w := &leaderWatch{done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		last := make([]string, len(bs))
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			for i, b := range bs {
				st := b.NodeState()
				s := fmt.Sprintf("%s term %d leader %q ready %v", st.State, st.Term, st.LeaderID, st.Ready)
				if s != last[i] {
					last[i] = s
					w.mu.Lock()
					w.hist = append(w.hist, fmt.Sprintf("%s n%d: %s", time.Now().Format("15:04:05.000"), i+1, s))
					w.mu.Unlock()
				}
			}
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// stop ends the watch and returns the changes seen, one a line.
func (w *leaderWatch) stop() string {
	close(w.done)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.hist, "\n")
}
