package log

import (
	"fmt"
	"sync"
)

// The flusher makes sealed segments durable in the background, so that a
// roll does not stall Append for the fsync of a whole segment (tens of
// milliseconds for 64 MiB). One goroutine per Log, started by Open and
// stopped by Close, takes sealed segments in the order they were sealed
// (FIFO), fsyncs each one's .log and .index, moves the recovery point to the
// end of the segment (whose atomic replacement fsyncs the directory, and so
// also makes the creation of the next segment durable) and closes the
// segment's flushed channel.
//
// Waiting for the last job handed over waits for all of them (Log.drain):
// Sync, Truncate, LinkSegments and Close do so. Retention waits for the
// flushed channel of each segment it deletes.
//
// A failed fsync cannot be retried meaningfully (the kernel may have dropped
// the dirty pages and marked them clean), and the data was acknowledged
// long ago, so it fails the Log: see Log.fail. The recovery point then
// never moves past the segment that failed, and the next Open verifies it.

// flushJob is one sealed segment for the flusher.
type flushJob struct {
	seg  *segment
	end  recoveryPoint // the end of seg: the recovery point once seg is durable
	done chan struct{} // closed when the flusher is done with seg, durable or failed
}

// flusher is the queue between the writer and the flusher goroutine.
type flusher struct {
	mu      sync.Mutex // guards queue and stop
	cond    *sync.Cond // signalled on queue or stop changes; uses mu
	queue   []*flushJob
	stop    bool
	stopped chan struct{} // closed when the goroutine has returned
}

// startFlusher starts l's flusher goroutine.
func (l *Log) startFlusher() {
	l.fl = &flusher{stopped: make(chan struct{})}
	l.fl.cond = sync.NewCond(&l.fl.mu)
	go l.runFlusher()
}

// enqueueFlush hands a sealed segment to the flusher. Called with wmu held.
func (l *Log) enqueueFlush(s *segment) {
	job := &flushJob{seg: s, end: recoveryPoint{base: s.base, pos: s.size.Load()}, done: make(chan struct{})}
	s.flushed = job.done
	l.lastJob = job
	l.fl.mu.Lock()
	l.fl.queue = append(l.fl.queue, job)
	l.fl.mu.Unlock()
	l.fl.cond.Signal()
}

// drain waits until the flusher has finished every segment handed to it and
// returns the Log's failure, if any. Called with wmu held (so no new segment
// is sealed meanwhile).
func (l *Log) drain() error {
	if l.lastJob != nil {
		<-l.lastJob.done
	}
	return l.failure()
}

// stopFlusher makes the goroutine return once its queue is empty, and waits
// for it.
func (l *Log) stopFlusher() {
	l.fl.mu.Lock()
	l.fl.stop = true
	l.fl.mu.Unlock()
	l.fl.cond.Signal()
	<-l.fl.stopped
}

func (l *Log) runFlusher() {
	defer close(l.fl.stopped)
	for {
		l.fl.mu.Lock()
		for len(l.fl.queue) == 0 && !l.fl.stop {
			l.fl.cond.Wait()
		}
		if len(l.fl.queue) == 0 {
			l.fl.mu.Unlock()
			return
		}
		job := l.fl.queue[0]
		l.fl.queue[0] = nil
		l.fl.queue = l.fl.queue[1:]
		l.fl.mu.Unlock()
		l.flush(job)
	}
}

// flush makes one sealed segment durable and moves the recovery point past
// it. Nobody else touches the segment's files meanwhile: the writer never
// writes a sealed segment, and whoever would cut, delete or close it
// (Truncate, retention, Close) waits for job.done first.
func (l *Log) flush(job *flushJob) {
	defer close(job.done)
	if l.failure() != nil {
		return // never move the recovery point past a segment that failed
	}
	if err := job.seg.syncFiles(); err != nil {
		err = fmt.Errorf("%w: %w", ErrFlushFailed, err)
		l.fail(err)
		l.cfg.Logger.Error("background fsync of a sealed segment failed; the log refuses writes until it is reopened",
			"segment", job.seg.path, "error", err)
		return
	}
	if err := l.advanceRecoveryPoint(job.end); err != nil {
		// The segment is durable, but the creation of the segment after it
		// may not be (the recovery point's directory fsync makes it so),
		// and the next Open verifies more than it needs to. The next flush
		// or Sync tries again; Sync returns the error, which is how a
		// caller (a replication snapshot) learns of it.
		l.cfg.Logger.Warn("writing the recovery point", "error", err)
	}
}

// fail records the first background failure; every writing method returns
// it from then on.
func (l *Log) fail(err error) {
	l.failErr.CompareAndSwap(nil, &err)
}

// failure is the Log's background failure, nil if none. It is cheap: Append
// checks it every time.
func (l *Log) failure() error {
	if p := l.failErr.Load(); p != nil {
		return *p
	}
	return nil
}
