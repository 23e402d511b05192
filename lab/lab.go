package lab

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// Fault is a fault a caller can inject into a run (Run.Inject).
type Fault string

// The faults.
const (
	// FaultKillLeader kills the leader at once (no hand-over); in the
	// leader-alone scenarios the followers die first, then the leader.
	FaultKillLeader Fault = "kill-leader"
	// FaultCutLeader cuts the leader's Raft links: clients still reach it,
	// the followers do not, so they elect a new leader.
	FaultCutLeader Fault = "cut-leader"
	// FaultCrashConsumer crashes the consumer in its current batch.
	FaultCrashConsumer Fault = "crash-consumer"
)

// Errors of Start and Run.Inject.
var (
	ErrUnknownScenario = errors.New("lab: unknown scenario")
	ErrFaultNotHere    = errors.New("lab: this scenario takes another fault")
	ErrNotManual       = errors.New("lab: the run strikes on its own (Options.Manual is off)")
	ErrFaultDone       = errors.New("lab: the fault was injected already, or the run is over")
)

// Scenario is one delivery-semantics scenario.
type Scenario struct {
	Name    string
	Summary string // one line
	// Fault is the fault a caller may inject in a manual run ("" for
	// none: the scenario strikes on its own even then).
	Fault Fault
	run   func(ctx context.Context, r *Run) (Result, error)
}

// Scenarios returns the scenarios in the order `demo all` plays them.
// The slice is a copy.
func Scenarios() []Scenario { return append([]Scenario(nil), scenarios...) }

// Find returns the scenario called name.
func Find(name string) (Scenario, bool) {
	for _, s := range scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

var scenarios = []Scenario{
	{"acks0-leader-killed", "acks=0: the leader is killed mid-stream; what was written but never stored is lost",
		FaultKillLeader, leaderScenario(ackLevel0, faultKill)},
	{"acks1-leader-killed", "acks=1: the leader is killed right after acking a burst; acked messages are lost if the followers did not have them yet",
		FaultKillLeader, leaderScenario(ackLevel1, faultKill)},
	{"acksall-leader-killed", "acks=all: the leader is killed mid-stream; nothing acked is lost (retries may duplicate)",
		FaultKillLeader, leaderScenario(ackLevelAll, faultKill)},
	{"acks1-leader-alone", "acks=1: the followers die, the leader acks alone, then dies; the followers return without those messages: loss",
		FaultKillLeader, leaderScenario(ackLevel1, faultAlone)},
	{"acksall-leader-alone", "acks=all under the same fault: the lone leader acks nothing; after recovery the retries store everything",
		FaultKillLeader, leaderScenario(ackLevelAll, faultAlone)},
	{"acks0-leader-cut-off", "acks=0: the leader is cut off from its followers; what it takes in meanwhile is never committed",
		FaultCutLeader, leaderScenario(ackLevel0, faultCut)},
	{"acks1-leader-cut-off", "acks=1: the leader is cut off from its followers and acks alone until it steps down; the new leader never had those messages: loss",
		FaultCutLeader, leaderScenario(ackLevel1, faultCut)},
	{"acksall-leader-cut-off", "acks=all: the leader is cut off; it cannot commit, so it acks nothing alone; the retries reach the new leader",
		FaultCutLeader, leaderScenario(ackLevelAll, faultCut)},
	{"retry-duplicate", "one acknowledgement is lost on its way back; the retry stores the message twice, unless the producer is idempotent",
		"", runRetryDuplicate},
	{"kafka-producer-leader-killed", "a franz-go producer through the Kafka listeners; the leader dies with answers in flight: franz-go's retries store records twice without idempotence, once with it",
		"", runKafkaProducer},
	{"kafka-consumer-crash", "a franz-go consumer of a Kafka consumer group processes a batch, then crashes before committing it: the next member processes it again (at-least-once)",
		FaultCrashConsumer, runKafkaConsumerCrash},
	{"commit-before-processing", "a consumer commits a batch, then crashes while processing it: the rest of the batch is never processed (at-most-once)",
		FaultCrashConsumer, groupScenario(commitBefore)},
	{"commit-after-processing", "a consumer processes a batch, then crashes before committing it: the next owner processes it again (at-least-once)",
		FaultCrashConsumer, groupScenario(commitAfter)},
	{"idempotent-processing", "as commit-after-processing, but processing is keyed by message id: every message takes effect once (effectively-once)",
		FaultCrashConsumer, groupScenario(idempotentApply)},
}

func leaderScenario(level ackLevel, how faultHow) func(context.Context, *Run) (Result, error) {
	return func(ctx context.Context, r *Run) (Result, error) { return runLeaderFault(ctx, r, level, how) }
}

func groupScenario(mode groupMode) func(context.Context, *Run) (Result, error) {
	return func(ctx context.Context, r *Run) (Result, error) { return runGroup(ctx, r, mode) }
}

// Sizes are how much a scenario does.
type Sizes struct {
	Messages int           // leader scenarios: messages produced
	Burst    int           // leader scenarios: messages per burst
	Pace     time.Duration // leader scenarios: one burst every Pace
	Retry    int           // retry-duplicate: messages per half
	Group    int           // consumer scenarios: messages in the topic
	Batch    int           // consumer scenarios: records per Poll (MaxPollRecords)
	// ProcessDelay is how long a consumer takes to process one batch
	// (0: no time), so that a learner can crash it mid-stream.
	ProcessDelay time.Duration
}

// DefaultSizes are the CLI demo's: each scenario takes a few seconds.
var DefaultSizes = Sizes{Messages: 2000, Burst: 4, Pace: 2 * time.Millisecond, Retry: 200, Group: 500, Batch: 50}

// ManualSizes leave a learner time to press a button: the stream lasts
// about ten seconds, a consumer takes a tenth of a second per batch.
var ManualSizes = Sizes{Messages: 2000, Burst: 4, Pace: 20 * time.Millisecond, Retry: 50, Group: 500, Batch: 10,
	ProcessDelay: 100 * time.Millisecond}

// Options configure a run. The zero value plays the scenario at
// DefaultSizes with seed 0, striking on its own.
type Options struct {
	Seed  uint64
	Sizes Sizes // zero: DefaultSizes (ManualSizes with Manual)
	// Manual: the run waits for Run.Inject to strike (if the caller never
	// injects, the run ends without the fault), instead of striking at a
	// moment the seed picks.
	Manual bool
	// Dir is where the run's cluster gets its temporary directory
	// (removed at the end). Default "": the system's temporary directory.
	Dir string
	// OnEvent, if set, is called with each event as it happens, one call
	// at a time, in order. It must return quickly and must not call the
	// Run's methods.
	OnEvent func(Event)
}

// Seed derives a scenario's random source from the run's seed and the
// scenario's name, so that `demo NAME --seed N` repeats exactly the
// choices NAME made in `demo all --seed N`.
func Seed(seed uint64, name string) *rand.Rand {
	h := fnv.New64a()
	io.WriteString(h, name)
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// Run is one scenario being played. Its methods are safe for concurrent
// use.
type Run struct {
	Scenario Scenario

	tl     *timeline
	rng    *rand.Rand // used by the scenario's goroutine only
	sizes  Sizes
	manual bool
	dir    string     // Options.Dir
	faults chan Fault // manual runs: the caller's fault, buffered 1
	cancel context.CancelFunc
	done   chan struct{} // closed when res and err are set

	mu       sync.Mutex // guards injected
	injected bool

	res Result // set before done closes
	err error
}

// Start starts playing scenario name in a goroutine and returns at once.
// Errors: ErrUnknownScenario. Cancel ctx, or call Stop, to abandon it.
func Start(ctx context.Context, name string, opts Options) (*Run, error) {
	s, ok := Find(name)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownScenario, name)
	}
	r := newRun(s, opts)
	ctx, r.cancel = context.WithCancel(ctx)
	go func() {
		defer close(r.done)
		defer r.cancel()
		r.res, r.err = r.play(ctx)
	}()
	return r, nil
}

// Play plays scenario s to its end and returns its result. It blocks.
// Errors: a cluster that does not start, ctx's error, a scenario step
// that fails, each wrapped with the scenario's name.
func Play(ctx context.Context, s Scenario, opts Options) (Result, error) {
	r := newRun(s, opts)
	return r.play(ctx)
}

func newRun(s Scenario, opts Options) *Run {
	if opts.Sizes == (Sizes{}) {
		opts.Sizes = DefaultSizes
		if opts.Manual {
			opts.Sizes = ManualSizes
		}
	}
	return &Run{Scenario: s, tl: newTimeline(opts.OnEvent), rng: Seed(opts.Seed, s.Name), sizes: opts.Sizes,
		manual: opts.Manual, dir: opts.Dir, faults: make(chan Fault, 1), cancel: func() {}, done: make(chan struct{})}
}

func (r *Run) play(ctx context.Context) (Result, error) {
	res, err := r.Scenario.run(ctx, r)
	if err != nil {
		err = fmt.Errorf("lab %s: %w", r.Scenario.Name, err)
		r.tl.sayKind(KindCheck, "the run failed: %v", err)
		return Result{}, err
	}
	res.Scenario = r.Scenario.Name
	return res, nil
}

// Inject strikes now with fault f in a manual run. It does not block
// (the scenario acts on it within milliseconds). Errors: ErrNotManual,
// ErrFaultNotHere (the scenario takes another fault: see Scenario.Fault),
// ErrFaultDone (injected already, or the run is over).
func (r *Run) Inject(f Fault) error {
	switch {
	case !r.manual:
		return ErrNotManual
	case f != r.Scenario.Fault:
		return fmt.Errorf("%w: %s takes %q, not %q", ErrFaultNotHere, r.Scenario.Name, r.Scenario.Fault, f)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.done:
		return ErrFaultDone
	default:
	}
	if r.injected {
		return ErrFaultDone
	}
	r.injected = true
	r.faults <- f
	return nil
}

// Events returns up to max (<= 0: all) of the run's events after cursor
// (0: from the first), oldest first, and the cursor for the next call. It
// never blocks. The run keeps its last 4096 events; older ones are
// skipped.
func (r *Run) Events(cursor int64, max int) ([]Event, int64) { return r.tl.events(cursor, max) }

// Done is closed when the run has ended.
func (r *Run) Done() <-chan struct{} { return r.done }

// Stop abandons the run (its cluster is closed) and blocks until it has
// ended. Idempotent.
func (r *Run) Stop() {
	r.cancel()
	<-r.done
}

// Wait blocks until the run ends or ctx does, and returns its result.
// Errors: the run's (see Play), or ctx's.
func (r *Run) Wait(ctx context.Context) (Result, error) {
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Outcome returns the result, ended true and the run's error once the
// run has ended; ended false before. It does not block.
func (r *Run) Outcome() (res Result, ended bool, err error) {
	select {
	case <-r.done:
		return r.res, true, r.err
	default:
		return Result{}, false, nil
	}
}

// Started is when the run began.
func (r *Run) Started() time.Time { return r.tl.start }
