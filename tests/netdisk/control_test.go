package netdisk

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
)

// TestNoFsyncControl is the control experiment that proves these tests
// can fail: with the Raft log's fsync turned off (UnsafeNoFsync), a
// simulated power loss of every machine at once loses acknowledged
// messages, and the checker reports it. The same crash with fsync on (the
// default) loses nothing, so the loss comes from the missing fsync, not
// from the simulation.
//
// What is simulated, and how:
//   - The partition logs (unsynced under the default LogSync, SyncNever)
//     lose every write since their last fsync: they run through a crashFS,
//     which at the crash stops taking writes and then puts every file back
//     to its content at its last fsync. That half is real: under
//     SyncNever those bytes are only in the page cache.
//   - raft.db: with fsync on, each write was fsynced before Raft went on,
//     so it is left as the nodes wrote it. With fsync off, nothing after
//     the last clean shutdown had to reach the disk; the test models the
//     worst case, a crash within the kernel's writeback delay (~30s on
//     Linux) of the writes, by putting back a copy of each node's raft.db
//     taken at that clean shutdown (the cluster was closed and started
//     again after creating the topic, so the copy is a consistent file).
//     A real crash might keep some of those pages; the point of the
//     control is that nothing guarantees it.
//   - The process crash itself is an in-process Close: it does not fsync
//     the partition logs (their filesystem is frozen) and cannot make
//     raft.db any more durable than it was.
func TestNoFsyncControl(t *testing.T) {
	t.Run("fsync", func(t *testing.T) {
		r := crashEveryNode(t, false)
		if !r.OK() || r.Lost() != 0 {
			t.Fatalf("with fsync on, the crash lost acked messages")
		}
	})
	t.Run("no-fsync", func(t *testing.T) {
		r := crashEveryNode(t, true)
		if r.OK() || r.Lost() == 0 {
			t.Fatalf("the control failed: without fsync the checker saw no loss")
		}
	})
}

// crashEveryNode runs a 3-node cluster, produces with acks=all, cuts the
// power of every node at once (as TestNoFsyncControl describes), restarts
// them and returns the checker's verdict over every node's data.
func crashEveryNode(t *testing.T, noFsync bool) check.Report {
	disks := make([]*crashFS, 3)
	dirs := make([]string, 3)
	c := brokertest.NewCluster(t, 3, steady, func(i int, cfg *broker.Config) {
		disks[i], dirs[i] = newCrashFS(), cfg.DataDir
		cfg.LogFS = disks[i]
		cfg.UnsafeNoFsync = noFsync
	})
	createTopic(t, c, "events", 3)

	// A clean shutdown and start: raft.db as it is now is on disk.
	saved := make([][]byte, 3)
	for i := range 3 {
		c.Kill(i)
	}
	for i := range 3 {
		var err error
		if saved[i], err = os.ReadFile(filepath.Join(dirs[i], "raft.db")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		c.Restart(i)
	}
	waitTopic(t, c, "events")

	ck := check.New()
	p := startRunner(t, newClient(t, nil, 3*time.Second, c.Addrs()...), ck, client.ProducerConfig{}, "p", "events", 32)
	p.waitAcked(t, 500)
	p.halt()
	t.Logf("before the crash: %d acked; final errors %q", p.acked.Load(), firstN(p.finalErrors(), 3))

	// The power goes out everywhere at once.
	for _, d := range disks {
		d.Crash()
	}
	for i := range 3 {
		c.Kill(i)
	}
	var dropped int64
	for i, d := range disks {
		n, err := d.Restore()
		if err != nil {
			t.Fatal(err)
		}
		dropped += n
		if snaps, _ := os.ReadDir(filepath.Join(dirs[i], "snapshots")); len(snaps) > 0 {
			// A snapshot fsyncs the partition logs; the model above
			// assumes none was taken.
			t.Fatalf("setup: n%d took a snapshot", i+1)
		}
		if noFsync {
			if err := os.WriteFile(filepath.Join(dirs[i], "raft.db"), saved[i], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("the crash dropped %d bytes of partition logs on 3 nodes (raft.db rolled back: %v)", dropped, noFsync)
	if dropped == 0 {
		t.Fatalf("setup: the crash dropped no partition data")
	}
	for i := range 3 {
		c.Restart(i)
	}
	waitTopic(t, c, "events")
	// The cluster takes writes again. (This also gives every node's group
	// in the checker a delivery: a group with none at all is not in the
	// report, and so could not count its losses.)
	after := startRunner(t, newClient(t, nil, 3*time.Second, c.Addrs()...), ck, client.ProducerConfig{}, "after", "events", 32)
	after.waitAcked(t, 50)
	after.halt()
	waitIdentical(t, c, ck, "events")
	if !noFsync { // without fsync replicas may legitimately diverge
		c.VerifyReplicas()
	}
	r := ck.Report()
	logReport(t, r)
	return r
}

// waitTopic waits until every node serves topic again after a restart
// (they learn it when replay re-applies its creation).
func waitTopic(t *testing.T, c *brokertest.Cluster, topic string) {
	t.Helper()
	c.WaitLeader()
	for i := range c.Len() {
		b := c.Broker(i)
		waitUntil(t, b.ID()+" to serve "+topic, func() bool {
			_, err := nodeHWMs(b.Addr(), topic)
			return err == nil
		})
	}
}
