package log

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Tests of recovery around the recovery point: what Open trusts (before it)
// and what it verifies and cuts (after it). See doc.go, Durability.

// rpLog is a log of 12 batches of 5 records in three sealed-or-active
// segments of 4 batches (bases 0, 20 and 40), with no index entries, so
// that recovery verifies every batch of a sealed segment.
type rpLog struct {
	l     *Log
	fs    *faultFS
	dir   string
	cfg   Config
	size  int64  // bytes of one batch
	want  []byte // every batch appended
	flush func() // releases the flusher if the test blocked it
}

// newRPLog appends the first two batches and Syncs them (the recovery point
// is then byte 2*size of segment 0). If blockFlusher, the flusher then
// blocks on its first fsync, so the recovery point stays there; else the
// log is Synced again at the end, which moves it to the end of the log.
func newRPLog(t *testing.T, blockFlusher bool) *rpLog {
	t.Helper()
	r := &rpLog{fs: &faultFS{}, dir: t.TempDir(), flush: func() {}}
	r.size = int64(len(fxBatch(t, 10, 5, 100))) // tags 10 to 99 make batches of one size
	r.cfg = Config{SegmentBytes: 4 * r.size, IndexInterval: 1 << 20}
	cfg := r.cfg
	cfg.FS = r.fs
	l, err := Open(r.dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.l = l
	t.Cleanup(func() {
		r.flush()
		l.Close()
	})
	for i := 0; i < 12; i++ {
		if i == 2 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if got := readRP(t, r.dir); got != fmt.Sprintf("0 %d\n", 2*r.size) {
				t.Fatalf("recovery point after Sync %q, want byte %d of segment 0", got, 2*r.size)
			}
			if blockFlusher {
				r.flush = r.fs.blockSync(".log")
			}
		}
		b := fxBatch(t, 10+i, 5, 100)
		fxAppend(t, l, b, int64(5*i))
		r.want = append(r.want, b...)
	}
	if n := len(fxLogFiles(t, r.dir)); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
	if !blockFlusher {
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		if got := readRP(t, r.dir); got != fmt.Sprintf("40 %d\n", 4*r.size) {
			t.Fatalf("recovery point after Sync %q, want the end of the log", got)
		}
	}
	return r
}

// crashCopy copies the log's directory as a machine crash that kept every
// byte written so far would leave it, and returns the copy.
func (r *rpLog) crashCopy(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(r.dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func readRP(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, recoveryPointFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestRecoveryUnflushedSealedSegmentCorruptIsCut: a machine crash while the
// flusher had not yet made the sealed segments durable. A flipped byte in
// the middle of segment 20 (after the recovery point) is where the durable
// log ends: Open cuts it there, deletes segment 40, logs what it cut, and
// succeeds with the batches before the flip.
func TestRecoveryUnflushedSealedSegmentCorruptIsCut(t *testing.T) {
	r := newRPLog(t, true)
	dir := r.crashCopy(t)
	if got := readRP(t, dir); got != fmt.Sprintf("0 %d\n", 2*r.size) {
		t.Fatalf("recovery point %q: the blocked flusher moved it", got)
	}
	seg20 := filepath.Join(dir, segmentName(20, ".log"))
	flipByte(t, seg20, r.size+r.size/2) // inside the second batch of segment 20 (offsets 25-29)

	rec := &fxRecorder{}
	l, err := Open(dir, Config{SegmentBytes: r.cfg.SegmentBytes, Logger: slog.New(rec)})
	if err != nil {
		t.Fatalf("Open after a crash with a corrupt unflushed segment: %v", err)
	}
	defer l.Close()
	if got := l.NextOffset(); got != 25 {
		t.Fatalf("NextOffset %d, want 25: cut at the flipped batch", got)
	}
	if got := fxReadBytes(t, l); !bytes.Equal(got, r.want[:5*r.size]) {
		t.Fatalf("log holds %d bytes, want the %d before the flipped batch", len(got), 5*r.size)
	}
	files := fxLogFiles(t, dir)
	if len(files) != 2 || files[segmentName(20, ".log")] != r.size {
		t.Fatalf("segment files %v, want segment 0 and segment 20 cut to %d bytes (segment 40 deleted)", files, r.size)
	}
	if _, err := os.Stat(filepath.Join(dir, segmentName(40, ".index"))); !os.IsNotExist(err) {
		t.Fatalf("segment 40's index survived: %v", err)
	}
	if msgs := rec.messages(); len(msgs) != 1 || !strings.Contains(msgs[0], "truncating") {
		t.Fatalf("recovery logged %q, want one report of the cut", msgs)
	}
	// Appends go on from the cut, also after another reopen.
	b := fxBatch(t, 99, 5, 100)
	fxAppend(t, l, b, 25)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fxReopenClean(t, dir, Config{SegmentBytes: r.cfg.SegmentBytes}, append(r.want[:5*r.size:5*r.size], b...), 30)
}

// TestRecoveryCorruptBeforeRecoveryPointIsAnError: the same flip in a
// segment the recovery point says was durable is damage to synced data:
// Open refuses with a *CorruptError and changes nothing.
func TestRecoveryCorruptBeforeRecoveryPointIsAnError(t *testing.T) {
	r := newRPLog(t, false)
	dir := r.crashCopy(t)
	seg20 := filepath.Join(dir, segmentName(20, ".log"))
	flipByte(t, seg20, r.size+r.size/2)
	before := fxLogFiles(t, dir)

	_, err := Open(dir, r.cfg)
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.File != seg20 || ce.Pos != r.size {
		t.Fatalf("Open = %v, want a CorruptError at byte %d of %s", err, r.size, seg20)
	}
	if after := fxLogFiles(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a failed Open changed the segments: %v -> %v", before, after)
	}
}

// TestRecoveryAfterCleanCloseScansNothing: Close moves the recovery point to
// the end of the log, so the next Open verifies only the tails after the
// last index entries, not the active segment; without the file (a crash
// before any flush) it verifies every segment.
func TestRecoveryAfterCleanCloseScansNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 1 << 20} // default index interval, 4 KiB
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; l.Size() < 3<<20+512<<10; i++ { // the last segment half full
		if _, err := l.Append(fxBatch(t, i, 10, 100)); err != nil {
			t.Fatal(err)
		}
	}
	next, size := l.NextOffset(), l.Size()
	lastBase := l.segs[len(l.segs)-1].base
	lastSize := l.segs[len(l.segs)-1].size.Load()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := readRP(t, dir), fmt.Sprintf("%d %d\n", lastBase, lastSize); got != want {
		t.Fatalf("recovery point after Close %q, want %q (the end of the log)", got, want)
	}

	open := func() int64 {
		t.Helper()
		fs := &faultFS{}
		c := cfg
		c.FS = fs
		l, err := Open(dir, c)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if l.NextOffset() != next {
			t.Fatalf("NextOffset %d, want %d", l.NextOffset(), next)
		}
		return fs.logReads.Load()
	}
	segs := int64(len(fxLogFiles(t, dir)))
	tail := int64(DefaultIndexInterval + 2*len(fxBatch(t, 0, 10, 100))) // the tail after a segment's last index entry
	n := open()
	t.Logf("Open after a clean Close read %d bytes of a %d-byte log in %d segments", n, size, segs)
	if n > segs*tail {
		t.Fatalf("Open after a clean Close read %d bytes of %d segments, want at most %d (their tails)", n, segs, segs*tail)
	}
	if err := os.Remove(filepath.Join(dir, recoveryPointFile)); err != nil {
		t.Fatal(err)
	}
	n = open()
	t.Logf("Open without a recovery point read %d bytes", n)
	if n < size {
		t.Fatalf("Open without a recovery point read %d bytes, want the whole log (%d)", n, size)
	}
}

// TestRecoveryTruncateLowersRecoveryPoint: Truncate below the recovery
// point moves it back to the cut first, so that what is appended after the
// Truncate is verified by the next Open, not trusted.
func TestRecoveryTruncateLowersRecoveryPoint(t *testing.T) {
	r := newRPLog(t, false) // recovery point at the end of segment 40
	if err := r.l.Truncate(22); err != nil {
		t.Fatal(err)
	}
	if got, want := readRP(t, r.dir), fmt.Sprintf("20 %d\n", 0); got != want {
		t.Fatalf("recovery point after Truncate(22) %q, want %q", got, want)
	}
	b := fxBatch(t, 50, 5, 100)
	fxAppend(t, r.l, b, 20)
	// A crash tore the new batch (it was never synced): Open cuts it.
	dir := r.crashCopy(t)
	if err := os.Truncate(filepath.Join(dir, segmentName(20, ".log")), r.size/2); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, r.cfg)
	if err != nil {
		t.Fatalf("Open after a crash following Truncate: %v", err)
	}
	defer l.Close()
	if l.NextOffset() != 20 {
		t.Fatalf("NextOffset %d, want 20", l.NextOffset())
	}
}

// TestRecoveryLostSealedTailDropsLaterSegments: a machine crash while the
// flusher had made none of the sealed segments durable, and segment 0 lost
// its unsynced tail while the files of segments 20 and 40 survived.
// Segment 20 no longer follows on from segment 0, but the gap is after the
// recovery point: nothing there was promised durable, so Open cuts the log
// at the gap (deletes 20 and 40) instead of refusing it as corrupt. With a
// new log whose first flush had not finished there is no recovery-point
// file at all: that must mean "nothing known durable" (the start of the
// first segment), not "every sealed segment was fsynced", or Open refused
// the log with a CorruptError (found by replication's TestModel, seed
// 405625417182 with racy crashes).
func TestRecoveryLostSealedTailDropsLaterSegments(t *testing.T) {
	for _, tc := range []struct {
		name   string
		synced int   // batches Synced before the flusher blocked: 0 leaves no recovery-point file
		keep   int64 // batches of segment 0 that survive the crash
	}{
		{"no recovery point, segment 0 empty", 0, 0},
		{"no recovery point, segment 0 torn", 0, 3},
		{"recovery point in segment 0", 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := &faultFS{}
			src := t.TempDir()
			size := int64(len(fxBatch(t, 10, 5, 100)))
			cfg := Config{SegmentBytes: 4 * size, IndexInterval: 1 << 20}
			c := cfg
			c.FS = fs
			l, err := Open(src, c)
			if err != nil {
				t.Fatal(err)
			}
			release := func() {}
			t.Cleanup(func() {
				release()
				l.Close()
			})
			var want []byte
			for i := 0; i < 12; i++ {
				if i == tc.synced {
					if i > 0 {
						if err := l.Sync(); err != nil {
							t.Fatal(err)
						}
					}
					release = fs.blockSync(".log") // the flusher makes nothing durable
				}
				b := fxBatch(t, 10+i, 5, 100)
				fxAppend(t, l, b, int64(5*i))
				want = append(want, b...)
			}
			r := &rpLog{dir: src}
			dir := r.crashCopy(t)
			_, err = os.Stat(filepath.Join(dir, recoveryPointFile))
			if found := err == nil; found != (tc.synced > 0) {
				t.Fatalf("recovery-point file exists: %v, want %v", found, tc.synced > 0)
			}
			if err := os.Truncate(filepath.Join(dir, segmentName(0, ".log")), tc.keep*size); err != nil {
				t.Fatal(err)
			}

			rec := &fxRecorder{}
			c.FS, c.Logger = OSFS{}, slog.New(rec)
			l2, err := Open(dir, c)
			if err != nil {
				t.Fatalf("Open after a crash that lost the tail of an unflushed sealed segment: %v", err)
			}
			defer l2.Close()
			if got := l2.NextOffset(); got != 5*tc.keep {
				t.Fatalf("NextOffset %d, want %d: the log ends where segment 0 does", got, 5*tc.keep)
			}
			if got := fxReadBytes(t, l2); !bytes.Equal(got, want[:tc.keep*size]) {
				t.Fatalf("log holds %d bytes, want the %d of segment 0 that survived", len(got), tc.keep*size)
			}
			if files := fxLogFiles(t, dir); len(files) != 1 {
				t.Fatalf("segment files %v, want segment 0 only", files)
			}
			if msgs := rec.messages(); len(msgs) != 1 || !strings.Contains(msgs[0], "deleting segments") {
				t.Fatalf("recovery logged %q, want one report of the deleted segments", msgs)
			}
			b := fxBatch(t, 99, 5, 100)
			fxAppend(t, l2, b, 5*tc.keep)
			if err := l2.Close(); err != nil {
				t.Fatal(err)
			}
			fxReopenClean(t, dir, cfg, append(want[:tc.keep*size:tc.keep*size], b...), 5*tc.keep+5)
		})
	}
}
