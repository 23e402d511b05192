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
	// A --group flag will select a consumer group (committed offsets,
	// partitions shared with the group's other members) once the client
	// has groups: it gives a groupSource instead of a partitionSource in
	// newSource; the output loop stays as it is.
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

--format text prints each message's value on a line. --format json prints one
object per line: {"topic","partition","offset","key","value","timestamp"}; key
and value are strings when they are valid UTF-8, else base64 with
"key_base64"/"value_base64": true; a message without key has "key": null;
timestamp is RFC 3339 in UTC with milliseconds.`,
		Example: `  minibroker consume orders --from-beginning --max 10
  minibroker consume orders --partition 2 --offset 100 --format json
  minibroker consume orders --from-beginning --idle 2s > all.txt`,
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
			}
			return runConsume(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	brokersFlag(f, &o.brokers)
	f.Int32Var(&o.partition, "partition", -1, "read only this partition; -1: all")
	f.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the first stored message of each partition")
	f.Int64Var(&o.offset, "offset", -1, "start at this offset of each partition read (-1: at the end, or the beginning with --from-beginning)")
	f.Int64Var(&o.max, "max", 0, "stop after this many messages (0: no limit)")
	f.DurationVar(&o.idle, "idle", 0, "stop when no message arrived for this long, e.g. 5s (0: wait forever)")
	f.Var(o.format, "format", "output format: text or json")
	return cmd
}

// recordSource yields the records consume prints. A partitionSource reads
// partitions directly; a consumer group will be another source.
type recordSource interface {
	// next blocks until records arrive, ctx ends (its error is returned)
	// or the source fails.
	next(ctx context.Context) ([]client.Record, error)
	// close stops the source and waits for its goroutines.
	close()
}

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
	defer src.close()

	out := bufio.NewWriterSize(a.stdout, 64<<10)
	var printed int64
	for o.max == 0 || printed < o.max {
		nctx, cancel := ctx, context.CancelFunc(func() {})
		if o.idle > 0 {
			nctx, cancel = context.WithTimeout(ctx, o.idle)
		}
		recs, err := src.next(nctx)
		cancel()
		if ctx.Err() != nil || (o.idle > 0 && errors.Is(err, context.DeadlineExceeded)) {
			break // interrupted, or idle for --idle: a normal end
		}
		if err != nil {
			return explain(err, o.brokers, o.topic)
		}
		for i := range recs {
			if o.max > 0 && printed == o.max {
				break
			}
			if err := writeRecord(out, &recs[i], o.format.value); err != nil {
				return fmt.Errorf("writing output: %w", err)
			}
			printed++
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	if a.stderrIsTerminal != nil && a.stderrIsTerminal() {
		fmt.Fprintf(a.stderr, "received %d %s\n", printed, plural(int(printed), "message"))
	}
	return nil
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

// newSource returns the record source o asks for: today the partitions
// of the topic, read directly.
func newSource(ctx context.Context, a *app, cl *client.Client, o consumeOpts) (recordSource, error) {
	topics, err := cl.ListTopics(ctx)
	if err != nil {
		return nil, err
	}
	n := -1
	for _, t := range topics {
		if t.Name == o.topic {
			n = len(t.Partitions)
		}
	}
	if n < 0 {
		return nil, fmt.Errorf("topic %q: %w", o.topic, client.ErrUnknownTopic)
	}
	var parts []int32
	switch {
	case o.partition >= int32(n):
		return nil, &hintError{err: client.ErrUnknownPartition, msg: fmt.Sprintf(
			"topic %q has no partition %d: it has %d (0 to %d)", o.topic, o.partition, n, n-1)}
	case o.partition >= 0:
		parts = []int32{o.partition}
	default:
		for p := range int32(n) {
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
			t := time.NewTimer(retryPause)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
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

func (s *partitionSource) next(ctx context.Context) ([]client.Record, error) {
	select {
	case recs := <-s.recs:
		return recs, nil
	case err := <-s.errs:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *partitionSource) close() {
	s.cancel()
	s.wg.Wait()
}
