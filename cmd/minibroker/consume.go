package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/minibroker/minibroker/client"
)

type consumeOpts struct {
	brokers       []string
	topic         string
	partition     int32 // -1: all
	fromBeginning bool
	offset        int64 // -1: not given
	max           int64 // 0: no limit
	idle          time.Duration
	format        *enumValue
	// group, if set, reads as a member of this consumer group (see
	// groupSource); partition and offset are then not given.
	group          string
	sessionTimeout time.Duration // of the group membership; 0: the client's default
}

func newConsumeCmd(a *app) *cobra.Command {
	o := consumeOpts{format: newEnum("text", "text", "json")}
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print the messages of a topic",
		Long: `Print the messages of TOPIC as they arrive, from all its partitions (or one,
with --partition), until interrupted, --max messages have been printed, or
nothing arrived for --idle.

It starts at the end of each partition (only new messages) unless
--from-beginning or --offset says otherwise. Messages of one partition are
printed in offset order; partitions are interleaved as they arrive.

With --group G it is a member of consumer group G: the group's partitions of
TOPIC are shared among its members, and it resumes where the group stopped.
It commits the offsets of exactly the messages it printed, after each printed
batch has been written out (at-least-once: a crash between writing and
committing prints those messages again, nothing is skipped). A group with no
committed offset for a partition starts at its end, or at its beginning with
--from-beginning (as Kafka's console consumer). --idle counts from the moment
the group has assigned the partitions. On exit it leaves the group.

--format text prints each message's value on a line. --format json prints one
object per line: {"topic","partition","offset","key","value","timestamp"}; key
and value are strings when they are valid UTF-8, else base64 with
"key_base64"/"value_base64": true; a message without key has "key": null;
timestamp is RFC 3339 in UTC with milliseconds.`,
		Example: `  minibroker consume orders --from-beginning --max 10
  minibroker consume orders --partition 2 --offset 100 --format json
  minibroker consume orders --from-beginning --idle 2s > all.txt
  minibroker consume orders --group billing --from-beginning`,
		Args: exactArgs("TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.topic = args[0]
			switch {
			case o.fromBeginning && cmd.Flags().Changed("offset"):
				return usageErrorf("consume: --from-beginning and --offset exclude each other")
			case o.offset < -1 || (o.offset == -1 && cmd.Flags().Changed("offset")):
				return usageErrorf("consume: --offset %d: must be 0 or more", o.offset)
			case o.partition < -1:
				return usageErrorf("consume: --partition %d: must be a partition number (or -1: all)", o.partition)
			case o.max < 0:
				return usageErrorf("consume: --max %d: must be 0 (no limit) or more", o.max)
			case o.idle < 0:
				return usageErrorf("consume: --idle %v: must not be negative", o.idle)
			case o.group != "" && (cmd.Flags().Changed("partition") || cmd.Flags().Changed("offset")):
				return usageErrorf("consume: --group excludes --partition and --offset: the group assigns the partitions and keeps the offsets (see 'minibroker group reset')")
			case cmd.Flags().Changed("group") && o.group == "":
				return usageErrorf("consume: --group: empty group name")
			case cmd.Flags().Changed("session-timeout") && o.group == "":
				return usageErrorf("consume: --session-timeout needs --group")
			case cmd.Flags().Changed("session-timeout") && (o.sessionTimeout < minSessionTimeout || o.sessionTimeout > maxSessionTimeout):
				return usageErrorf("consume: --session-timeout %v: must be between %v and %v", o.sessionTimeout, minSessionTimeout, maxSessionTimeout)
			}
			return runConsume(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	brokersFlag(f, &o.brokers)
	a.loginFlags(f, "password-file")
	f.Int32Var(&o.partition, "partition", -1, "read only this partition; -1: all")
	f.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the first stored message of each partition (with --group: of each one the group has no committed offset in)")
	f.Int64Var(&o.offset, "offset", -1, "start at this offset of each partition read (-1: at the end, or the beginning with --from-beginning)")
	f.Int64Var(&o.max, "max", 0, "stop after this many messages (0: no limit)")
	f.DurationVar(&o.idle, "idle", 0, "stop when no message arrived for this long, e.g. 5s (0: wait forever)")
	f.Var(o.format, "format", "output format: text or json")
	f.StringVar(&o.group, "group", "", "read as a member of this consumer group, committing what is printed")
	f.DurationVar(&o.sessionTimeout, "session-timeout", client.DefaultSessionTimeout, "with --group: the group gives this member's partitions to others when it is silent (crashed) for this long")
	return cmd
}

// recordSource yields the records consume prints: a partitionSource
// reads partitions directly, a groupSource as a member of a group.
type recordSource interface {
	// next blocks until records arrive, ctx ends (its error is returned),
	// nothing arrived for idle (if not 0; errIdle is returned) or the
	// source fails.
	next(ctx context.Context, idle time.Duration) ([]client.Record, error)
	// printed says that recs[:n], of the batch next returned last, have
	// been printed and written out. An error is worth a warning: the
	// source may still go on.
	printed(recs []client.Record, n int) error
	// close stops the source and waits for its goroutines. Its error
	// means something printed was not committed.
	close() error
}

// errIdle is returned by recordSource.next when nothing arrived for --idle.
var errIdle = errors.New("idle")

// runConsume prints records until --max, --idle, ctx's end or an error.
func runConsume(ctx context.Context, a *app, o consumeOpts) error {
	cl, err := a.connect(o.brokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	src, err := newSource(ctx, a, cl, o)
	if err != nil {
		return explain(err, o.brokers, o.topic)
	}
	printed, err := printRecords(ctx, a, src, o)
	if cerr := src.close(); err == nil && cerr != nil {
		err = explain(cerr, o.brokers, o.topic)
	}
	if a.stderrIsTerminal != nil && a.stderrIsTerminal() {
		fmt.Fprintf(a.stderr, "received %d %s\n", printed, plural(int(printed), "message"))
	}
	return err
}

// printRecords writes what src yields to stdout until --max, --idle,
// ctx's end or an error, and returns how many records it printed.
func printRecords(ctx context.Context, a *app, src recordSource, o consumeOpts) (int64, error) {
	out := bufio.NewWriterSize(a.stdout, 64<<10)
	var printed int64
	for o.max == 0 || printed < o.max {
		recs, err := src.next(ctx, o.idle)
		switch {
		case err == nil: // records that arrived are printed, even if interrupted meanwhile
		case ctx.Err() != nil || errors.Is(err, errIdle):
			return printed, nil // interrupted, or idle for --idle: a normal end
		default:
			return printed, explain(err, o.brokers, o.topic)
		}
		n := len(recs)
		if o.max > 0 {
			n = int(min(int64(n), o.max-printed))
		}
		for i := range recs[:n] {
			if err := writeRecord(out, &recs[i], o.format.value); err != nil {
				return printed, fmt.Errorf("writing output: %w", err)
			}
		}
		if err := out.Flush(); err != nil {
			return printed, fmt.Errorf("writing output: %w", err)
		}
		printed += int64(n)
		if err := src.printed(recs, n); err != nil {
			fmt.Fprintf(a.stderr, "minibroker: %s\n", oneLine(explain(err, o.brokers, o.topic).Error()))
		}
	}
	return printed, nil
}

// writeRecord writes r in format (text or json) and a newline.
func writeRecord(w *bufio.Writer, r *client.Record, format string) error {
	if format == "json" {
		b, err := json.Marshal(newJSONRecord(r))
		if err != nil {
			return err
		}
		w.Write(b)
	} else {
		w.Write(r.Value)
	}
	return w.WriteByte('\n')
}

// newSource returns the record source o asks for: a member of o.group,
// else the partitions of the topic, read directly.
func newSource(ctx context.Context, a *app, cl *client.Client, o consumeOpts) (recordSource, error) {
	topics, err := cl.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	n, err := partitionCount(ctx, cl, topics, o.topic)
	if err != nil {
		return nil, err
	}
	if o.group != "" {
		return newGroupSource(cl, a.stderr, o)
	}
	var parts []int32
	switch {
	case o.partition >= n:
		return nil, noPartition(o.topic, o.partition, n)
	case o.partition >= 0:
		parts = []int32{o.partition}
	default:
		for p := range n {
			parts = append(parts, p)
		}
	}
	start := client.StartLatest
	switch {
	case o.fromBeginning:
		start = client.StartEarliest
	case o.offset >= 0:
		start = o.offset
	}
	return newPartitionSource(cl, a.stderr, o.topic, parts, start), nil
}

// partitionSource reads partitions with one client.Reader each, on a
// goroutine each, and merges what they read.
type partitionSource struct {
	recs   chan []client.Record // batches read, in each partition's order
	errs   chan error           // the first reader error that ends the source
	cancel context.CancelFunc   // stops the readers
	wg     sync.WaitGroup       // the readers
}

// retryPause is how long a partition reader waits after a retriable error
// that outlasted the client's own retries (the cluster is down or
// electing) before it tries again.
const retryPause = time.Second

func newPartitionSource(cl *client.Client, warn io.Writer, topic string, parts []int32, start int64) *partitionSource {
	ctx, cancel := context.WithCancel(context.Background())
	s := &partitionSource{recs: make(chan []client.Record, len(parts)), errs: make(chan error, len(parts)), cancel: cancel}
	for _, p := range parts {
		r := cl.Reader(client.ReaderConfig{Topic: topic, Partition: p, Offset: start})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.read(ctx, r, p, warn)
		}()
	}
	return s
}

// read fetches from r until ctx ends or a non-retriable error.
func (s *partitionSource) read(ctx context.Context, r *client.Reader, part int32, warn io.Writer) {
	warned := false
	for {
		recs, err := r.Fetch(ctx)
		if ctx.Err() != nil {
			return
		}
		var oor *client.OffsetOutOfRangeError
		switch {
		case err == nil:
			warned = false
		case errors.As(err, &oor) && oor.Offset < oor.StartOffset:
			// Retention deleted what we were about to read: go on with
			// the oldest record still stored, and say so.
			fmt.Fprintf(warn, "minibroker: partition %d: offsets %d to %d were deleted by retention; skipping to %d\n",
				part, oor.Offset, oor.StartOffset-1, oor.StartOffset)
			_ = r.SetOffset(oor.StartOffset)
			continue
		case errors.As(err, &oor):
			s.errs <- &hintError{err: err, msg: fmt.Sprintf(
				"partition %d has no offset %d yet: its high-water mark is %d (next offset to be written)", part, oor.Offset, oor.HighWatermark)}
			return
		case client.IsRetriable(err):
			if !warned {
				fmt.Fprintf(warn, "minibroker: partition %d: %v; retrying\n", part, oneLine(err.Error()))
				warned = true
			}
			if !pause(ctx, retryPause) {
				return
			}
			continue
		default:
			s.errs <- err
			return
		}
		if len(recs) == 0 {
			continue
		}
		select {
		case s.recs <- recs:
		case <-ctx.Done():
			return
		}
	}
}

// pause waits for d, or returns false when ctx ends first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *partitionSource) next(ctx context.Context, idle time.Duration) ([]client.Record, error) {
	var timeout <-chan time.Time
	if idle > 0 {
		t := time.NewTimer(idle)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case recs := <-s.recs:
		return recs, nil
	case err := <-s.errs:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-timeout:
		return nil, errIdle
	}
}

// printed does nothing: reading partitions directly commits nothing.
func (s *partitionSource) printed([]client.Record, int) error { return nil }

func (s *partitionSource) close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}
