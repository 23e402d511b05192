package broker

import (
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// BenchmarkMetricsProduced measures what instrumenting one successful
// Produce adds to the request path (a fetch costs the same); it must not
// allocate.
func BenchmarkMetricsProduced(b *testing.B) {
	m := newMetrics(&Broker{})
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		m.produced(acksSlotAll, wire.CodeNone, 10, 1000, start)
	}
}

func TestMetricsProducedDoesNotAllocate(t *testing.T) {
	m := newMetrics(&Broker{})
	start := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		m.produced(acksSlotLeader, wire.CodeNone, 10, 1000, start)
		m.fetched(wire.CodeNone, 10, 1000, start)
	}); n != 0 {
		t.Fatalf("%v allocations per produce and fetch", n)
	}
}
