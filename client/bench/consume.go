package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// maxPollErrors is how many polls in a row may fail before a consumer
// gives up.
const maxPollErrors = 20

// ConsumeConfig configures Consume. Count or Duration must be set.
type ConsumeConfig struct {
	// Count is the number of messages to receive, across all consumers;
	// 0 means run for Duration.
	Count int64
	// Duration is how long to receive when Count is 0, counted from the
	// first delivery (or from the start, while nothing arrives).
	Duration time.Duration
	// Consumers is the number of group members polling at once, each with
	// its own connections. Default 1.
	Consumers int
	// Progress, if set, is called every ProgressInterval (default 1s).
	Progress         func(Progress)
	ProgressInterval time.Duration
}

// Consume reads messages from topic as members of consumer group group
// through target, and measures throughput (from the first delivery to the
// last) and the latency from the send time stamped in each message to its
// delivery: for messages produced before Consume started, that includes
// how long they waited. Warm-up messages are skipped; values without a
// stamp count with no latency. It blocks until Count messages have
// arrived, Duration has passed, or ctx ends. Errors: an invalid cfg, a
// consumer that cannot be created, or ctx's error if nothing arrived.
func Consume(ctx context.Context, target Target, topic, group string, cfg ConsumeConfig) (Result, error) {
	if cfg.Consumers == 0 {
		cfg.Consumers = 1
	}
	switch {
	case cfg.Count < 0 || cfg.Duration < 0 || cfg.Consumers < 0:
		return Result{}, fmt.Errorf("%w: negative count, duration or consumers", ErrInvalidConfig)
	case cfg.Count == 0 && cfg.Duration == 0:
		return Result{}, fmt.Errorf("%w: a count or a duration is required", ErrInvalidConfig)
	}
	cons := make([]Consumer, cfg.Consumers)
	for i := range cons {
		var err error
		if cons[i], err = target.Consumer(ctx, topic, group); err != nil {
			for _, c := range cons[:i] {
				c.Close()
			}
			return Result{}, fmt.Errorf("bench: consumer: %w", err)
		}
	}
	rec := newRecorder("consume")
	rec.report(cfg.Progress, cfg.ProgressInterval)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	st := &consumeState{rec: rec, count: cfg.Count, duration: cfg.Duration, stop: stop}
	st.deadline = rec.start.Add(cfg.Duration)
	if cfg.Count == 0 {
		go st.stopAtDeadline(runCtx)
	}
	var wg sync.WaitGroup
	for _, c := range cons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.poll(runCtx, c, nil)
			stop() // the others stop too (a consumer that gave up)
			if err := c.Close(); err != nil {
				rec.fail(fmt.Errorf("close consumer: %w", err))
			}
		}()
	}
	wg.Wait()
	res := rec.result()
	if res.Messages == 0 && ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// consumeState is what the consumers of one workload share.
type consumeState struct {
	rec      *recorder
	count    int64         // stop once this many arrived; 0: by deadline
	duration time.Duration // with count 0
	stop     func()        // ends the consumers' Polls

	first    sync.Once  // the first delivery starts the clock
	mu       sync.Mutex // guards deadline
	deadline time.Time  // with count 0: when to stop
	// notBefore, if set, skips messages stamped before it (EndToEnd: left
	// over from earlier runs). Set before polling starts.
	notBefore int64
}

// deliver counts one delivered value; warm is called for a warm-up
// message (stamp 0) if set.
func (s *consumeState) deliver(value []byte, warm func()) {
	now := time.Now()
	ns, stamped := stampOf(value)
	lat := time.Duration(-1)
	if stamped {
		if ns == 0 {
			if warm != nil {
				warm()
			}
			return
		}
		if ns < s.notBefore {
			return
		}
		lat = time.Duration(now.UnixNano() - ns)
	}
	s.first.Do(func() { // one atomic load after the first delivery
		if s.notBefore == 0 {
			// Throughput counts from the first delivery: joining the group
			// is not consuming.
			s.rec.restart(now)
		}
		s.mu.Lock()
		s.deadline = now.Add(s.duration)
		s.mu.Unlock()
	})
	if n := s.rec.message(len(value), lat, now); s.count > 0 && n >= s.count {
		s.stop()
	}
}

// stopAtDeadline calls stop once the deadline (which moves at the first
// delivery) has passed, or returns when ctx ends.
func (s *consumeState) stopAtDeadline(ctx context.Context) {
	for {
		s.mu.Lock()
		d := time.Until(s.deadline)
		s.mu.Unlock()
		if d <= 0 {
			s.stop()
			return
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// poll runs one consumer until ctx ends (the workload stops it) or
// its polls keep failing.
func (s *consumeState) poll(ctx context.Context, c Consumer, warm func()) {
	fails := 0
	for ctx.Err() == nil {
		_, err := c.Poll(ctx, func(v []byte) { s.deliver(v, warm) })
		switch {
		case err == nil:
			fails = 0
		case ctx.Err() != nil:
			return
		default:
			s.rec.fail(err)
			if fails++; fails >= maxPollErrors {
				return
			}
		}
	}
}
