package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults of the workload configurations.
const (
	DefaultSize             = 100
	DefaultProgressInterval = time.Second
)

// ErrInvalidConfig is matched by every configuration error of a workload.
var ErrInvalidConfig = errors.New("bench: invalid configuration")

// ProduceConfig configures Produce. Count or Duration must be set.
type ProduceConfig struct {
	// Size is the size of each message's value. Default 100.
	Size int
	// Count is the number of messages to send, across all producers; 0
	// means run for Duration.
	Count int64
	// Duration is how long to send when Count is 0.
	Duration time.Duration
	// Producers is the number of producers sending at once, each with its
	// own connections. Default 1.
	Producers int
	// MaxInFlight is how many messages each producer may have sent and not
	// yet had acknowledged; 1 sends one message at a time (a latency
	// test). Default 0: no limit beyond the Target's own buffers.
	MaxInFlight int
	// Rate is the total number of messages per second to send; 0 (the
	// default) sends as fast as acknowledgements allow.
	Rate float64
	// Progress, if set, is called every ProgressInterval (default 1s) with
	// the last interval's figures, from a goroutine of its own.
	Progress         func(Progress)
	ProgressInterval time.Duration
}

func (c ProduceConfig) withDefaults() (ProduceConfig, error) {
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.Producers == 0 {
		c.Producers = 1
	}
	switch {
	case c.Size < 0:
		return c, fmt.Errorf("%w: size %d is negative", ErrInvalidConfig, c.Size)
	case c.Count < 0 || c.Duration < 0:
		return c, fmt.Errorf("%w: negative count or duration", ErrInvalidConfig)
	case c.Count == 0 && c.Duration == 0:
		return c, fmt.Errorf("%w: a count or a duration is required", ErrInvalidConfig)
	case c.Producers < 0 || c.MaxInFlight < 0 || c.Rate < 0:
		return c, fmt.Errorf("%w: negative producers, max in flight or rate", ErrInvalidConfig)
	}
	return c, nil
}

// Produce sends messages to topic through target as cfg says and measures
// throughput and the latency from Send to acknowledgement. It blocks until
// every message sent is done; when ctx ends it stops sending and waits for
// those. It returns an error for an invalid cfg, if a producer cannot be
// created, or ctx's error if ctx ended before anything was measured;
// messages that fail are counted in Result.Errors.
func Produce(ctx context.Context, target Target, topic string, cfg ProduceConfig) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	prods := make([]Producer, cfg.Producers)
	for i := range prods {
		if prods[i], err = target.Producer(ctx, topic); err != nil {
			for _, p := range prods[:i] {
				p.Close()
			}
			return Result{}, fmt.Errorf("bench: producer: %w", err)
		}
	}
	rec := newRecorder("produce")
	rec.report(cfg.Progress, cfg.ProgressInterval)
	var deadline time.Time
	if cfg.Count == 0 {
		deadline = rec.start.Add(cfg.Duration)
	}
	var wg sync.WaitGroup
	for i, p := range prods {
		count := cfg.Count / int64(cfg.Producers)
		if int64(i) < cfg.Count%int64(cfg.Producers) {
			count++
		}
		w := &sendLoop{p: p, rec: rec, size: cfg.Size, count: count, deadline: deadline,
			rate: cfg.Rate / float64(cfg.Producers), window: cfg.MaxInFlight}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx)
			if err := p.Close(); err != nil {
				rec.fail(fmt.Errorf("close producer: %w", err))
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

// sendLoop is one producer's loop.
type sendLoop struct {
	p        Producer
	rec      *recorder
	size     int
	count    int64     // messages to send; 0: until deadline
	deadline time.Time // with count 0
	rate     float64   // messages per second; 0: no pacing
	window   int       // max unacknowledged; 0: no limit
	// onAck, if set, is called with each acknowledged message's send time
	// (EndToEnd uses it instead of recording produce latency).
	onAck func(sent time.Time)
}

// run sends until the count or deadline is reached or ctx ends. It
// returns once every message is handed to the producer (not acked).
func (w *sendLoop) run(ctx context.Context) {
	var slots chan struct{}
	if w.window > 0 {
		slots = make(chan struct{}, w.window)
	}
	pool := sync.Pool{New: func() any { b := make([]byte, w.size); return &b }}
	start := time.Now()
	var interval time.Duration
	if w.rate > 0 {
		interval = time.Duration(float64(time.Second) / w.rate)
	}
	for i := int64(0); w.count == 0 || i < w.count; i++ {
		if ctx.Err() != nil {
			return
		}
		if interval > 0 {
			// Message i is due at start + i*interval; behind schedule, send
			// at once (catch up).
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return
				}
			}
		}
		if slots != nil {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		now := time.Now()
		if w.count == 0 && !now.Before(w.deadline) {
			if slots != nil {
				<-slots
			}
			return
		}
		bp := pool.Get().(*[]byte)
		Stamp(*bp, now)
		w.p.Send(*bp, func(err error) {
			done := time.Now()
			if err != nil {
				w.rec.fail(err)
			} else if w.onAck != nil {
				w.onAck(now)
			} else {
				w.rec.message(w.size, done.Sub(now), done)
			}
			pool.Put(bp)
			if slots != nil {
				<-slots
			}
		})
	}
}
