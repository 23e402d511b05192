package log

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// retentionT is one log of a pair that must stay identical.
type retentionT struct {
	dir string
	cfg Config
	l   *Log
}

// tsBatch encodes one record stamped ts (ms) with meta.
func tsBatch(t testing.TB, ts int64, meta uint64) Batch {
	t.Helper()
	b, err := AppendBatch(nil, []Record{{Timestamp: ts, Value: []byte(fmt.Sprintf("meta %08d", meta))}}, meta)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// segmentBases lists the .log files in dir by base offset.
func segmentBases(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".log") {
			base, err := strconv.ParseInt(strings.TrimSuffix(e.Name(), ".log"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, strconv.FormatInt(base, 10))
		}
	}
	return out
}

// TestRetentionByAgeSameAfterReopen is defect 4 of issue #14: a segment's
// newest timestamp must be the max over all its batches whatever the log's
// open history, or retention by age deletes different segments on a replica
// that reopened its log (a future-stamped record followed by older ones:
// 0 segments deleted on one node, several on the other). Two logs get the
// same appends; one is reopened (in several ways) midway; retention at the
// same time must leave both with the same start offset and segments.
func TestRetentionByAgeSameAfterReopen(t *testing.T) {
	const (
		old    = int64(1_700_000_000_000)
		future = old + 3_600_000 // an hour later
	)
	batchSize := int64(len(tsBatch(t, old, 1)))
	reopens := []struct {
		name   string
		reopen func(t *testing.T, r *retentionT)
	}{
		{"clean close", func(t *testing.T, r *retentionT) {
			if err := r.l.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{"clean close, summaries lost", func(t *testing.T, r *retentionT) {
			if err := r.l.Close(); err != nil {
				t.Fatal(err)
			}
			removeGlob(t, filepath.Join(r.dir, "*"+summaryExt))
		}},
		{"clean close, summaries garbage", func(t *testing.T, r *retentionT) {
			if err := r.l.Close(); err != nil {
				t.Fatal(err)
			}
			for _, p := range glob(t, filepath.Join(r.dir, "*"+summaryExt)) {
				if err := os.WriteFile(p, make([]byte, summarySize), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"crash", func(t *testing.T, r *retentionT) {
			// A process crash: everything written is there, nothing the
			// Close would have done is. The old Log is left for cleanup.
			if err := r.l.Sync(); err != nil { // the recovery point at the end
				t.Fatal(err)
			}
			dst := t.TempDir()
			for _, p := range glob(t, filepath.Join(r.dir, "*")) {
				if strings.HasSuffix(p, summaryExt) && strings.Contains(p, segmentName(r.l.active().base, "")) {
					continue // the active segment's summary is only written by Close
				}
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dst, filepath.Base(p)), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r.dir = dst
		}},
	}
	for _, tc := range reopens {
		t.Run(tc.name, func(t *testing.T) {
			clock := time.UnixMilli(old)
			cfg := Config{SegmentBytes: 3 * batchSize, IndexInterval: 1, RetentionAge: time.Minute,
				Now: func() time.Time { return clock }}
			logs := [2]*retentionT{}
			for i := range logs {
				logs[i] = &retentionT{dir: t.TempDir(), cfg: cfg}
				logs[i].l = openT(t, logs[i].dir, cfg)
			}
			meta := uint64(0)
			appendBoth := func(ts int64) {
				t.Helper()
				meta++
				for _, r := range logs {
					if _, err := r.l.Append(tsBatch(t, ts, meta)); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Segments of 3 batches. 0: future, old, old; 1, 2: old;
			// 3 (active at the reopen): future, old.
			for i := 0; i < 11; i++ {
				ts := old
				if i == 0 || i == 9 {
					ts = future
				}
				appendBoth(ts)
			}
			tc.reopen(t, logs[1])
			logs[1].l = openT(t, logs[1].dir, cfg)
			for i := 0; i < 3; i++ { // seal segment 3
				appendBoth(old)
			}
			check := func(at time.Time, wantDeleted int) {
				t.Helper()
				clock = at
				var got [2]string
				for i, r := range logs {
					n, err := r.l.EnforceRetention(math.MaxUint64)
					if err != nil {
						t.Fatal(err)
					}
					got[i] = fmt.Sprintf("deleted %d, start %d, segments %v", n, r.l.StartOffset(), segmentBases(t, r.dir))
					if n != wantDeleted {
						t.Errorf("log %d at %v: %s, want %d deleted", i, at.Sub(time.UnixMilli(old)), got[i], wantDeleted)
					}
				}
				if got[0] != got[1] {
					t.Fatalf("at %v the logs differ:\n never reopened: %s\n reopened:       %s", at.Sub(time.UnixMilli(old)), got[0], got[1])
				}
			}
			check(time.UnixMilli(old).Add(10*time.Minute), 0)                // segment 0 holds a record from the future
			check(time.UnixMilli(future).Add(2*time.Minute), 4)              // now every sealed one is old
			if !slices.Equal(segmentBases(t, logs[0].dir), []string{"12"}) { // sanity: the active segment stays
				t.Fatalf("segments left %v", segmentBases(t, logs[0].dir))
			}
		})
	}
}

func glob(t testing.TB, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func removeGlob(t testing.TB, pattern string) {
	t.Helper()
	for _, p := range glob(t, pattern) {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSegmentSummaryStaleIsNotTrusted: a summary file left from before a
// Truncate, whose last batch was replaced by another of the same size, is
// not trusted by Open: the segment's newest timestamp comes from its
// batches.
func TestSegmentSummaryStaleIsNotTrusted(t *testing.T) {
	const old, future = int64(1_700_000_000_000), int64(1_700_003_600_000)
	dir := t.TempDir()
	cfg := Config{IndexInterval: 1}
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, ts := range []int64{old, old, future} {
		if _, err := l.Append(tsBatch(t, ts, uint64(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil { // writes the summary: max = future
		t.Fatal(err)
	}
	sumPath := filepath.Join(dir, segmentName(0, summaryExt))
	stale, err := os.ReadFile(sumPath)
	if err != nil {
		t.Fatalf("no summary after Close: %v", err)
	}
	if l, err = Open(dir, cfg); err != nil {
		t.Fatal(err)
	}
	if got := l.segs[0].maxTs; got != future {
		t.Fatalf("maxTs %d after a clean reopen, want %d", got, future)
	}
	if err := l.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(tsBatch(t, old, 3)); err != nil { // same size, older
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	// A crash that kept the old summary (its removal was not durable).
	if err := os.WriteFile(sumPath, stale, 0o644); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if got := l2.segs[0].maxTs; got != old {
		t.Fatalf("maxTs %d after reopening with a stale summary, want %d", got, old)
	}
	l.Close()
}

// TestEnforceRetentionUpToMeta: EnforceRetention(upTo) decides on the log
// as it was when the last batch with meta <= upTo had been appended (the
// Raft index of a housekeeping entry in replication): segments begun after
// it neither count nor go, the segment active then stays, and only the
// bytes of batches up to it count toward RetentionBytes.
func TestEnforceRetentionUpToMeta(t *testing.T) {
	const old = int64(1_700_000_000_000)
	batchSize := int64(len(tsBatch(t, old, 1)))
	// Segments of 3 one-record batches; metas (Raft indexes) have gaps,
	// as other commands come between appends:
	//   base 0: metas 1 2 3 | base 3: metas 4 6 7 | base 6: metas 8 9
	metas := []uint64{1, 2, 3, 4, 6, 7, 8, 9}
	tests := []struct {
		name      string
		cfg       Config
		upTo      uint64
		wantStart int64
	}{
		{"by size, a later segment neither counts nor goes", Config{RetentionBytes: batchSize}, 5, 3},
		{"by size, later segments", Config{RetentionBytes: batchSize}, 7, 3},
		{"by size, the whole log", Config{RetentionBytes: batchSize}, math.MaxUint64, 6},
		{"by size, only the active segment's batches up to upTo count", Config{RetentionBytes: 2 * batchSize}, 4, 0},
		{"by size, two batches of the active segment", Config{RetentionBytes: 2 * batchSize}, 6, 3},
		{"by size, between batches", Config{RetentionBytes: 3 * batchSize}, 5, 0},
		{"by size, whole log keeps RetentionBytes", Config{RetentionBytes: 3 * batchSize}, math.MaxUint64, 3},
		{"by age, the segment active at upTo stays", Config{RetentionAge: time.Minute}, 5, 3},
		{"by age, first segment active", Config{RetentionAge: time.Minute}, 2, 0},
		{"by age, before every batch", Config{RetentionAge: time.Minute}, 0, 0},
		{"by age, the whole log", Config{RetentionAge: time.Minute}, math.MaxUint64, 6},
	}
	for _, interval := range []int64{1, DefaultIndexInterval} { // binary search over the index, or a scan
		dir := t.TempDir()
		l := openT(t, dir, Config{SegmentBytes: 3 * batchSize, IndexInterval: interval})
		for _, m := range metas {
			if _, err := l.Append(tsBatch(t, old, m)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s (index every %d bytes)", tc.name, interval), func(t *testing.T) {
				d := t.TempDir()
				for _, p := range glob(t, filepath.Join(dir, "*")) {
					data, err := os.ReadFile(p)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(d, filepath.Base(p)), data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				cfg := tc.cfg
				cfg.SegmentBytes, cfg.IndexInterval = 3*batchSize, interval
				cfg.Now = func() time.Time { return time.UnixMilli(old).Add(10 * time.Minute) }
				l := openT(t, d, cfg)
				if _, err := l.EnforceRetention(tc.upTo); err != nil {
					t.Fatal(err)
				}
				if l.StartOffset() != tc.wantStart || l.NextOffset() != int64(len(metas)) {
					t.Fatalf("EnforceRetention(%d): offsets [%d, %d), want [%d, %d)", tc.upTo, l.StartOffset(), l.NextOffset(), tc.wantStart, len(metas))
				}
			})
		}
	}
}
