package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in nanoseconds from 1ns to maxLatency with 3
// significant digits (HdrHistogram); longer ones count as maxLatency.
const maxLatency = int64(100 * time.Second)

// recorder counts a workload's messages, bytes, errors and latencies, in
// all and for the current progress interval. It is safe for concurrent
// use.
type recorder struct {
	workload string
	start    time.Time

	mu         sync.Mutex // guards the fields below
	total      *hdrhistogram.Histogram
	interval   *hdrhistogram.Histogram
	msgs       int64 // in all
	bytes      int64
	iMsgs      int64 // in the current interval
	iBytes     int64
	iStart     time.Time
	errs       int64
	firstErr   error
	last       time.Time // the latest message counted
	stopReport chan struct{}
	reportDone chan struct{}
}

func newRecorder(workload string) *recorder {
	now := time.Now()
	return &recorder{
		workload: workload,
		start:    now,
		iStart:   now,
		total:    hdrhistogram.New(1, maxLatency, 3),
		interval: hdrhistogram.New(1, maxLatency, 3),
	}
}

// message counts one message of size bytes and returns the messages
// counted so far; lat < 0 records no latency.
func (r *recorder) message(size int, lat time.Duration, now time.Time) int64 {
	v := min(max(int64(lat), 1), maxLatency)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs++
	r.iMsgs++
	r.bytes += int64(size)
	r.iBytes += int64(size)
	if lat >= 0 {
		r.total.RecordValue(v)
		r.interval.RecordValue(v)
	}
	if now.After(r.last) {
		r.last = now
	}
	return r.msgs
}

// fail counts one error.
func (r *recorder) fail(err error) {
	r.mu.Lock()
	r.errs++
	if r.firstErr == nil {
		r.firstErr = err
	}
	r.mu.Unlock()
}

// count returns the messages counted so far.
func (r *recorder) count() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs
}

// report calls fn every interval with the interval's figures, until
// stop; it does nothing if fn is nil.
func (r *recorder) report(fn func(Progress), every time.Duration) {
	r.stopReport, r.reportDone = make(chan struct{}), make(chan struct{})
	if fn == nil {
		close(r.reportDone)
		return
	}
	if every <= 0 {
		every = time.Second
	}
	go func() {
		defer close(r.reportDone)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-r.stopReport:
				return
			case now := <-t.C:
				fn(r.progress(now))
			}
		}
	}()
}

// progress returns the figures of the interval ending now and starts the
// next.
func (r *recorder) progress(now time.Time) Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	secs := now.Sub(r.iStart).Seconds()
	p := Progress{Workload: r.workload, Elapsed: now.Sub(r.start), Messages: r.msgs}
	if secs > 0 {
		p.MsgsPerSec = float64(r.iMsgs) / secs
		p.MBPerSec = float64(r.iBytes) / 1e6 / secs
	}
	if r.interval.TotalCount() > 0 {
		p.P50 = time.Duration(r.interval.ValueAtQuantile(50))
		p.P99 = time.Duration(r.interval.ValueAtQuantile(99))
	}
	r.interval.Reset()
	r.iMsgs, r.iBytes, r.iStart = 0, 0, now
	return p
}

// restart makes now the start of the measurement, forgetting what was
// counted before (warm-up).
func (r *recorder) restart(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.start, r.iStart, r.last = now, now, now
	r.msgs, r.bytes, r.iMsgs, r.iBytes, r.errs, r.firstErr = 0, 0, 0, 0, 0, nil
	r.total.Reset()
	r.interval.Reset()
}

// result stops the progress reports and returns the Result, measured from
// start to the last message counted (or to now, if none was).
func (r *recorder) result() Result {
	if r.stopReport != nil {
		close(r.stopReport)
		<-r.reportDone
		r.stopReport = nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	end := r.last
	if r.msgs == 0 {
		end = time.Now()
	}
	res := Result{Workload: r.workload, Messages: r.msgs, Bytes: r.bytes, Errors: r.errs,
		Seconds: end.Sub(r.start).Seconds()}
	if r.firstErr != nil {
		res.FirstError = r.firstErr.Error()
	}
	if res.Seconds > 0 {
		res.MsgsPerSec = float64(res.Messages) / res.Seconds
		res.MBPerSec = float64(res.Bytes) / 1e6 / res.Seconds
	}
	h := r.total
	toMs := func(v int64) float64 { return float64(v) / 1e6 }
	res.Latency = Latency{
		Count:  h.TotalCount(),
		MeanMs: h.Mean() / 1e6,
		P50Ms:  toMs(h.ValueAtQuantile(50)),
		P95Ms:  toMs(h.ValueAtQuantile(95)),
		P99Ms:  toMs(h.ValueAtQuantile(99)),
		P999Ms: toMs(h.ValueAtQuantile(99.9)),
		MaxMs:  toMs(h.Max()),
	}
	return res
}
