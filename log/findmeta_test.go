package log

import (
	"testing"
)

// TestFindMeta: every batch is found by its meta across segments and index
// entries (metas with gaps, batches of different sizes); metas in the gaps,
// before the first and after the last batch are not; after retention the
// removed batches are not found and the rest still are, also after reopen.
func TestFindMeta(t *testing.T) {
	one := int64(len(mustBatch(t, 0, 1, 0)))
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 7 * one, IndexInterval: 2 * one, RetentionBytes: 10 * one}
	l := openT(t, dir, cfg)
	type entry struct {
		meta uint64
		base int64
	}
	var want []entry
	first := 0
	for i := 0; i < 40; i++ {
		n := 1 + i%3
		meta := uint64(10 + 3*i) // gaps of 2 between metas
		base, err := l.Append(mustBatch(t, first, n, meta))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, entry{meta, base})
		first += n
	}
	check := func(l *Log) {
		t.Helper()
		start := l.StartOffset()
		for _, e := range want {
			base, ok, err := l.FindMeta(e.meta)
			if err != nil {
				t.Fatalf("FindMeta(%d): %v", e.meta, err)
			}
			if present := e.base >= start; ok != present || (ok && base != e.base) {
				t.Fatalf("FindMeta(%d) = %d, %v; want %d, %v (log starts at %d)", e.meta, base, ok, e.base, present, start)
			}
			if _, ok, err := l.FindMeta(e.meta + 1); ok || err != nil {
				t.Fatalf("FindMeta(%d), between batches: %v %v", e.meta+1, ok, err)
			}
		}
		for _, m := range []uint64{0, 9, 1000} {
			if _, ok, err := l.FindMeta(m); ok || err != nil {
				t.Fatalf("FindMeta(%d), outside the log: %v %v", m, ok, err)
			}
		}
	}
	check(l)
	if l.StartOffset() == 0 {
		t.Fatal("retention removed nothing; the test wants removed batches")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check(openT(t, dir, cfg))
}
