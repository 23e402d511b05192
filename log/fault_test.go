package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Helpers shared by the fault, concurrency and benchmark tests. They carry an
// fx prefix to stay clear of the helpers in log_test.go and recover_test.go.

// fxRecords makes n records for batch number tag, each with a valueSize-byte
// value that says which batch and record it is.
func fxRecords(tag, n, valueSize int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		v := make([]byte, valueSize)
		copy(v, fmt.Sprintf("batch %d record %d;", tag, i))
		for j := len(fmt.Sprintf("batch %d record %d;", tag, i)); j < len(v); j++ {
			v[j] = byte('a' + (tag+i+j)%26)
		}
		recs[i] = Record{
			Timestamp: 1_700_000_000_000 + int64(tag),
			Key:       []byte(fmt.Sprintf("k%d-%d", tag, i)),
			Value:     v,
		}
	}
	return recs
}

// fxBatch encodes fxRecords(tag, n, valueSize) with meta = tag.
func fxBatch(tb testing.TB, tag, n, valueSize int) Batch {
	tb.Helper()
	b, err := AppendBatch(nil, fxRecords(tag, n, valueSize), uint64(tag))
	if err != nil {
		tb.Fatalf("AppendBatch: %v", err)
	}
	return b
}

// fxAppend appends b and checks that it got offset want.
func fxAppend(t *testing.T, l *Log, b Batch, want int64) {
	t.Helper()
	got, err := l.Append(b)
	if err != nil {
		t.Fatalf("Append at %d: %v", want, err)
	}
	if got != want {
		t.Fatalf("Append: base offset %d, want %d (a gap or an overlap)", got, want)
	}
}

// fxReadBytes reads the whole log with Read and returns its bytes: the
// concatenation of every batch from StartOffset to NextOffset.
func fxReadBytes(t *testing.T, l *Log) []byte {
	t.Helper()
	var out []byte
	off, end := l.StartOffset(), l.NextOffset()
	for off < end {
		buf, err := l.Read(off, 64<<10)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(buf) == 0 {
			t.Fatalf("Read(%d): no bytes before the end %d", off, end)
		}
		for rest := buf; len(rest) > 0; {
			var b Batch
			if b, rest, err = ParseBatch(rest); err != nil {
				t.Fatalf("Read(%d) returned a bad batch: %v", off, err)
			}
			if b.BaseOffset() != off {
				t.Fatalf("batch base %d, want %d", b.BaseOffset(), off)
			}
			off = b.NextOffset()
		}
		out = append(out, buf...)
	}
	return out
}

// fxLogFiles returns the sizes of the .log files in dir by name.
func fxLogFiles(t testing.TB, dir string) map[string]int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int64{}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".log") {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			sizes[e.Name()] = fi.Size()
		}
	}
	return sizes
}

// fxTotalLogBytes is the sum of the sizes of the .log files in dir.
func fxTotalLogBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	for _, s := range fxLogFiles(t, dir) {
		n += s
	}
	return n
}

// fxRecorder is a slog handler that keeps the messages logged to it, to see
// what recovery did on Open.
type fxRecorder struct {
	mu   sync.Mutex // guards msgs
	msgs []string
}

func (h *fxRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *fxRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *fxRecorder) WithGroup(string) slog.Handler            { return h }
func (h *fxRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}

func (h *fxRecorder) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.msgs...)
}

// fxReopenClean reopens dir on the real filesystem, checks that recovery had
// nothing to repair (no torn tail cut, no index rebuilt) and that the log
// holds exactly want, and returns the log.
func fxReopenClean(t *testing.T, dir string, cfg Config, want []byte, wantNext int64) *Log {
	t.Helper()
	rec := &fxRecorder{}
	cfg.FS = OSFS{}
	cfg.Logger = slog.New(rec)
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatalf("re-Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	if msgs := rec.messages(); len(msgs) != 0 {
		t.Errorf("re-Open had to repair the log: %q", msgs)
	}
	if got := l.NextOffset(); got != wantNext {
		t.Errorf("after re-Open NextOffset = %d, want %d", got, wantNext)
	}
	if got := fxReadBytes(t, l); !bytes.Equal(got, want) {
		t.Errorf("after re-Open the log holds %d bytes that differ from the %d appended", len(got), len(want))
	}
	return l
}

func TestFaultENOSPCOnAppend(t *testing.T) {
	fs := &faultFS{}
	dir := t.TempDir()
	cfg := Config{FS: fs, IndexInterval: 1}
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	want, next := fxFill(t, l, 10, 5)

	fs.setFailWrites(true, ".log")
	for i := 0; i < 3; i++ {
		_, err := l.Append(fxBatch(t, 100+i, 5, 100))
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Append on a full disk: %v, want ENOSPC", err)
		}
		if got := l.NextOffset(); got != next {
			t.Fatalf("NextOffset after a failed Append = %d, want %d", got, next)
		}
	}
	if fs.faults() != 3 {
		t.Fatalf("%d faults injected, want 3", fs.faults())
	}
	if got := fxReadBytes(t, l); !bytes.Equal(got, want) {
		t.Fatalf("after ENOSPC the log reads back %d bytes that differ from the %d appended", len(got), len(want))
	}

	fs.clear() // space is back
	for i := 10; i < 15; i++ {
		b := fxBatch(t, i, 5, 100)
		fxAppend(t, l, b, next)
		want = append(want, b...)
		next += 5
	}
	if got := fxReadBytes(t, l); !bytes.Equal(got, want) {
		t.Fatalf("after space returned the log reads back %d bytes that differ from the %d appended", len(got), len(want))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fxTotalLogBytes(t, dir); got != int64(len(want)) {
		t.Fatalf(".log files hold %d bytes, want %d", got, len(want))
	}
	fxReopenClean(t, dir, cfg, want, next)
}

func TestFaultShortWriteLeavesNoPartialBatch(t *testing.T) {
	probe := fxBatch(t, 0, 5, 100)
	for _, tc := range []struct {
		suffix string
		keep   int
	}{
		{".log", 0},
		{".log", 1},
		{".log", batchHeaderSize - 1},
		{".log", batchHeaderSize},
		{".log", len(probe) / 2},
		{".log", len(probe) - 1},
		{".index", 3},
		{".index", 7},
	} {
		t.Run(fmt.Sprintf("%s/keep=%d", tc.suffix, tc.keep), func(t *testing.T) {
			fs := &faultFS{}
			dir := t.TempDir()
			cfg := Config{FS: fs, IndexInterval: 1} // an index entry per batch but the first
			l, err := Open(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var want []byte
			var next int64
			appendOK := func(tag int) {
				t.Helper()
				b := fxBatch(t, tag, 5, 100)
				fxAppend(t, l, b, next)
				want = append(want, b...)
				next += 5
			}
			// Index entries are written in chunks of indexFlushEntries: fill
			// the log so that the next batch's entry completes a chunk, and
			// its Append writes the index.
			prefill := 3
			if tc.suffix == ".index" {
				prefill = indexFlushEntries
			}
			for i := 0; i < prefill; i++ {
				appendOK(i)
			}

			fs.setShortWrite(true, tc.suffix, tc.keep)
			if _, err := l.Append(fxBatch(t, 99, 5, 100)); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Append with a short write: %v, want ENOSPC", err)
			}
			if fs.faults() != 1 {
				t.Fatalf("%d faults injected, want 1", fs.faults())
			}
			fs.clear()
			if got := l.NextOffset(); got != next {
				t.Fatalf("NextOffset after a failed Append = %d, want %d", got, next)
			}
			if got := fxTotalLogBytes(t, dir); got != int64(len(want)) {
				t.Fatalf("after the short write the .log holds %d bytes, want %d (a partial batch was left)", got, len(want))
			}
			appendOK(3)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if got := fxTotalLogBytes(t, dir); got != int64(len(want)) {
				t.Fatalf(".log holds %d bytes, want the %d appended", got, len(want))
			}
			fxReopenClean(t, dir, cfg, want, next)
		})
	}
}

func TestFaultSyncFailureEveryAppend(t *testing.T) {
	fs := &faultFS{}
	dir := t.TempDir()
	cfg := Config{FS: fs, Sync: SyncEveryAppend}
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want, next := fxFill(t, l, 3, 10)

	fs.setFailSync(true, ".log")
	_, err = l.Append(fxBatch(t, 3, 10, 100))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append with a failing fsync: %v, want EIO", err)
	}
	if got := l.NextOffset(); got != next {
		t.Fatalf("NextOffset after a failed fsync = %d, want %d: the batch was published", got, next)
	}
	if buf, err := l.Read(next, 1<<20); err != nil || len(buf) != 0 {
		t.Fatalf("Read(%d) after a failed fsync = %d bytes, %v; want nothing", next, len(buf), err)
	}
	if got := fxReadBytes(t, l); !bytes.Equal(got, want) {
		t.Fatalf("the log reads back %d bytes that differ from the %d appended", len(got), len(want))
	}
	if got := fxTotalLogBytes(t, dir); got != int64(len(want)) {
		t.Fatalf(".log holds %d bytes, want %d: the unsynced batch was not cut", got, len(want))
	}
	if err := l.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync with a failing fsync: %v, want EIO", err)
	}

	fs.clear()
	b := fxBatch(t, 4, 10, 100)
	fxAppend(t, l, b, next)
	want = append(want, b...)
	next += 10
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fxReopenClean(t, dir, cfg, want, next)
}

// TestFaultDuringRoll makes the roll to a second segment fail in each of the
// ways it can, and checks that the Append fails cleanly and the next one,
// once the fault is gone, rolls and succeeds.
func TestFaultDuringRoll(t *testing.T) {
	size := int64(len(fxBatch(t, 0, 5, 100)))
	for _, tc := range []struct {
		name    string
		inject  func(*faultFS)
		wantErr error
	}{
		{"create log", func(fs *faultFS) { fs.setFailCreate(true, ".log") }, syscall.ENOSPC},
		{"create index", func(fs *faultFS) { fs.setFailCreate(true, ".index") }, syscall.ENOSPC},
		// Only SyncEveryAppend fsyncs the sealed segment and the directory
		// during the roll; otherwise the flusher does, in the background
		// (TestFaultFlusherFailureIsReported).
		{"sync sealed segment", func(fs *faultFS) { fs.setFailSync(true, "") }, syscall.EIO},
		{"sync sealed index", func(fs *faultFS) { fs.setFailSync(true, ".index") }, syscall.EIO},
		{"sync dir", func(fs *faultFS) { fs.setFailSyncDir(true) }, syscall.EIO},
		{"first write", func(fs *faultFS) { fs.setFailWrites(true, "") }, syscall.ENOSPC},
		{"short first write", func(fs *faultFS) { fs.setShortWrite(true, ".log", 100) }, syscall.ENOSPC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := &faultFS{}
			dir := t.TempDir()
			cfg := Config{FS: fs, SegmentBytes: 3 * size}
			if strings.HasPrefix(tc.name, "sync ") {
				cfg.Sync = SyncEveryAppend
			}
			l, err := Open(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var want []byte
			var next int64
			for i := 0; i < 3; i++ { // exactly fills the first segment
				b := fxBatch(t, i, 5, 100)
				fxAppend(t, l, b, next)
				want = append(want, b...)
				next += 5
			}

			tc.inject(fs)
			_, err = l.Append(fxBatch(t, 99, 5, 100))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Append that rolls: %v, want %v", err, tc.wantErr)
			}
			if fs.faults() == 0 {
				t.Fatal("no fault was injected")
			}
			fs.clear()
			if got := l.NextOffset(); got != next {
				t.Fatalf("NextOffset after a failed roll = %d, want %d", got, next)
			}
			if got := fxReadBytes(t, l); !bytes.Equal(got, want) {
				t.Fatalf("after the failed roll the log reads back %d bytes that differ from the %d appended", len(got), len(want))
			}

			for i := 3; i < 5; i++ {
				b := fxBatch(t, i, 5, 100)
				fxAppend(t, l, b, next)
				want = append(want, b...)
				next += 5
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			files := fxLogFiles(t, dir)
			if len(files) != 2 || files[segmentName(0, ".log")] != 3*size || files[segmentName(15, ".log")] != 2*size {
				t.Fatalf("segment files %v, want %s with %d bytes and %s with %d",
					files, segmentName(0, ".log"), 3*size, segmentName(15, ".log"), 2*size)
			}
			fxReopenClean(t, dir, cfg, want, next)
		})
	}
}

// TestFaultFailedRollThenTruncate: a roll that fails after creating the new
// segment's files must not leave them behind, or a later Truncate
// (replication rewinding) makes the directory one that Open rejects with
// ErrCorrupt: the stray empty segment no longer follows on from the one
// before it.
func TestFaultFailedRollThenTruncate(t *testing.T) {
	size := int64(len(fxBatch(t, 0, 5, 100)))
	for _, tc := range []struct {
		name    string
		inject  func(*faultFS)
		wantErr error
	}{
		// The .log gets created, the .index not.
		{"create index", func(fs *faultFS) { fs.setFailCreate(true, ".index") }, syscall.ENOSPC},
		// Both files get created, the directory sync fails (SyncEveryAppend:
		// otherwise the roll leaves the directory sync to the flusher).
		{"sync dir", func(fs *faultFS) { fs.setFailSyncDir(true) }, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := &faultFS{}
			dir := t.TempDir()
			cfg := Config{FS: fs, SegmentBytes: 3 * size}
			if tc.name == "sync dir" {
				cfg.Sync = SyncEveryAppend
			}
			l, err := Open(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var want []byte
			for i := 0; i < 3; i++ {
				b := fxBatch(t, i, 5, 100)
				fxAppend(t, l, b, int64(5*i))
				want = append(want, b...)
			}
			tc.inject(fs)
			if _, err := l.Append(fxBatch(t, 99, 5, 100)); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Append that rolls: %v, want %v", err, tc.wantErr)
			}
			fs.clear()

			// Replication rewinds two batches and appends one: the segment has room.
			if err := l.Truncate(5); err != nil {
				t.Fatal(err)
			}
			want = want[:size]
			b := fxBatch(t, 7, 5, 100)
			fxAppend(t, l, b, 5)
			want = append(want, b...)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if files := fxLogFiles(t, dir); len(files) != 1 {
				t.Errorf("segment files %v after the failed roll, want only %s", files, segmentName(0, ".log"))
			}
			fxReopenClean(t, dir, cfg, want, 10)
		})
	}
}

// TestFaultTruncateInterruptedBeforeRemoval: Truncate into an older segment
// cuts that segment and deletes the newer ones. If it stops in between (a
// crash, simulated here by Remove failing), the directory must still open:
// as the log before the Truncate or after it, never as ErrCorrupt.
func TestFaultTruncateInterruptedBeforeRemoval(t *testing.T) {
	size := int64(len(fxBatch(t, 0, 5, 100)))
	fs := &faultFS{}
	dir := t.TempDir()
	cfg := Config{FS: fs, SegmentBytes: 2 * size}
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var want []byte
	for i := 0; i < 6; i++ { // three segments of two batches
		b := fxBatch(t, i, 5, 100)
		fxAppend(t, l, b, int64(5*i))
		want = append(want, b...)
	}
	if n := len(fxLogFiles(t, dir)); n != 3 {
		t.Fatalf("%d segments, want 3", n)
	}
	fs.setFailRemove(true, ".log")
	err = l.Truncate(5) // into the first segment
	fs.clear()
	if fs.faults() == 0 {
		t.Fatal("no fault was injected")
	}
	t.Logf("Truncate with the removal failing: %v", err)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l2, err := Open(dir, Config{})
	if err != nil {
		t.Fatalf("re-Open after an interrupted Truncate: %v", err)
	}
	defer l2.Close()
	got := fxReadBytes(t, l2)
	if !bytes.Equal(got, want) && !bytes.Equal(got, want[:size]) {
		t.Fatalf("after re-Open the log holds %d bytes, neither the %d before the Truncate nor the %d after", len(got), len(want), size)
	}
}

// TestFaultRetentionErrorAfterAppend: Append applies retention after a roll.
// If deleting an old segment fails, the batch has already been written and
// published; Append must not then report the append as failed, or a caller
// that retries (replication applying an entry) appends it twice.
func TestFaultRetentionErrorAfterAppend(t *testing.T) {
	size := int64(len(fxBatch(t, 0, 5, 100)))
	fs := &faultFS{}
	cfg := Config{FS: fs, SegmentBytes: size, RetentionBytes: size}
	l, err := Open(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fxAppend(t, l, fxBatch(t, 0, 5, 100), 0)
	fxAppend(t, l, fxBatch(t, 1, 5, 100), 5)
	fs.setFailRemove(true, ".log")
	base, err := l.Append(fxBatch(t, 2, 5, 100)) // rolls, then retention fails
	fs.clear()
	if fs.faults() == 0 {
		t.Fatal("no fault was injected")
	}
	if err != nil && l.NextOffset() != 10 {
		t.Fatalf("Append returned (%d, %v) but appended the batch: NextOffset %d", base, err, l.NextOffset())
	}
}

// fxFill appends n batches of per records (numbered from 0) and returns the
// bytes written and the next offset.
func fxFill(t *testing.T, l *Log, n, per int) ([]byte, int64) {
	t.Helper()
	var want []byte
	var next int64
	for i := 0; i < n; i++ {
		b := fxBatch(t, i, per, 100)
		fxAppend(t, l, b, next)
		want = append(want, b...)
		next += int64(per)
	}
	return want, next
}
