package bench

import (
	"fmt"
	"io"
	"time"
)

// Result is the outcome of a workload.
type Result struct {
	// Workload is "produce", "consume" or "e2e".
	Workload string `json:"workload"`
	// Messages is the number of messages acknowledged (produce) or
	// delivered (consume, e2e), warm-up messages excluded.
	Messages int64 `json:"messages"`
	// Bytes is the size of their values.
	Bytes int64 `json:"bytes"`
	// Errors is the number of messages that failed (produce) or failed
	// polls (consume); FirstError describes the first.
	Errors     int64  `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	// Seconds is the measured time: from the first send (or poll) to the
	// last acknowledgement (or delivery).
	Seconds float64 `json:"seconds"`
	// MsgsPerSec and MBPerSec are Messages and Bytes (MB = 10^6 bytes) per
	// second of Seconds.
	MsgsPerSec float64 `json:"msgs_per_sec"`
	MBPerSec   float64 `json:"mb_per_sec"`
	// Latency: produce: from Send to the acknowledgement; consume and e2e:
	// from the send time stamped in the message to its delivery.
	Latency Latency `json:"latency"`
}

// Latency summarises a latency histogram, in milliseconds.
type Latency struct {
	Count  int64   `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p99_9_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// Progress is a workload's report of the last interval (about a second).
type Progress struct {
	Workload string
	Elapsed  time.Duration // since the workload started
	Messages int64         // in all so far
	// Over the last interval:
	MsgsPerSec float64
	MBPerSec   float64
	P50, P99   time.Duration // zero if no latency was recorded
}

// String formats p as one line:
//
//	produce  3.0s  312,345 msgs/s  37.48 MB/s  p50 1.21 ms  p99 4.55 ms  (937,035 in all)
func (p Progress) String() string {
	lat := "p50 - ms  p99 - ms"
	if p.P50 > 0 || p.P99 > 0 {
		lat = fmt.Sprintf("p50 %s ms  p99 %s ms", ms(p.P50), ms(p.P99))
	}
	return fmt.Sprintf("%s %5.1fs  %s msgs/s  %.2f MB/s  %s  (%s in all)",
		p.Workload, p.Elapsed.Seconds(), group(int64(p.MsgsPerSec+0.5)), p.MBPerSec, lat, group(p.Messages))
}

// WriteText writes r for people, a few lines.
func (r Result) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%s: %s messages (%.2f MB) in %.2fs: %s msgs/s, %.2f MB/s\n"+
		"latency ms: p50 %.3f  p95 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f (%d samples)\n",
		r.Workload, group(r.Messages), float64(r.Bytes)/1e6, r.Seconds, group(int64(r.MsgsPerSec+0.5)), r.MBPerSec,
		r.Latency.P50Ms, r.Latency.P95Ms, r.Latency.P99Ms, r.Latency.P999Ms, r.Latency.MaxMs, r.Latency.MeanMs, r.Latency.Count)
	if err == nil && r.Errors > 0 {
		_, err = fmt.Fprintf(w, "errors: %d (first: %s)\n", r.Errors, r.FirstError)
	}
	return err
}

// ms formats d in milliseconds with 2 decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }

// group formats n with thousands separators: 1234567 -> "1,234,567".
func group(n int64) string {
	s := fmt.Sprint(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
