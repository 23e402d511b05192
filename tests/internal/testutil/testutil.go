// Package testutil holds small helpers shared by the test packages under
// tests/ (tests, tests/fault): loopback addresses and an output buffer
// that a test reads while a process writes it.
package testutil

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

// FreeAddrs returns n distinct loopback addresses that were free a
// moment ago. Their ports are below Linux's default ephemeral range
// (32768-60999), so that no outgoing connection of this machine takes one
// while a node of the test is down: the tests restart nodes on the ports
// they had, and a port taken by a long-lived connection would keep one
// from coming back.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for tries := 0; len(out) < n; tries++ {
		if tries == 1000 {
			t.Fatalf("no free loopback port in [%d, %d) after %d tries", portLow, portHigh, tries)
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", portLow+rand.IntN(portHigh-portLow)))
		if err != nil {
			continue // taken
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// The ports FreeAddrs picks from.
const portLow, portHigh = 20000, 32768

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
