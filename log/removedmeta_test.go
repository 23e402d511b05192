package log

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLastMetaRemembersWhatRetentionRemoved: retention removed the only
// segment with batches that reached the disk, and a crash lost the unsynced
// batch after it. LastMeta said 0, so replication replayed (appended again)
// every entry that retention had already removed. It must say the largest
// meta that retention removed.
func TestLastMetaRemembersWhatRetentionRemoved(t *testing.T) {
	dir := t.TempDir()
	now := time.UnixMilli(1_700_000_000_000)
	cfg := Config{SegmentBytes: 1024, RetentionAge: time.Minute, Now: func() time.Time { return now }}
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for meta := uint64(1); meta <= 3; meta++ {
		if _, err := l.Append(tsBatch(t, now.UnixMilli(), meta)); err != nil {
			t.Fatal(err)
		}
	}
	// An hour later a batch that does not fit rolls the segment; retention
	// then removes the old one, all of whose batches are past the age.
	now = now.Add(time.Hour)
	big, err := AppendBatch(nil, []Record{{Timestamp: now.UnixMilli(), Value: make([]byte, 1000)}}, 9)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(big); err != nil {
		t.Fatal(err)
	}
	if got := segmentBases(t, dir); len(got) != 1 {
		t.Fatalf("segments %v after retention, want only the new one", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The crash: the new segment's batch never reached the disk (nor its
	// index, summary or a recovery point past it).
	seg := filepath.Join(dir, segmentName(3, ".log"))
	if err := os.Truncate(seg, 0); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{recoveryPointFile, segmentName(3, ".index"), segmentName(3, summaryExt)} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	l, err = Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.NextOffset() != 3 {
		t.Fatalf("next offset %d after the crash, want 3", l.NextOffset())
	}
	if got := l.LastMeta(); got != 3 {
		t.Fatalf("LastMeta %d after retention removed metas 1..3, want 3", got)
	}
}
