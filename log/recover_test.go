package log

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fill writes n two-record batches to a fresh log in dir and closes it. It
// returns the .log paths, oldest first, and the size of one batch.
func fill(t *testing.T, dir string, cfg Config, n int) ([]string, int64) {
	t.Helper()
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for i := 0; i < n; i++ {
		b := mustBatch(t, i*2, 2, uint64(i+1))
		size = int64(len(b))
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	return logs, size
}

func flipByte(t *testing.T, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}

// crashed makes dir look as if the process had died before Close: fill
// closes the log cleanly, which moves the recovery point to the end (the
// next Open would trust the whole log and report damage as ErrCorrupt). A
// crash leaves the recovery point where the last flush or Sync put it: here
// the start of the only segment. without removes the file instead, as a log
// written before recovery points existed has none.
func crashed(t *testing.T, dir string, without bool) {
	t.Helper()
	p := filepath.Join(dir, recoveryPointFile)
	if without {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(p, []byte("0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRecoveryTornTail(t *testing.T) {
	dir := t.TempDir()
	logs, size := fill(t, dir, Config{}, 10)
	crashed(t, dir, true)
	// Cut the file in the middle of the last batch, as a crash mid-write does.
	st, _ := os.Stat(logs[0])
	if err := os.Truncate(logs[0], st.Size()-size/2); err != nil {
		t.Fatal(err)
	}
	l := openT(t, dir, Config{})
	if l.NextOffset() != 18 || l.LastMeta() != 9 {
		t.Fatalf("after recovery NextOffset %d LastMeta %d, want 18 and 9", l.NextOffset(), l.LastMeta())
	}
	checkSeq(t, readAll(t, l, 0), 0)
	if st2, _ := os.Stat(logs[0]); st2.Size() != st.Size()-size {
		t.Fatalf("file is %d bytes, want the torn batch cut to %d", st2.Size(), st.Size()-size)
	}
	if base, err := l.Append(mustBatch(t, 18, 2, 10)); err != nil || base != 18 {
		t.Fatalf("append after recovery: %d %v", base, err)
	}
	checkSeq(t, readAll(t, l, 0), 0)
}

func TestRecoveryFlippedBitInLastBatch(t *testing.T) {
	dir := t.TempDir()
	logs, size := fill(t, dir, Config{}, 10)
	crashed(t, dir, false)
	st, _ := os.Stat(logs[0])
	flipByte(t, logs[0], st.Size()-size+batchHeaderSize+3)
	l := openT(t, dir, Config{})
	if l.NextOffset() != 18 {
		t.Fatalf("NextOffset %d, want 18 (corrupt last batch cut)", l.NextOffset())
	}
	checkSeq(t, readAll(t, l, 0), 0)
}

func TestRecoveryMissingIndex(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 2000, IndexInterval: 200}
	logs, _ := fill(t, dir, cfg, 60)
	if len(logs) < 2 {
		t.Fatalf("want several segments, got %d", len(logs))
	}
	want, _ := os.ReadFile(indexOf(logs[0]))
	for _, p := range logs {
		if err := os.Remove(indexOf(p)); err != nil {
			t.Fatal(err)
		}
	}
	l := openT(t, dir, cfg)
	if l.NextOffset() != 120 {
		t.Fatalf("NextOffset %d, want 120", l.NextOffset())
	}
	checkSeq(t, readAll(t, l, 0), 0)
	got, err := os.ReadFile(indexOf(logs[0]))
	if err != nil || string(got) != string(want) || len(want) == 0 {
		t.Fatalf("rebuilt index differs: %d bytes vs %d (%v)", len(got), len(want), err)
	}
}

func TestRecoveryCorruptIndex(t *testing.T) {
	cfg := Config{SegmentBytes: 2000, IndexInterval: 200}
	corruptions := map[string]func(path string){
		"partial entry": func(p string) {
			f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte{1, 2, 3})
			f.Close()
		},
		"entry points past the log": func(p string) {
			f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte{0, 0, 1, 0, 0xff, 0xff, 0xff, 0})
			f.Close()
		},
		"entries out of order": func(p string) {
			f, _ := os.OpenFile(p, os.O_WRONLY, 0)
			f.WriteAt([]byte{0xff, 0xff, 0, 0, 0xff, 0, 0, 0}, 0)
			f.Close()
		},
		"entry points at the wrong batch": func(p string) { flipByte(t, p, 3) },
	}
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			logs, _ := fill(t, dir, cfg, 60)
			for _, p := range logs {
				corrupt(indexOf(p))
			}
			l := openT(t, dir, cfg)
			if l.NextOffset() != 120 {
				t.Fatalf("NextOffset %d, want 120", l.NextOffset())
			}
			checkSeq(t, readAll(t, l, 0), 0)
			for off := int64(0); off < 120; off += 5 {
				if _, err := l.Read(off, 1); err != nil {
					t.Fatalf("Read(%d): %v", off, err)
				}
			}
		})
	}
}

func TestRecoveryCorruptSealedSegmentIsAnError(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 2000, IndexInterval: 200}
	logs, size := fill(t, dir, cfg, 60)
	st, _ := os.Stat(logs[0])
	flipByte(t, logs[0], st.Size()-size/2) // the sealed segment's last batch
	_, err := Open(dir, cfg)
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.File != logs[0] {
		t.Fatalf("Open = %v, want a CorruptError for %s", err, logs[0])
	}
	// Nothing was cut: the file is as it was.
	if st2, _ := os.Stat(logs[0]); st2.Size() != st.Size() {
		t.Fatalf("sealed segment changed size: %d -> %d", st.Size(), st2.Size())
	}
}

func TestRecoveryMissingSegmentIsAnError(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 2000}
	logs, _ := fill(t, dir, cfg, 60)
	if len(logs) < 3 {
		t.Fatalf("want 3+ segments, got %d", len(logs))
	}
	os.Remove(logs[1])
	if _, err := Open(dir, cfg); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a gap = %v, want ErrCorrupt", err)
	}
}

func indexOf(logPath string) string { return logPath[:len(logPath)-len(".log")] + ".index" }
