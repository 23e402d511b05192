package log

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Benchmarks, each next to a baseline measured in the same run:
//
//	go test -run='^$' -bench . -benchtime=2s ./log
//
// BenchmarkAppend vs BenchmarkBaselineFileWrite: the same encoded batches
// appended to a Log and written with (*os.File).Write to a plain file, with
// no fsync or an fsync per batch. BenchmarkRead/log vs BenchmarkRead/baseline:
// walking forward through a 64 MiB log with ReadInto(buf, offset, 1 MiB)
// reusing buf, and reading the same segment files with ReadAt 1 MiB at a
// time into one buffer. Both read from the page cache. BenchmarkRead/log-alloc
// walks with Read, which allocates a buffer per call.

var benchAppendCases = []struct {
	records int
	name    string
	sync    SyncMode
}{
	{1, "sync=never", SyncNever},
	{1, "sync=per-batch", SyncEveryAppend},
	{100, "sync=never", SyncNever},
	{100, "sync=per-batch", SyncEveryAppend},
	{1000, "sync=never", SyncNever},
	{1000, "sync=per-batch", SyncEveryAppend},
}

const benchValueSize = 100

// reportRecords reports records/s for ops operations of records records.
func reportRecords(b *testing.B, ops, records int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(ops*records)/s, "records/s")
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, bc := range benchAppendCases {
		b.Run(fmt.Sprintf("records=%d/%s", bc.records, bc.name), func(b *testing.B) {
			batch := fxBatch(b, 0, bc.records, benchValueSize)
			l, err := Open(b.TempDir(), Config{Sync: bc.sync})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.SetBytes(int64(len(batch)))
			ops := 0
			for b.Loop() {
				if _, err := l.Append(batch); err != nil {
					b.Fatal(err)
				}
				ops++
			}
			reportRecords(b, ops, bc.records)
		})
	}
}

func BenchmarkBaselineFileWrite(b *testing.B) {
	for _, bc := range benchAppendCases {
		b.Run(fmt.Sprintf("records=%d/%s", bc.records, bc.name), func(b *testing.B) {
			batch := fxBatch(b, 0, bc.records, benchValueSize)
			f, err := os.Create(filepath.Join(b.TempDir(), "baseline"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(int64(len(batch)))
			ops := 0
			for b.Loop() {
				if _, err := f.Write(batch); err != nil {
					b.Fatal(err)
				}
				if bc.sync == SyncEveryAppend {
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
				}
				ops++
			}
			reportRecords(b, ops, bc.records)
		})
	}
}

// benchNextOffset is the offset after the last whole batch in buf, which
// Read returns: a walk over the batch headers, without checksums.
func benchNextOffset(b *testing.B, buf []byte) int64 {
	var last Batch
	for len(buf) > 0 {
		n, err := batchLen(buf)
		if err != nil {
			b.Fatal(err)
		}
		last, buf = Batch(buf[:n]), buf[n:]
	}
	return last.NextOffset()
}

func BenchmarkRead(b *testing.B) {
	const (
		total    = 64 << 20
		maxBytes = 1 << 20
	)
	dir := b.TempDir()
	l, err := Open(dir, Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := fxBatch(b, 0, 100, benchValueSize)
	for l.Size()+int64(len(batch)) <= total { // fills the first segment
		if _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}

	// One pass over the log: warms the page cache and gives the bytes a
	// Read returns on average over a pass, which the loops below repeat.
	var reads, bytesRead int64
	for off := l.StartOffset(); off < l.NextOffset(); reads++ {
		buf, err := l.Read(off, maxBytes)
		if err != nil {
			b.Fatal(err)
		}
		bytesRead += int64(len(buf))
		off = benchNextOffset(b, buf)
	}
	perRead := bytesRead / reads

	b.Run("log", func(b *testing.B) {
		// ReadInto with one buffer, reused: what a fetch loop does.
		b.SetBytes(perRead)
		off, end := l.StartOffset(), l.NextOffset()
		var buf []byte
		for b.Loop() {
			if buf, err = l.ReadInto(buf, off, maxBytes); err != nil {
				b.Fatal(err)
			}
			if off = benchNextOffset(b, buf); off >= end {
				off = l.StartOffset()
			}
		}
	})

	b.Run("log-alloc", func(b *testing.B) {
		// Read: a new buffer per call, for the garbage collector.
		b.SetBytes(perRead)
		off, end := l.StartOffset(), l.NextOffset()
		for b.Loop() {
			buf, err := l.Read(off, maxBytes)
			if err != nil {
				b.Fatal(err)
			}
			if off = benchNextOffset(b, buf); off >= end {
				off = l.StartOffset()
			}
		}
	})

	b.Run("baseline", func(b *testing.B) {
		// The same segment files read with ReadAt into a reused buffer.
		var files []*os.File
		var sizes []int64
		for name, size := range fxLogFiles(b, dir) {
			if size < maxBytes {
				continue
			}
			f, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			files, sizes = append(files, f), append(sizes, size)
		}
		buf := make([]byte, maxBytes)
		b.SetBytes(maxBytes)
		i, pos := 0, int64(0)
		for b.Loop() {
			if pos+maxBytes > sizes[i] {
				i, pos = (i+1)%len(files), 0
			}
			if _, err := files[i].ReadAt(buf, pos); err != nil {
				b.Fatal(err)
			}
			pos += maxBytes
		}
	})
}

func BenchmarkRecordsDecode(b *testing.B) {
	batch := fxBatch(b, 0, 100, benchValueSize)
	dst := make([]Record, 0, 100)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	ops := 0
	for b.Loop() {
		recs, err := batch.Records(dst[:0])
		if err != nil || len(recs) != 100 {
			b.Fatal(len(recs), err)
		}
		ops++
	}
	reportRecords(b, ops, 100)
}
