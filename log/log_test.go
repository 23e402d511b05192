package log

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// rec makes a record with a value naming its sequence number.
func rec(i int) Record {
	return Record{Timestamp: int64(1000 + i), Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("value-%06d", i))}
}

// mustBatch encodes n records numbered from first.
func mustBatch(t testing.TB, first, n int, meta uint64) Batch {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = rec(first + i)
	}
	b, err := AppendBatch(nil, recs, meta)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openT(t *testing.T, dir string, cfg Config) *Log {
	t.Helper()
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// readAll decodes every record from offset to the end of the log.
func readAll(t *testing.T, l *Log, from int64) []Record {
	t.Helper()
	var out []Record
	for off := from; off < l.NextOffset(); {
		buf, err := l.Read(off, 4096)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		for len(buf) > 0 {
			b, rest, err := ParseBatch(buf)
			if err != nil {
				t.Fatalf("ParseBatch at offset %d: %v", off, err)
			}
			recs, err := b.Records(nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Offset >= off {
					out = append(out, r)
				}
			}
			off = b.NextOffset()
			buf = rest
		}
	}
	return out
}

func checkSeq(t *testing.T, recs []Record, first int64) {
	t.Helper()
	for i, r := range recs {
		want := rec(int(first) + i)
		if r.Offset != first+int64(i) || !bytes.Equal(r.Value, want.Value) || r.Timestamp != want.Timestamp {
			t.Fatalf("record %d: offset %d value %q ts %d, want offset %d value %q ts %d",
				i, r.Offset, r.Value, r.Timestamp, first+int64(i), want.Value, want.Timestamp)
		}
	}
}

func TestBatchRoundTrip(t *testing.T) {
	recs := []Record{
		{Timestamp: 5, Key: nil, Value: []byte("v")},
		{Timestamp: 3, Key: []byte{}, Value: nil, Headers: []Header{{Key: "h", Value: nil}, {Key: "", Value: []byte{}}}},
		{Timestamp: 9, Key: []byte("k"), Value: bytes.Repeat([]byte("x"), 300)},
	}
	b, err := AppendBatch([]byte("prefix"), recs, 42)
	if err != nil {
		t.Fatal(err)
	}
	pb, rest, err := ParseBatch(b)
	if err != nil || len(rest) != 0 {
		t.Fatalf("ParseBatch: %v, %d left", err, len(rest))
	}
	if pb.Meta() != 42 || pb.Count() != 3 || pb.MaxTimestamp() != 9 || pb.FirstTimestamp() != 5 {
		t.Fatalf("header: meta %d count %d maxTs %d firstTs %d", pb.Meta(), pb.Count(), pb.MaxTimestamp(), pb.FirstTimestamp())
	}
	got, err := pb.Records(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		g, w := got[i], recs[i]
		if g.Offset != int64(i) || g.Timestamp != w.Timestamp || (g.Key == nil) != (w.Key == nil) ||
			!bytes.Equal(g.Key, w.Key) || (g.Value == nil) != (w.Value == nil) || !bytes.Equal(g.Value, w.Value) ||
			len(g.Headers) != len(w.Headers) {
			t.Fatalf("record %d: got %+v want %+v", i, g, w)
		}
		for j := range w.Headers {
			if g.Headers[j].Key != w.Headers[j].Key || (g.Headers[j].Value == nil) != (w.Headers[j].Value == nil) {
				t.Fatalf("record %d header %d: got %+v want %+v", i, j, g.Headers[j], w.Headers[j])
			}
		}
	}
	if _, err := AppendBatch(nil, nil, 0); !errors.Is(err, ErrMalformedBatch) {
		t.Fatalf("empty batch: %v", err)
	}
	flipped := append(Batch(nil), pb...)
	flipped[len(flipped)-1] ^= 1
	if _, _, err := ParseBatch(flipped); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped bit: %v", err)
	}
}

func TestAppendRead(t *testing.T) {
	tests := []struct {
		name      string
		batches   []int // records per batch
		readFrom  int64
		maxBytes  int
		wantFirst int64 // base offset of the first batch returned
		wantCount int   // batches returned
	}{
		{"single record", []int{1}, 0, 1 << 20, 0, 1},
		{"read from middle of batch", []int{5, 5}, 7, 1 << 20, 5, 1},
		{"max bytes smaller than one batch still returns it", []int{10, 10}, 0, 1, 0, 1},
		{"max bytes limits to whole batches", []int{1, 1, 1, 1}, 0, 2*batchHeaderSize + 60, 0, 2},
		{"reads all", []int{3, 4, 5}, 0, 1 << 20, 0, 3},
		{"from last batch", []int{3, 4, 5}, 11, 1 << 20, 7, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := openT(t, t.TempDir(), Config{})
			next := 0
			for i, n := range tc.batches {
				base, err := l.Append(mustBatch(t, next, n, uint64(i+1)))
				if err != nil || base != int64(next) {
					t.Fatalf("Append: base %d err %v, want %d", base, err, next)
				}
				next += n
			}
			if l.NextOffset() != int64(next) || l.LastMeta() != uint64(len(tc.batches)) {
				t.Fatalf("NextOffset %d LastMeta %d", l.NextOffset(), l.LastMeta())
			}
			buf, err := l.Read(tc.readFrom, tc.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			var count int
			for first := true; len(buf) > 0; first = false {
				b, rest, err := ParseBatch(buf)
				if err != nil {
					t.Fatal(err)
				}
				if first && b.BaseOffset() != tc.wantFirst {
					t.Fatalf("first batch at %d, want %d", b.BaseOffset(), tc.wantFirst)
				}
				count++
				buf = rest
			}
			if count != tc.wantCount {
				t.Fatalf("%d batches, want %d", count, tc.wantCount)
			}
			checkSeq(t, readAll(t, l, 0), 0)
		})
	}
}

func TestReadOutOfRange(t *testing.T) {
	l := openT(t, t.TempDir(), Config{})
	if _, err := l.Append(mustBatch(t, 0, 3, 1)); err != nil {
		t.Fatal(err)
	}
	buf, err := l.Read(3, 100)
	if err != nil || len(buf) != 0 {
		t.Fatalf("read at end: %d bytes, %v", len(buf), err)
	}
	_, err = l.Read(4, 100)
	var re *OffsetRangeError
	if !errors.Is(err, ErrOffsetOutOfRange) || !errors.As(err, &re) || re.Start != 0 || re.End != 3 {
		t.Fatalf("read past end: %v", err)
	}
	if _, err := l.Read(-1, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
}

func TestRoll(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	tests := []struct {
		name     string
		cfg      Config
		advance  time.Duration // clock step per append
		appends  int
		wantSegs int
	}{
		{"no roll under size", Config{SegmentBytes: 1 << 20}, 0, 10, 1},
		{"roll by size", Config{SegmentBytes: 2 * int64(len(mustBatch(t, 0, 1, 0)))}, 0, 10, 5},
		{"oversized batch gets a segment of its own", Config{SegmentBytes: 10}, 0, 3, 3},
		{"roll by age", Config{SegmentAge: time.Minute}, 30 * time.Second, 6, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := now
			tc.cfg.Now = func() time.Time { return clock }
			dir := t.TempDir()
			l := openT(t, dir, tc.cfg)
			for i := 0; i < tc.appends; i++ {
				b := mustBatch(t, i, 1, 0)
				// Timestamps follow the clock, as the broker stamps them.
				recs, _ := b.Records(nil)
				recs[0].Timestamp = clock.UnixMilli()
				b, _ = AppendBatch(nil, recs, 0)
				if _, err := l.Append(b); err != nil {
					t.Fatal(err)
				}
				clock = clock.Add(tc.advance)
			}
			logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
			if len(logs) != tc.wantSegs {
				t.Fatalf("%d segments, want %d", len(logs), tc.wantSegs)
			}
			if got := len(readAll(t, l, 0)); got != tc.appends {
				t.Fatalf("read %d records, want %d", got, tc.appends)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	batchSize := int64(len(mustBatch(t, 0, 1, 0)))
	tests := []struct {
		name      string
		cfg       Config
		age       time.Duration // clock at retention time minus the records' time
		wantStart int64
	}{
		{"keeps everything by default", Config{SegmentBytes: 2 * batchSize}, time.Hour, 0},
		{"by size keeps at least RetentionBytes", Config{SegmentBytes: 2 * batchSize, RetentionBytes: 4 * batchSize}, 0, 4},
		{"by age drops old sealed segments, never the active", Config{SegmentBytes: 2 * batchSize, RetentionAge: time.Minute}, time.Hour, 8},
		{"by age keeps young segments", Config{SegmentBytes: 2 * batchSize, RetentionAge: time.Minute}, time.Second, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := time.UnixMilli(1000)
			tc.cfg.Now = func() time.Time { return clock }
			l := openT(t, t.TempDir(), tc.cfg)
			for i := 0; i < 9; i++ { // 5 segments: 4 sealed of 2 batches, active with 1
				if _, err := l.Append(mustBatch(t, i, 1, 0)); err != nil {
					t.Fatal(err)
				}
			}
			clock = time.UnixMilli(1000 + 9).Add(tc.age)
			if _, err := l.EnforceRetention(math.MaxUint64); err != nil {
				t.Fatal(err)
			}
			if l.StartOffset() != tc.wantStart {
				t.Fatalf("StartOffset %d, want %d", l.StartOffset(), tc.wantStart)
			}
			if _, err := l.Read(tc.wantStart-1, 100); tc.wantStart > 0 && !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("read below start: %v", err)
			}
			checkSeq(t, readAll(t, l, l.StartOffset()), tc.wantStart)
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name     string
		truncate int64
		wantNext int64
		wantErr  error
	}{
		{"at end is a no-op", 20, 20, nil},
		{"past end is a no-op", 25, 20, nil},
		{"at a batch boundary", 12, 12, nil},
		{"inside a batch drops the whole batch", 13, 12, nil},
		{"into a sealed segment", 5, 4, nil},
		{"to the start", 0, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openT(t, dir, Config{SegmentBytes: 400})
			for i := 0; i < 5; i++ { // batches of 4 records
				if _, err := l.Append(mustBatch(t, i*4, 4, uint64(i+1))); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Truncate(tc.truncate); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Truncate: %v", err)
			}
			if l.NextOffset() != tc.wantNext {
				t.Fatalf("NextOffset %d, want %d", l.NextOffset(), tc.wantNext)
			}
			if want := uint64(tc.wantNext / 4); l.LastMeta() != want {
				t.Fatalf("LastMeta %d, want %d", l.LastMeta(), want)
			}
			checkSeq(t, readAll(t, l, 0), 0)
			// Appends continue from the new end, also after reopening.
			if base, err := l.Append(mustBatch(t, int(tc.wantNext), 2, 99)); err != nil || base != tc.wantNext {
				t.Fatalf("Append after truncate: %d %v", base, err)
			}
			l.Close()
			l2 := openT(t, dir, Config{SegmentBytes: 400})
			if l2.NextOffset() != tc.wantNext+2 {
				t.Fatalf("after reopen NextOffset %d, want %d", l2.NextOffset(), tc.wantNext+2)
			}
			checkSeq(t, readAll(t, l2, 0), 0)
		})
	}
	l := openT(t, t.TempDir(), Config{SegmentBytes: 200, RetentionBytes: 1})
	for i := 0; i < 6; i++ {
		if _, err := l.Append(mustBatch(t, i, 1, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if l.StartOffset() == 0 {
		t.Fatal("retention did not run")
	}
	if err := l.Truncate(0); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("truncate below start: %v", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Config{SegmentBytes: 1000, IndexInterval: 100})
	for i := 0; i < 50; i++ {
		if _, err := l.Append(mustBatch(t, i*2, 2, uint64(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.Read(0, 10); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, err := l.Append(mustBatch(t, 0, 1, 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	l2 := openT(t, dir, Config{SegmentBytes: 1000, IndexInterval: 100})
	if l2.NextOffset() != 100 || l2.LastMeta() != 50 {
		t.Fatalf("NextOffset %d LastMeta %d", l2.NextOffset(), l2.LastMeta())
	}
	checkSeq(t, readAll(t, l2, 0), 0)
	for off := int64(0); off < 100; off += 7 { // index lookups across segments
		buf, err := l2.Read(off, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := ParseBatch(buf)
		if err != nil || b.BaseOffset() > off || b.NextOffset() <= off {
			t.Fatalf("Read(%d) gave batch [%d,%d): %v", off, b.BaseOffset(), b.NextOffset(), err)
		}
	}
}

func TestLinkSegments(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, Config{SegmentBytes: 300, RetentionBytes: 1})
	for i := 0; i < 4; i++ {
		if _, err := l.Append(mustBatch(t, i, 1, 0)); err != nil {
			t.Fatal(err)
		}
	}
	snap := t.TempDir()
	refs, err := l.LinkSegments(snap)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, r := range refs {
		data, err := os.ReadFile(filepath.Join(snap, r.Name))
		if err != nil {
			t.Fatal(err)
		}
		total += r.Size
		if b, _, err := ParseBatch(data[:r.Size]); err != nil || b.BaseOffset() != r.Base {
			t.Fatalf("linked segment %s: %v", r.Name, err)
		}
	}
	// Retention removes the log's names; the links keep the data.
	for i := 4; i < 10; i++ {
		if _, err := l.Append(mustBatch(t, i, 1, 0)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range refs[:len(refs)-1] {
		if _, err := os.Stat(filepath.Join(dir, r.Name)); !os.IsNotExist(err) {
			t.Fatalf("retention kept %s", r.Name)
		}
		if st, err := os.Stat(filepath.Join(snap, r.Name)); err != nil || st.Size() != r.Size {
			t.Fatalf("link %s lost: %v", r.Name, err)
		}
	}
	if total == 0 {
		t.Fatal("nothing linked")
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{
		{SegmentBytes: -1}, {SegmentBytes: 2 << 30}, {SegmentAge: -1}, {RetentionBytes: -1},
		{RetentionAge: -1}, {Sync: 7}, {SyncBytes: -1}, {IndexInterval: -1},
	}
	for _, c := range bad {
		if _, err := Open(t.TempDir(), c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Open(%+v) = %v, want ErrInvalidConfig", c, err)
		}
	}
}
