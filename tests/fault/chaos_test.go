package fault

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client/check"
	"github.com/minibroker/minibroker/replication"
)

// chaosCISeed is the seed of the short run CI does, so that its sequence
// of faults is the same every time.
const chaosCISeed = 7

// chaosSettings reads the chaos test's environment: MINIBROKER_CHAOS=1
// runs it for MINIBROKER_CHAOS_DURATION (default 2m) from a new seed,
// else it runs ~10s from chaosCISeed; MINIBROKER_CHAOS_SEED sets the seed.
func chaosSettings(t *testing.T) (seed uint64, d time.Duration) {
	t.Helper()
	seed = chaosCISeed
	if os.Getenv("MINIBROKER_CHAOS") == "1" {
		seed = uint64(time.Now().UnixNano())
	}
	if s := os.Getenv("MINIBROKER_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MINIBROKER_CHAOS_SEED: %v", err)
		}
		seed = v
	}
	d = 10 * time.Second
	if os.Getenv("MINIBROKER_CHAOS") == "1" {
		d = 2 * time.Minute
		if s := os.Getenv("MINIBROKER_CHAOS_DURATION"); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil {
				t.Fatalf("MINIBROKER_CHAOS_DURATION: %v", err)
			}
			d = v
		}
	}
	return seed, d
}

// TestChaos mixes faults at random, from a seed it prints: SIGKILL of the
// leader or of a follower, SIGTERM of a node (graceful shutdown; one node
// down at a time, so a quorum remains), node restarts, SIGKILL, SIGSTOP and SIGCONT of the group's two consumer
// processes, and SIGKILL of the acks=all producer process (restarted as a
// new stream). Between faults it waits until the producer has had more
// acks. At the end everything is healed and the group must have received
// every acked message, with committed offsets that never went backward
// and redeliveries only of uncommitted records (that last check is
// reported only, until TestBugConsumerResetsOnLaggingNode is fixed).
func TestChaos(t *testing.T) { coreStores(t, testChaos) }

func testChaos(t *testing.T, store replication.RaftLogStore) {
	seed, duration := chaosSettings(t)
	t.Logf("chaos seed %d for %v (replay: MINIBROKER_CHAOS_SEED=%d; long run: MINIBROKER_CHAOS=1 MINIBROKER_CHAOS_DURATION=10m)", seed, duration, seed)
	rng := rand.New(rand.NewPCG(seed, 0x6d696e6962726f6b))
	const topic, parts, group = "chaos", 4, "g"
	c := newCluster(t, store, 3)
	c.createTopic(topic, parts)
	addrs := c.addrs()
	ck := check.New()
	gl := newGroupLog(t, ck, group, topic)
	consumers := []*proc{gl.start("c1", addrs), gl.start("c2", addrs)}
	stopped := make([]bool, len(consumers))
	watch := watchCommits(t, c.cl, ck, group)
	streams := 1
	prod, pl := startProducerProc(t, ck, addrs, topic, "p1", 1000)
	pls := []*producerLog{pl}
	acked := func() int { // acked so far by all the producers
		n := 0
		for _, pl := range pls {
			n += pl.ackedCount()
		}
		return n
	}
	down := -1 // the node that is down, if any

	var log []string
	start := time.Now()
	note := func(format string, args ...any) {
		s := fmt.Sprintf("%6.2fs [acked %d, delivered %d] ", time.Since(start).Seconds(), acked(), gl.distinct()) + fmt.Sprintf(format, args...)
		log = append(log, s)
	}
	for time.Since(start) < duration {
		// Let the producer make progress before the next fault.
		want := pl.ackedCount() + 20 + rng.IntN(300)
		waitFor(t, fmt.Sprintf("progress of the producer (seed %d)", seed), 60*time.Second, func() bool { return pl.ackedCount() >= want })

		ci := rng.IntN(len(consumers))
		cons := consumers[ci]
		switch k := rng.IntN(100); {
		case k < 16 && down < 0:
			l := c.leader()
			down = l
			c.nodes[l].Kill()
			note("SIGKILL leader %s", c.nodes[l].cfg.ID)
		case k < 30 && down < 0:
			l := c.leader()
			down = (l + 1 + rng.IntN(len(c.nodes)-1)) % len(c.nodes)
			c.nodes[down].Kill()
			note("SIGKILL follower %s", c.nodes[down].cfg.ID)
		case k < 38 && down < 0:
			down = rng.IntN(len(c.nodes))
			if code := c.nodes[down].Term(); code != 0 {
				t.Errorf("seed %d: %s exited %d after SIGTERM, want 0 (graceful shutdown)", seed, c.nodes[down].cfg.ID, code)
			}
			note("SIGTERM %s (graceful shutdown)", c.nodes[down].cfg.ID)
		case k < 50 && down >= 0:
			c.nodes[down].Restart()
			note("restart %s", c.nodes[down].cfg.ID)
			down = -1
		case k < 62 && cons.running():
			cons.Kill()
			stopped[ci] = false
			note("SIGKILL consumer %s", cons.name)
		case k < 72 && !cons.running():
			cons.Restart()
			note("restart consumer %s", cons.name)
		case k < 84 && cons.running() && !stopped[ci]:
			cons.Stop()
			stopped[ci] = true
			note("SIGSTOP consumer %s", cons.name)
		case k < 94 && stopped[ci]:
			cons.Cont()
			stopped[ci] = false
			note("SIGCONT consumer %s", cons.name)
		case k >= 94:
			prod.Kill()
			unknown := pl.finish()
			streams++
			prod, pl = startProducerProc(t, ck, addrs, topic, fmt.Sprintf("p%d", streams), 1000)
			pls = append(pls, pl)
			note("SIGKILL producer (%d sends without outcome); restarted as stream p%d", unknown, streams)
		}
	}

	// Heal, stop producing, and let the group drain.
	if down >= 0 {
		c.nodes[down].Restart()
		note("restart %s", c.nodes[down].cfg.ID)
	}
	for i, cons := range consumers {
		switch {
		case stopped[i]:
			cons.Cont()
			note("SIGCONT consumer %s", cons.name)
		case !cons.running():
			cons.Restart()
			note("restart consumer %s", cons.name)
		}
	}
	stopProducerProc(t, prod, pl)
	for i := range c.nodes {
		c.waitCaughtUp(i)
	}
	t.Logf("seed %d, %d faults:\n%s", seed, len(log), strings.Join(log, "\n"))
	diag := func() string {
		return fmt.Sprintf("seed %d; consumers running %v, stopped %v\n%s", seed,
			[]bool{consumers[0].running(), consumers[1].running()}, stopped, gl.describe(c.cl, parts))
	}
	// A cheap wait first: as many distinct messages as were acked.
	for n, since := gl.distinct(), time.Now(); n < acked(); {
		if time.Since(since) > 60*time.Second {
			t.Fatalf("seed %d: the group received nothing new for 60s (%d distinct, %d acked)\n%s", seed, n, acked(), diag())
		}
		time.Sleep(50 * time.Millisecond) // polling the group's progress
		if m := gl.distinct(); m > n {
			n, since = m, time.Now()
		}
	}
	waitAllDelivered(t, ck, group, 60*time.Second, diag)
	watch.close()
	re, bad := gl.redeliveries()
	if len(bad) > 0 {
		// A committed record is delivered again only if a consumer moved
		// back behind its group's commit (TestBugConsumerResetsOnLaggingNode
		// guards the one way that happened).
		t.Errorf("seed %d: %d committed records delivered again, e.g. %s", seed, len(bad), bad[0])
	}
	r := ck.Report()
	t.Logf("seed %d: %d records delivered more than once by the group\n%s", seed, len(re), r)
	if !r.OK() || r.Lost() != 0 {
		t.Fatalf("seed %d broke the guarantees (replay: MINIBROKER_CHAOS_SEED=%d):\n%s", seed, seed, r)
	}
}
