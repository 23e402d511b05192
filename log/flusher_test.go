package log

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFaultFlusherFailureIsReported: under SyncNever a roll hands the sealed
// segment to the background flusher. When its fsync (of the .log or the
// .index) fails (EIO), the Append
// that rolled has already succeeded, so the failure is reported by what
// comes next: Sync (which waits for the flusher) returns it wrapped in
// ErrFlushFailed, and so do every later write and Close; reads go on. After
// a reopen the log holds everything that was appended.
func TestFaultFlusherFailureIsReported(t *testing.T) {
	for _, suffix := range []string{".log", ".index"} {
		t.Run("fsync "+suffix, func(t *testing.T) {
			size := int64(len(fxBatch(t, 10, 5, 100)))
			fs := &faultFS{}
			dir := t.TempDir()
			rec := &fxRecorder{}
			cfg := Config{FS: fs, SegmentBytes: 3 * size, Logger: slog.New(rec), RetentionBytes: 1}
			l, err := Open(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var want []byte
			for i := 0; i < 3; i++ { // exactly fills the first segment
				b := fxBatch(t, 10+i, 5, 100)
				fxAppend(t, l, b, int64(5*i))
				want = append(want, b...)
			}

			fs.setFailSync(true, suffix)
			b := fxBatch(t, 13, 5, 100)
			// Rolls; the sealed segment's fsync fails in the background. The
			// Append's retention waits for the flusher before it deletes
			// segment 0, so the failure is known when Append returns (else
			// Sync would meet it; with the ".log" fault, Sync's own fsync of
			// the active segment could fail first).
			fxAppend(t, l, b, 15)
			want = append(want, b...)

			err = l.Sync()
			if !errors.Is(err, ErrFlushFailed) || !errors.Is(err, syscall.EIO) {
				t.Fatalf("Sync after a failed background fsync: %v, want ErrFlushFailed wrapping EIO", err)
			}
			if fs.faults() == 0 {
				t.Fatal("no fault was injected")
			}
			fs.clear() // the failure sticks although the disk is fine again
			if _, err := l.Append(fxBatch(t, 14, 5, 100)); !errors.Is(err, ErrFlushFailed) {
				t.Fatalf("Append after a failed background fsync: %v, want ErrFlushFailed", err)
			}
			if err := l.Sync(); !errors.Is(err, ErrFlushFailed) {
				t.Fatalf("second Sync: %v, want ErrFlushFailed", err)
			}
			if err := l.Truncate(5); !errors.Is(err, ErrFlushFailed) {
				t.Fatalf("Truncate: %v, want ErrFlushFailed", err)
			}
			if _, err := l.EnforceRetention(math.MaxUint64); !errors.Is(err, ErrFlushFailed) {
				t.Fatalf("EnforceRetention: %v, want ErrFlushFailed", err)
			}
			if _, err := l.LinkSegments(t.TempDir()); !errors.Is(err, ErrFlushFailed) {
				t.Fatalf("LinkSegments: %v, want ErrFlushFailed", err)
			}
			if l.NextOffset() != 20 || l.StartOffset() != 0 {
				t.Fatalf("log [%d, %d) after the failure, want [0, 20)", l.StartOffset(), l.NextOffset())
			}
			if got := fxReadBytes(t, l); !bytes.Equal(got, want) {
				t.Fatalf("reads after the failure: %d bytes, want the %d appended", len(got), len(want))
			}
			// The rolling Append's retention waited for the segment and
			// found the failure too.
			if msgs := rec.messages(); len(msgs) == 0 || !strings.Contains(msgs[0], "background fsync") {
				t.Fatalf("logged %q, want a report of the failed fsync first", msgs)
			}
			if err := l.Close(); !errors.Is(err, ErrFlushFailed) {
				t.Fatalf("Close: %v, want ErrFlushFailed", err)
			}
			if err := l.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, recoveryPointFile)); !os.IsNotExist(err) {
				t.Fatalf("the recovery point was written past the failed segment: %v", err)
			}

			l2, err := Open(dir, Config{SegmentBytes: 3 * size})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer l2.Close()
			if got := fxReadBytes(t, l2); !bytes.Equal(got, want) {
				t.Fatalf("after reopen: %d bytes, want the %d appended", len(got), len(want))
			}
			fxAppend(t, l2, fxBatch(t, 14, 5, 100), 20)
		})
	}
}

// TestFaultRetentionRetried: after a roll, retention fails to delete a
// segment; the Append succeeds and the failure is logged, the segment stays
// in the log (and on disk), and the next EnforceRetention deletes it.
func TestFaultRetentionRetried(t *testing.T) {
	size := int64(len(fxBatch(t, 10, 5, 100)))
	fs := &faultFS{}
	dir := t.TempDir()
	rec := &fxRecorder{}
	l, err := Open(dir, Config{FS: fs, SegmentBytes: size, RetentionBytes: size, Logger: slog.New(rec)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A segment per batch; retention keeps one sealed segment besides the
	// active one.
	fxAppend(t, l, fxBatch(t, 10, 5, 100), 0)
	fxAppend(t, l, fxBatch(t, 11, 5, 100), 5) // rolls; retention deletes segment 0
	fs.setFailRemove(true, ".log")
	fxAppend(t, l, fxBatch(t, 12, 5, 100), 10) // rolls; retention fails on segment 5
	fs.clear()
	if fs.faults() == 0 {
		t.Fatal("no fault was injected")
	}
	if l.StartOffset() != 5 {
		t.Fatalf("StartOffset %d after a failed deletion, want 5", l.StartOffset())
	}
	if files := fxLogFiles(t, dir); len(files) != 2 {
		t.Fatalf("segment files %v, want segments 5 and 10", files)
	}
	if msgs := rec.messages(); len(msgs) != 1 || !strings.Contains(msgs[0], "retention") {
		t.Fatalf("logged %q, want one report of the retention failure", msgs)
	}
	if n, err := l.EnforceRetention(math.MaxUint64); err != nil || n != 1 {
		t.Fatalf("EnforceRetention = %d, %v; want 1 segment deleted", n, err)
	}
	if l.StartOffset() != 10 {
		t.Fatalf("StartOffset %d, want 10", l.StartOffset())
	}
	if files := fxLogFiles(t, dir); len(files) != 1 {
		t.Fatalf("segment files %v, want only the active one", files)
	}
}

// TestFaultSyncEveryBytesSyncsNewSegmentDir: a roll leaves the directory
// fsync to the flusher, so the first SyncEveryBytes fsync in the new
// segment must fsync the directory itself before the Append can succeed;
// when that fails, nothing is appended.
func TestFaultSyncEveryBytesSyncsNewSegmentDir(t *testing.T) {
	size := int64(len(fxBatch(t, 10, 5, 100)))
	fs := &faultFS{}
	dir := t.TempDir()
	cfg := Config{FS: fs, SegmentBytes: 2 * size, Sync: SyncEveryBytes, SyncBytes: 1}
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var want []byte
	for i := 0; i < 2; i++ {
		b := fxBatch(t, 10+i, 5, 100)
		fxAppend(t, l, b, int64(5*i))
		want = append(want, b...)
	}
	// Hold the flusher (it fsyncs the sealed .index before the directory;
	// Append fsyncs only the .log), so that only the Append meets the fault.
	release := fs.blockSync(".index")
	defer release()
	fs.setFailSyncDir(true)
	if _, err := l.Append(fxBatch(t, 12, 5, 100)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append into a new segment whose directory fsync fails: %v, want EIO", err)
	}
	fs.clear()
	release()
	if l.NextOffset() != 10 {
		t.Fatalf("NextOffset %d after the failed Append, want 10", l.NextOffset())
	}
	b := fxBatch(t, 13, 5, 100)
	fxAppend(t, l, b, 10)
	want = append(want, b...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fxReopenClean(t, dir, cfg, want, 15)
}
