// Package testutil holds small helpers shared by the test packages under
// tests/ (tests, tests/fault): loopback addresses and an output buffer
// that a test reads while a process writes it.
package testutil

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// FreeAddrs returns n distinct loopback addresses that were free a
// moment ago.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// SyncBuffer is a bytes.Buffer safe for concurrent use: a process's
// output, collected while the test reads it. The zero value is empty.
type SyncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
