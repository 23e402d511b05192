package wire

// arena hands out byte slices carved from shared chunks, so decoding a
// batch of records costs a few allocations instead of two per record.
//
// Each slice is capped at its own length (appending to it reallocates), so
// slices never overwrite each other. The cost: a slice keeps its whole
// chunk (at most arenaChunk bytes) alive. Slices larger than arenaMaxObj
// get their own allocation. A nil *arena allocates every slice separately.
type arena struct {
	buf []byte // the current chunk; buf[len(buf):cap(buf)] is free
}

const (
	arenaChunk  = 32 << 10
	arenaMaxObj = 4 << 10
)

// alloc returns a zeroed slice of length and capacity n.
func (a *arena) alloc(n int) []byte {
	if a == nil || n > arenaMaxObj || n == 0 {
		return make([]byte, n)
	}
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, arenaChunk)
	}
	start := len(a.buf)
	a.buf = a.buf[:start+n]
	return a.buf[start : start+n : start+n]
}
