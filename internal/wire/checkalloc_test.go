package wire

import (
	"runtime"
	"testing"
)

// TestCheckAllocIgnoresForeignAllocations: another goroutine allocating
// while the decoder is measured (as the fuzz engine's goroutines do under
// load) must not fail checkAlloc. The first run is made to coincide with
// an 8 MiB allocation elsewhere; a single process-wide measurement (the
// old check) counts it against the decoder and fails.
func TestCheckAllocIgnoresForeignAllocations(t *testing.T) {
	body := marshal(Record{Key: []byte("k"), Value: []byte("v")})
	start, done := make(chan struct{}), make(chan struct{})
	var foreign []byte
	go func() {
		<-start
		foreign = make([]byte, 8<<20)
		close(done)
	}()
	first := true
	var rec Record
	checkAlloc(t, len(body), func() {
		if first {
			first = false
			close(start)
			<-done // the other goroutine allocated during this measurement
		}
		rec = Record{}
		if err := DecodeBody(body, &rec); err != nil {
			t.Error(err)
		}
	})
	runtime.KeepAlive(foreign)
}

// TestCheckAllocCatchesOverAllocation: a decoder that allocates past the
// limit on every run is still caught.
func TestCheckAllocCatchesOverAllocation(t *testing.T) {
	var sink []byte
	runs, over := allocOver(16, func() { sink = make([]byte, 4<<20) })
	if !over || len(runs) != allocTries {
		t.Fatalf("over-allocating decoder: over=%v after runs %v", over, runs)
	}
	runtime.KeepAlive(sink)
}
