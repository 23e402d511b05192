package netdisk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/check"
	mlog "github.com/minibroker/minibroker/log"
)

// TestCorruptTail damages a stopped follower's partition log and restarts
// it. The log's recovery treats the two halves of the log differently (see
// log/doc.go, Durability):
//
//   - After the recovery point (what a machine crash can leave: the tail
//     was never fsynced), a torn tail (the file cut mid-batch) or a flipped
//     bit in the last batch is cut off at the first bad batch. The entries
//     cut are still in the node's Raft log, above the last snapshot, so
//     replay re-applies them by index; the node then catches up from the
//     leader. We make such a state by putting back the recovery point the
//     follower had before it was closed (Close fsyncs the log and moves the
//     point to its end), then damaging the tail.
//   - Before the recovery point (what a clean Close leaves, so damage
//     there is bit rot or an outside write, not a crash), the same damage
//     is *ErrCorrupt: the node refuses to start. It is not repaired from
//     its Raft log or its peers; an operator has to act. The test shows
//     the refusal, undoes the damage and starts the node.
//
// In the end nothing acked is lost and every node stores the same data.
func TestCorruptTail(t *testing.T) {
	cfgs := make([]broker.Config, 3)
	logs := make([]*logRecorder, 3)
	c := brokertest.NewCluster(t, 3, steady, func(i int, cfg *broker.Config) {
		logs[i] = &logRecorder{}
		cfg.Logger = slog.New(logs[i])
		cfgs[i] = *cfg
	})
	createTopic(t, c, "events", 1)
	lead := c.WaitLeader()
	f := (lead + 1) % 3
	cl := newClient(t, nil, 3*time.Second, c.Addrs()...)
	ck := check.New()
	produce := func(stream string, n int64) {
		t.Helper()
		r := startRunner(t, cl, ck, client.ProducerConfig{}, stream, "events", 16)
		r.waitAcked(t, n)
		r.halt()
		waitUntil(t, "the follower to catch up", func() bool {
			a, err1 := nodeHWMs(c.Broker(lead).Addr(), "events")
			b, err2 := nodeHWMs(c.Broker(f).Addr(), "events")
			return err1 == nil && err2 == nil && a[0] == b[0]
		})
	}
	dir := partitionDir(t, cfgs[f].DataDir, "events", 0)
	rpFile := filepath.Join(dir, "recovery-point")
	cuts := func() int { return logs[f].count("truncating the log at the first bad batch") }

	// (a) A torn tail after the recovery point.
	produce("a", 300)
	rp, rpErr := os.ReadFile(rpFile) // what a crash now would leave
	c.Kill(f)
	putBack(t, rpFile, rp, rpErr)
	seg, last := lastBatch(t, dir)
	checkAfter(t, rp, last)
	if err := os.Truncate(seg, last.pos+last.size/2); err != nil {
		t.Fatal(err)
	}
	c.Restart(f)
	// The log is opened, and recovered, when replay reaches the topic's
	// creation (the metadata is only saved at snapshots).
	waitUntil(t, "recovery to cut the torn tail", func() bool { return cuts() == 1 })
	line, _ := logs[f].find("truncating the log")
	t.Logf("(a) torn tail: %s", line)

	// (b) A flipped bit in the last batch, after the recovery point.
	produce("b", 300)
	rp, rpErr = os.ReadFile(rpFile)
	c.Kill(f)
	putBack(t, rpFile, rp, rpErr)
	seg, last = lastBatch(t, dir)
	checkAfter(t, rp, last)
	flip(t, seg, last.pos+last.size/2)
	c.Restart(f)
	waitUntil(t, "recovery to cut the corrupt batch", func() bool { return cuts() == 2 })
	line, _ = logs[f].find("truncating the log")
	t.Logf("(b) flipped bit: %s", line)

	// (c) The same damage before the recovery point: the node refuses to
	// start, with ErrCorrupt.
	produce("c", 300)
	c.Kill(f)
	seg, last = lastBatch(t, dir)
	intact, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	for _, damage := range []struct {
		name string
		do   func()
	}{
		{"flipped bit", func() { flip(t, seg, last.pos+last.size/2) }},
		{"torn tail", func() {
			if err := os.Truncate(seg, last.pos+last.size/2); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		damage.do()
		stopped := logs[f].count("state machine stopped")
		_, err := c.Start(f)
		switch {
		case err == nil:
			// The partition's log is opened when it is first needed: at
			// Start if the topic is in the metadata saved at the last
			// snapshot, else when replay re-applies the topic's creation.
			// Then the state machine stops on the damage.
			waitUntil(t, "the node to stop on the damage", func() bool {
				return logs[f].count("state machine stopped") > stopped
			})
			line, _ := logs[f].find("state machine stopped", "corrupt data")
			if line == "" {
				t.Fatalf("(c) %s before the recovery point: the node stopped for another reason", damage.name)
			}
			c.Kill(f)
			t.Logf("(c) FINDING: %s before the recovery point: the node starts, then its state machine stops at replay and it is not repaired from its Raft log or peers: %s", damage.name, line)
		case errors.Is(err, mlog.ErrCorrupt):
			t.Logf("(c) FINDING: %s before the recovery point: the node refuses to start and is not repaired from its Raft log or peers: %v", damage.name, err)
		default:
			t.Fatalf("(c) %s before the recovery point: Start: %v, want ErrCorrupt", damage.name, err)
		}
		if err := os.WriteFile(seg, intact, 0o644); err != nil { // an operator repairs the file
			t.Fatal(err)
		}
	}
	c.Restart(f)

	produce("d", 200)
	waitIdentical(t, c, ck, "events")
	r := ck.Report()
	logReport(t, r)
	if !r.OK() || r.Lost() != 0 || len(r.Groups) != 3 {
		t.Fatalf("delivery check failed")
	}
	c.VerifyReplicas()
}

// partitionDir finds a partition's log directory under a node's data dir.
func partitionDir(t *testing.T, dataDir, topic string, p int) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dataDir, "fsm", "state-*", "topics", topic+"-*", strconv.Itoa(p)))
	if err != nil || len(m) != 1 {
		t.Fatalf("partition dir of %s/%d in %s: %v %v", topic, p, dataDir, m, err)
	}
	return m[0]
}

// batchPos is where a batch lies in a segment file.
type batchPos struct{ pos, size int64 }

// lastBatch returns the path of a log's last segment and its last batch,
// walking the batches by their length fields (log/format.go).
func lastBatch(t *testing.T, dir string) (string, batchPos) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments in %s: %v %v", dir, segs, err)
	}
	seg := segs[len(segs)-1] // zero-padded names sort by base offset
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	var last batchPos
	for pos := int64(0); pos+24 <= int64(len(data)); {
		// A frame is 24 bytes plus the Kafka batchLength at its byte 20.
		size := 24 + int64(int32(binary.BigEndian.Uint32(data[pos+20:])))
		if pos+size > int64(len(data)) {
			t.Fatalf("%s: batch at %d runs past the end", seg, pos)
		}
		last = batchPos{pos, size}
		pos += size
	}
	if last.size == 0 {
		t.Fatalf("%s holds no batch", seg)
	}
	return seg, last
}

// checkAfter fails the test unless the recovery point rp (the file's
// content, "base pos\n"; empty when there was none: the start of the last
// segment) lies before the last batch, so the damage is after it.
func checkAfter(t *testing.T, rp []byte, last batchPos) {
	t.Helper()
	var base, pos int64
	if len(rp) > 0 {
		if _, err := fmt.Sscan(string(rp), &base, &pos); err != nil {
			t.Fatalf("recovery point %q: %v", rp, err)
		}
	}
	if pos > last.pos {
		t.Fatalf("setup: the recovery point %q is past the last batch at %d", rp, last.pos)
	}
}

// putBack restores the recovery point file as it was read (content, or
// absent when the read failed with ErrNotExist).
func putBack(t *testing.T, path string, content []byte, readErr error) {
	t.Helper()
	switch {
	case readErr == nil:
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
	case errors.Is(readErr, os.ErrNotExist):
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	default:
		t.Fatal(readErr)
	}
}

// flip inverts the lowest bit of the byte at off in a file.
func flip(t *testing.T, path string, off int64) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	b := make([]byte, 1)
	if _, err := fh.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if _, err := fh.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
