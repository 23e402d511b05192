package log

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestReadIntoReusesBuffer: ReadInto returns what Read returns, in dst's
// storage when it fits (whatever dst's length), in a new slice when not.
func TestReadIntoReusesBuffer(t *testing.T) {
	l := openT(t, t.TempDir(), Config{SegmentBytes: 4096})
	for i := 0; i < 40; i++ {
		if _, err := l.Append(mustBatch(t, i*3, 3, uint64(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 7, 64<<10) // a length that ReadInto ignores
	for off := l.StartOffset(); off < l.NextOffset(); off += 2 {
		want, err := l.Read(off, 1000)
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.ReadInto(buf, off, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("ReadInto(%d) returned %d bytes that differ from Read's %d", off, len(got), len(want))
		}
		if &got[:1][0] != &buf[:1][0] {
			t.Fatalf("ReadInto(%d) did not read into dst although it fits", off)
		}
		buf = got // what a reader walking the log does
	}

	small := make([]byte, 0, 10)
	got, err := l.ReadInto(small, 0, 1000)
	if err != nil || len(got) <= cap(small) {
		t.Fatalf("ReadInto into a too small buffer: %d bytes, %v", len(got), err)
	}
	if want, _ := l.Read(0, 1000); !bytes.Equal(got, want) {
		t.Fatal("ReadInto into a too small buffer differs from Read")
	}
	if got, err := l.ReadInto(buf, l.NextOffset(), 1000); err != nil || len(got) != 0 {
		t.Fatalf("ReadInto at the end: %d bytes, %v", len(got), err)
	}
	if _, err := l.ReadInto(buf, l.NextOffset()+1, 1000); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("ReadInto past the end: %v", err)
	}
}

// Several batches encoded into one buffer: AppendBatch returns only the
// batch it appended, so keep the grown buffer by appending that batch to
// the buffer you passed in. When AppendBatch encoded in place (dst had the
// capacity), this append copies the batch onto itself; when it had to
// grow dst, it copies the buffer once more. Keep each batch's start
// (len(buf) before the call) to find it again, or walk the buffer with
// ParseBatch.
func ExampleAppendBatch_severalBatches() {
	var buf []byte
	var starts []int
	for i, value := range []string{"a", "bb", "ccc"} {
		recs := []Record{{Timestamp: 1_700_000_000_000, Value: []byte(value)}}
		start := len(buf)
		b, err := AppendBatch(buf, recs, uint64(i))
		if err != nil {
			panic(err)
		}
		buf = append(buf, b...)
		starts = append(starts, start)
	}
	for rest := buf; len(rest) > 0; {
		b, r, err := ParseBatch(rest)
		if err != nil {
			panic(err)
		}
		recs, _ := b.Records(nil)
		fmt.Printf("batch at byte %d: meta %d, value %q\n", len(buf)-len(rest), b.Meta(), recs[0].Value)
		rest = r
	}
	fmt.Println("starts:", starts)
	// Output:
	// batch at byte 0: meta 0, value "a"
	// batch at byte 81: meta 1, value "bb"
	// batch at byte 163: meta 2, value "ccc"
	// starts: [0 81 163]
}
