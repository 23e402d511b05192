package netdisk

import (
	"errors"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
	"github.com/minibroker/minibroker/log/logtest"
	"github.com/minibroker/minibroker/replication"
)

// TestDiskFull: the leader's partition logs start failing every write with
// ENOSPC while a producer writes with acks=all. By design an error inside
// the state machine's Apply stops the node (it never skips an entry): the
// leader stops, the two others elect a leader that has the entry (it was
// committed before the leader tried to apply it), and the producer's
// retries go there. Once space returns the stopped node is restarted (no
// automatic restart: an operator or supervisor does it), re-applies the
// entry it failed on from its Raft log and catches up. Nothing acked is
// lost, and every node stores the same data.
func TestDiskFull(t *testing.T) { forStores(t, testDiskFull) }

func testDiskFull(t *testing.T, store replication.RaftLogStore) {
	disks := make([]*logtest.FullFS, 3)
	logs := make([]*logRecorder, 3)
	c := brokertest.NewCluster(t, 3, steady, brokertest.RaftLog(store), func(i int, cfg *broker.Config) {
		disks[i], logs[i] = &logtest.FullFS{}, &logRecorder{}
		cfg.LogFS = disks[i]
		cfg.Logger = slog.New(logs[i])
	})
	createTopic(t, c, "events", 3)
	lead := c.WaitLeader()
	old := c.Broker(lead)
	ck := check.New()
	p := startRunner(t, newClient(t, nil, 3*time.Second, c.Addrs()...), ck, client.ProducerConfig{}, "p", "events", 32)
	p.waitAcked(t, 200)

	disks[lead].SetFull(true)
	full := time.Now()
	waitUntil(t, old.ID()+" to hit the full disk and stop leading", func() bool {
		return disks[lead].Refused() > 0 && !old.IsLeader()
	})
	newLead := otherLeader(t, c, lead)
	elected := time.Since(full)
	line, stopped := logs[lead].find("state machine stopped", syscall.ENOSPC.Error())
	if !stopped {
		t.Fatalf("%s did not report its state machine stopped on ENOSPC", old.ID())
	}
	t.Logf("%s: %s", old.ID(), line)
	t.Logf("disk full on %s: %s leads after %v; %d writes refused", old.ID(), c.Broker(newLead).ID(), elected.Round(time.Millisecond), disks[lead].Refused())

	// Space returns. The stopped node closed itself (see
	// TestStoppedNodeClosesItself) and does not come back by itself: an
	// operator or supervisor restarts it.
	disks[lead].SetFull(false)
	c.Kill(lead)
	c.Restart(lead)
	p.waitAcked(t, p.acked.Load()+300)
	p.halt()
	data := waitIdentical(t, c, ck, "events")
	r := ck.Report()
	logReport(t, r)
	if !r.OK() || r.Lost() != 0 || len(r.Groups) != 3 {
		t.Fatalf("delivery check failed")
	}

	// What producers were told: a storage error, or (retried) nothing.
	storage := p.failedWith(client.ErrStorage)
	visible := 0
	have := map[string]bool{}
	for _, recs := range data {
		for _, rec := range recs {
			have[rec.Value] = true
		}
	}
	for _, s := range storage {
		if have[string(check.Value(p.stream, int(s)))] {
			visible++
		}
	}
	uncertain := len(p.failedWith(client.ErrOutcomeUnknown))
	t.Logf("producer final errors: %d storage errors (%d of them stored all the same), %d marked outcome-unknown; distinct texts: %q",
		len(storage), visible, uncertain, firstN(p.finalErrors(), 3))
	c.VerifyReplicas()
}

// TestStoppedNodeClosesItself: after its state machine stopped on a full
// disk, the old leader's broker closes itself (Done, Err wrapping
// ErrStopped and ENOSPC) instead of serving on as a zombie that answers
// "no leader" and "shutting down"; producers go on with the new leader
// within seconds. (Found as a stall: clients that asked the zombie first
// made no progress at all.)
func TestStoppedNodeClosesItself(t *testing.T) {
	disks := make([]*logtest.FullFS, 3)
	c := brokertest.NewCluster(t, 3, steady, func(i int, cfg *broker.Config) {
		disks[i] = &logtest.FullFS{}
		cfg.LogFS = disks[i]
	})
	t.Cleanup(func() {
		for _, d := range disks {
			d.SetFull(false)
		}
	})
	createTopic(t, c, "events", 3)
	lead := c.WaitLeader()
	old := c.Broker(lead)
	ck := check.New()
	p := startRunner(t, newClient(t, nil, 3*time.Second, c.Addrs()...), ck, client.ProducerConfig{}, "p", "events", 32)
	p.waitAcked(t, 200)
	disks[lead].SetFull(true)
	select {
	case <-old.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not close itself after its disk filled (%d writes refused)", old.ID(), disks[lead].Refused())
	}
	if err := old.Err(); !errors.Is(err, broker.ErrStopped) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Err() = %v, want ErrStopped and ENOSPC", err)
	}
	otherLeader(t, c, lead)
	from := p.acked.Load()
	deadline := time.Now().Add(10 * time.Second)
	for p.acked.Load() < from+100 {
		if time.Now().After(deadline) {
			t.Fatalf("producer stalled: %d acks in 10s after the new leader was elected; final errors: %q",
				p.acked.Load()-from, firstN(p.finalErrors(), 3))
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
	p.halt()
	disks[lead].SetFull(false)
	c.Kill(lead) // the closed broker: a no-op close
	c.Restart(lead)
	waitIdentical(t, c, ck, "events")
	if r := ck.Report(); !r.OK() || r.Lost() != 0 {
		logReport(t, r)
		t.Fatal("delivery check failed")
	}
	c.VerifyReplicas()
}
