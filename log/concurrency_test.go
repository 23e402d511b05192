package log

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// fxValue is the value the concurrency test stores at offset off, so that a
// reader can check every record it gets.
func fxValue(off int64) []byte {
	v := make([]byte, 64)
	n := copy(v, fmt.Sprintf("offset=%d;", off))
	for i := n; i < len(v); i++ {
		v[i] = byte('a' + (off+int64(i))%26)
	}
	return v
}

// TestConcurrentAppendRead runs one writer appending batches of 1 to 8
// records while four readers read from random valid offsets, across segment
// rolls and, in the second case, with retention deleting old segments.
// Every Read must return whole, valid batches that start with the one
// holding the offset asked for and continue without gaps, with the records
// the writer wrote. The only error allowed is ErrOffsetOutOfRange for an
// offset that retention deleted after the reader picked it.
func TestConcurrentAppendRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"rolls", Config{SegmentBytes: 8 << 10, IndexInterval: 1 << 10}},
		{"rolls and retention", Config{SegmentBytes: 8 << 10, IndexInterval: 1 << 10, RetentionBytes: 24 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := Open(dir, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()

			const (
				batches = 800
				readers = 4
				minRead = 100 // reads per reader, at least
			)
			var (
				wg      sync.WaitGroup
				done    = make(chan struct{}) // closed when the writer is done
				reads   atomic.Int64
				retired atomic.Int64 // reads of offsets retention had deleted
			)

			wg.Add(1)
			go func() { // the writer
				defer wg.Done()
				defer close(done)
				rng := rand.New(rand.NewPCG(1, 2))
				var next int64
				for i := 0; i < batches; i++ {
					recs := make([]Record, 1+rng.IntN(8))
					for j := range recs {
						recs[j] = Record{Timestamp: int64(i), Key: []byte(fmt.Sprint(i)), Value: fxValue(next + int64(j))}
					}
					b, err := AppendBatch(nil, recs, uint64(i))
					if err != nil {
						t.Errorf("AppendBatch: %v", err)
						return
					}
					base, err := l.Append(b)
					if err != nil {
						t.Errorf("Append %d: %v", i, err)
						return
					}
					if base != next {
						t.Errorf("Append %d: base %d, want %d", i, base, next)
						return
					}
					next += int64(len(recs))
				}
			}()

			wg.Add(1)
			go func() { // housekeeping that contends with the writer
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					if _, err := l.EnforceRetention(math.MaxUint64); err != nil {
						t.Errorf("EnforceRetention: %v", err)
						return
					}
					runtime.Gosched()
				}
			}()

			for r := 0; r < readers; r++ {
				wg.Add(1)
				go func(seed uint64) {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(seed, 99))
					var recs []Record
					for n := 0; ; n++ {
						if n >= minRead {
							select {
							case <-done:
								return
							default:
							}
						}
						start, end := l.StartOffset(), l.NextOffset()
						off := start + rng.Int64N(end-start+1)
						if rng.IntN(2) == 0 { // half the reads chase the tail the writer is writing
							off = max(start, end-rng.Int64N(16))
						}
						buf, err := l.Read(off, 1+rng.IntN(8<<10))
						reads.Add(1)
						// Let the writer run: on two cores, four readers
						// that never yield starve it for whole time slices.
						runtime.Gosched()
						if err != nil {
							var re *OffsetRangeError
							if tc.cfg.RetentionBytes > 0 && errors.As(err, &re) && off < re.Start {
								retired.Add(1)
								continue
							}
							t.Errorf("Read(%d) in [%d, %d]: %v", off, start, end, err)
							return
						}
						if len(buf) == 0 {
							if off < end {
								t.Errorf("Read(%d) returned nothing below NextOffset %d", off, end)
								return
							}
							continue
						}
						if recs, err = fxCheckRead(buf, off, recs[:0]); err != nil {
							t.Errorf("Read(%d, within [%d, %d]): %v", off, start, end, err)
							return
						}
					}
				}(uint64(r))
			}
			wg.Wait()
			if t.Failed() {
				return
			}

			if tc.cfg.RetentionBytes > 0 && l.StartOffset() == 0 {
				t.Error("retention deleted nothing")
			}
			if n := len(fxLogFiles(t, dir)); n < 2 {
				t.Errorf("%d segments: the log never rolled", n)
			}
			// What is left reads back whole.
			for off := l.StartOffset(); off < l.NextOffset(); {
				buf, err := l.Read(off, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				var recs []Record
				if recs, err = fxCheckRead(buf, off, nil); err != nil {
					t.Fatal(err)
				}
				off = recs[len(recs)-1].Offset + 1
			}
			t.Logf("%d reads (%d of offsets retention deleted), log now [%d, %d)",
				reads.Load(), retired.Load(), l.StartOffset(), l.NextOffset())
		})
	}
}

// fxCheckRead checks a Read(off) result: whole valid batches, the first
// holding off, each following on from the one before, every record holding
// fxValue of its offset. It returns the decoded records appended to recs.
func fxCheckRead(buf []byte, off int64, recs []Record) ([]Record, error) {
	first := true
	var next int64
	for rest := buf; len(rest) > 0; {
		b, r, err := ParseBatch(rest)
		if err != nil {
			return recs, fmt.Errorf("batch at byte %d of %d: %w", len(buf)-len(rest), len(buf), err)
		}
		rest = r
		switch {
		case first && (b.BaseOffset() > off || b.NextOffset() <= off):
			return recs, fmt.Errorf("first batch holds [%d, %d), not %d", b.BaseOffset(), b.NextOffset(), off)
		case !first && b.BaseOffset() != next:
			return recs, fmt.Errorf("batch at %d after one ending at %d", b.BaseOffset(), next)
		}
		first, next = false, b.NextOffset()
		n := len(recs)
		if recs, err = b.Records(recs); err != nil {
			return recs, err
		}
		for _, rec := range recs[n:] {
			if !bytes.Equal(rec.Value, fxValue(rec.Offset)) {
				return recs, fmt.Errorf("record %d holds %q", rec.Offset, rec.Value)
			}
		}
	}
	return recs, nil
}
