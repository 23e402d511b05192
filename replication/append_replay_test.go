package replication

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestReplayAppendBeforeTopicExisted: raft replays from its last recorded
// snapshot, but the FSM's metadata on disk may be newer (a snapshot the FSM
// persisted and raft did not record). An Append entry older than that
// metadata was looked up in it: the topic, created only later, was found,
// and the batch — refused with ErrUnknownTopic the first time — was
// appended on replay. Found by TestModel (seeds 405625416893 and
// 405625417161). (A later batch in the partition hid it: replay skips
// every entry at or below the partition's last batch.)
func TestReplayAppendBeforeTopicExisted(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	if r := h.append("t", 0, "early", 3); !errors.Is(asErr(r), ErrUnknownTopic) {
		t.Fatalf("append before the topic exists: %v, want ErrUnknownTopic", r)
	}
	if r := h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1}); r != nil {
		t.Fatal(r)
	}
	h.snapshot() // metadata at index 2 on disk; raft does not record it
	want, err := h.f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	h.restartAndReplay(0)
	if got := values(t, h.f, "t", 0); len(got) != 0 {
		t.Fatalf("after replay t/0 holds %q, want nothing", got)
	}
	checkDigest(t, h.f, want)
}

// TestReplayAppendOfDeletedIncarnation: an Append to a topic that was later
// deleted and created again was replayed into the new topic, which the
// newer metadata on disk holds under the same name.
func TestReplayAppendOfDeletedIncarnation(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	if r := h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1}); r != nil {
		t.Fatal(r)
	}
	h.append("t", 0, "old", 3)
	if r := h.apply(CmdDeleteTopic, &DeleteTopicCmd{Name: "t"}); r != nil {
		t.Fatal(r)
	}
	if r := h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1}); r != nil {
		t.Fatal(r)
	}
	h.snapshot()
	want, err := h.f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	h.restartAndReplay(0)
	if got := values(t, h.f, "t", 0); len(got) != 0 {
		t.Fatalf("after replay the new t/0 holds %q, want nothing", got)
	}
	checkDigest(t, h.f, want)
}

func asErr(r any) error {
	err, _ := r.(error)
	return err
}

func checkDigest(t *testing.T, f *FSM, want Digest) {
	t.Helper()
	got, err := f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if got.Sum() != want.Sum() {
		t.Fatalf("digest after replay differs in %v", want.Diff(got))
	}
}

// TestReplayRefillsPartitionCutAtGap: a machine crash before the partition
// log's flusher made anything durable (no recovery-point file), which lost
// segment 0's unsynced bytes while the later segments' files survived. The
// log opens cut at the gap, empty (it refused to open before: a
// CorruptError stopped the FSM, found by TestModel seed 405625417182 with
// racy crashes), and raft's replay appends again every batch it lost:
// LastMeta is 0, so no Append entry is skipped.
func TestReplayRefillsPartitionCutAtGap(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	if r := h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 1, Config: TopicConfig{SegmentBytes: 1024}}); r != nil {
		t.Fatal(r)
	}
	for i := 0; i < 30; i++ {
		if r, ok := h.append("t", 0, fmt.Sprintf("b%d", i), 4).(AppendResult); !ok || r.BaseOffset != int64(4*i) {
			t.Fatalf("append %d: %+v", i, r)
		}
	}
	want, err := h.f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(h.f.stateDir, topicDir("t", 1), "0")
	if err := h.f.Close(); err != nil {
		t.Fatal(err)
	}
	// What the crash left: segment 0 as it was at its (never made) fsync,
	// no recovery point; the later segments' files are there.
	segs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(segs) < 3 {
		t.Fatalf("segments %v (%v), want 3 or more", segs, err)
	}
	if err := os.Truncate(segs[0], 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "recovery-point")); err != nil {
		t.Fatal(err)
	}
	h.restartAndReplay(0)
	if err := h.f.Err(); err != nil {
		t.Fatalf("FSM stopped in replay: %v", err)
	}
	if got := values(t, h.f, "t", 0); len(got) != 120 || got[0] != "b0-0" || got[119] != "b29-3" {
		t.Fatalf("after replay t/0 holds %d records, want the 120 appended", len(got))
	}
	checkDigest(t, h.f, want)
}
