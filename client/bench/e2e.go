package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// E2EConfig configures EndToEnd. Rate, and Count or Duration, must be set.
type E2EConfig struct {
	// Rate is the number of messages per second to send.
	Rate float64
	// Size is the size of each message's value; at least StampSize.
	// Default 100.
	Size int
	// Count is the number of messages to send; 0 means send for Duration.
	Count    int64
	Duration time.Duration
	// DrainTimeout bounds the wait, after the last acknowledgement, for
	// the consumer to receive what was sent. Default 10s.
	DrainTimeout time.Duration
	// Progress, if set, is called every ProgressInterval (default 1s).
	Progress         func(Progress)
	ProgressInterval time.Duration
}

// EndToEnd runs one producer sending to topic at cfg.Rate and one member
// of consumer group group reading it, and measures the latency from each
// message's send to its delivery. A warm-up message goes first, until the
// consumer has it (it has joined the group and fetches), so that joining
// is not measured. It blocks until everything sent has arrived (or
// DrainTimeout passed) or ctx ends. Result.Messages counts deliveries, so
// a message delivered twice counts twice; Errors counts failed sends and
// polls. Errors: an invalid cfg, a producer or consumer that cannot be
// created, ctx's error if it ended before the warm-up message arrived.
func EndToEnd(ctx context.Context, target Target, topic, group string, cfg E2EConfig) (Result, error) {
	if cfg.Size == 0 {
		cfg.Size = DefaultSize
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	switch {
	case cfg.Rate <= 0:
		return Result{}, fmt.Errorf("%w: a rate is required", ErrInvalidConfig)
	case cfg.Size < StampSize:
		return Result{}, fmt.Errorf("%w: size %d is below %d, too small for the send time", ErrInvalidConfig, cfg.Size, StampSize)
	case cfg.Count < 0 || cfg.Duration < 0:
		return Result{}, fmt.Errorf("%w: negative count or duration", ErrInvalidConfig)
	case cfg.Count == 0 && cfg.Duration == 0:
		return Result{}, fmt.Errorf("%w: a count or a duration is required", ErrInvalidConfig)
	}
	cons, err := target.Consumer(ctx, topic, group)
	if err != nil {
		return Result{}, fmt.Errorf("bench: consumer: %w", err)
	}
	prod, err := target.Producer(ctx, topic)
	if err != nil {
		cons.Close()
		return Result{}, fmt.Errorf("bench: producer: %w", err)
	}
	rec := newRecorder("e2e")
	consCtx, stopCons := context.WithCancel(ctx)
	st := &consumeState{rec: rec, notBefore: rec.start.UnixNano(), stop: stopCons}
	warmed := make(chan struct{})
	var warmOnce sync.Once
	consDone := make(chan struct{})
	go func() {
		defer close(consDone)
		st.poll(consCtx, cons, func() { warmOnce.Do(func() { close(warmed) }) })
	}()
	finish := func() (Result, error) {
		stopCons()
		<-consDone
		cons.Close()
		res := rec.result()
		if res.Messages == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, nil
	}

	if err := warmUp(ctx, prod, rec, warmed, consDone); err != nil {
		prod.Close()
		res, ferr := finish()
		if ferr == nil {
			ferr = fmt.Errorf("bench: the consumer gave up before the warm-up message arrived: %s", res.FirstError)
		}
		return res, ferr
	}
	rec.restart(time.Now())
	rec.report(cfg.Progress, cfg.ProgressInterval)
	var acked atomic.Int64
	w := &sendLoop{p: prod, rec: rec, size: cfg.Size, count: cfg.Count, rate: cfg.Rate,
		onAck: func(time.Time) { acked.Add(1) }}
	if cfg.Count == 0 {
		w.deadline = time.Now().Add(cfg.Duration)
	}
	w.run(ctx)
	if err := prod.Close(); err != nil {
		rec.fail(fmt.Errorf("close producer: %w", err))
	}
	// Wait for the consumer to catch up with what was acknowledged, while
	// it makes progress, at most DrainTimeout.
	drainEnd := time.Now().Add(cfg.DrainTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for rec.count() < acked.Load() && time.Now().Before(drainEnd) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return finish()
		}
	}
	return finish()
}

var errConsumerGaveUp = errors.New("bench: the consumer gave up")

// warmUp sends a warm-up message every 100ms until the consumer has one
// (warmed closes), the consumer gave up (consDone closes) or ctx ends.
func warmUp(ctx context.Context, p Producer, rec *recorder, warmed, consDone <-chan struct{}) error {
	value := make([]byte, StampSize)
	Stamp(value, time.Time{})
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		p.Send(value, func(err error) {
			if err != nil {
				rec.fail(fmt.Errorf("warm-up message: %w", err))
			}
		})
		select {
		case <-warmed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-consDone:
			return errConsumerGaveUp
		case <-tick.C:
		}
	}
}
