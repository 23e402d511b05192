package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/minibroker/minibroker/client"
)

// maxLineBytes is the longest stdin line produce accepts: the broker's
// default record limit (key, value and headers together).
const maxLineBytes = 1 << 20

// produceRetries is how often the producer resends a batch after a
// retriable error. With the client's backoff (up to 1s) that is a few
// minutes of trying: enough to ride out leader elections.
const produceRetries = 200

// progressInterval is how often progress is redrawn on a terminal.
const progressInterval = 250 * time.Millisecond

// maxReportedErrors is how many failed lines are described one by one.
const maxReportedErrors = 5

type produceOpts struct {
	brokers   []string
	topic     string
	acks      *enumValue
	key       string
	keySet    bool
	keySep    string
	partition int32
}

func newProduceCmd(a *app) *cobra.Command {
	o := produceOpts{acks: newAcksEnum()}
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Send each line of stdin as a message",
		Long: `Send each line of standard input as one message to TOPIC, until end of input.
The line's newline (and a carriage return before it) is not part of the
message; an empty line is an empty message. Lines may be up to 1 MiB long.

--acks says what counts as delivered: all (the default: a majority of the
cluster has the message; the producer is idempotent, so its retries through
leader changes store nothing twice), 1 (the leader's disk has it), 0 (sent,
no answer awaited). Failed sends are retried through leader changes.

At the end it prints 'sent N, acked N, failed N' on stderr (with --acks 0:
'sent N') and exits 1 if any message was not acknowledged. On a terminal it
shows progress on stderr while it runs.`,
		Example: `  seq 1000 | minibroker produce numbers
  printf 'user1:hello\nuser2:bye\n' | minibroker produce chat --key-sep :
  minibroker produce orders --acks 1 < orders.txt`,
		Args: exactArgs("TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.topic = args[0]
			o.keySet = cmd.Flags().Changed("key")
			if o.keySet && o.keySep != "" {
				return usageErrorf("produce: --key and --key-sep exclude each other")
			}
			if cmd.Flags().Changed("key-sep") && o.keySep == "" {
				return usageErrorf("produce: --key-sep must not be empty")
			}
			if o.partition < -1 {
				return usageErrorf("produce: --partition %d: must be a partition number (or -1: by key)", o.partition)
			}
			return runProduce(cmd.Context(), a, o)
		},
	}
	f := cmd.Flags()
	brokersFlag(f, &o.brokers)
	a.loginFlags(f, "password-file")
	f.Var(o.acks, "acks", "acknowledgement to wait for: 0 (none), 1 (leader) or all (quorum; also: none, leader, -1)")
	f.StringVar(&o.key, "key", "", "key of every message")
	f.StringVar(&o.keySep, "key-sep", "", "split each line at the first SEP into key and value")
	f.Int32Var(&o.partition, "partition", -1, "send every message to this partition; -1: choose by key hash, spread messages without key")
	return cmd
}

// produceStats counts outcomes. It is updated by the producer's callback
// goroutine and read by the command's goroutines.
type produceStats struct {
	sent, acked, failed atomic.Int64

	mu   sync.Mutex // guards errs
	errs []string   // the first maxReportedErrors failures, described
}

// fail counts a failed line and remembers why.
func (s *produceStats) fail(line int64, err error, brokers []string, topic string) {
	s.failed.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) < maxReportedErrors {
		s.errs = append(s.errs, fmt.Sprintf("line %d: %s", line, oneLine(explain(err, brokers, topic).Error())))
	}
}

func (s *produceStats) summary(acks client.Acks) string {
	if acks == client.AcksNone {
		msg := fmt.Sprintf("sent %d", s.acked.Load())
		if f := s.failed.Load(); f > 0 {
			msg += fmt.Sprintf(", failed %d", f)
		}
		return msg
	}
	return fmt.Sprintf("sent %d, acked %d, failed %d", s.sent.Load(), s.acked.Load(), s.failed.Load())
}

// runProduce sends stdin's lines until EOF or ctx ends, then waits for
// every outcome and reports.
func runProduce(ctx context.Context, a *app, o produceOpts) error {
	cl, err := a.connect(o.brokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := checkPartition(ctx, cl, o.topic, o.partition); err != nil {
		return explain(err, o.brokers, o.topic)
	}
	acks := parseAcks(o.acks.value)
	pc := client.ProducerConfig{Acks: acks, Retries: produceRetries}
	if o.partition >= 0 {
		pc.Partitioner = client.ManualPartitioner{}
	}
	p := cl.Producer(pc)

	var st produceStats
	stopProgress := func() {}
	if a.stderrIsTerminal != nil && a.stderrIsTerminal() {
		stopProgress = showProgress(a.stderr, &st, acks)
	}
	lines := readLines(a.stdin, ctx.Done())
	var readErr error
	var n int64
loop:
	for {
		var l lineOrErr
		var ok bool
		select {
		case l, ok = <-lines:
		case <-ctx.Done():
			break loop
		}
		if !ok {
			break
		}
		if l.err != nil {
			readErr = l.err
			break
		}
		n++
		lineNo := n
		if l.tooLong {
			st.fail(lineNo, fmt.Errorf("line longer than %d bytes: %w", maxLineBytes, client.ErrMessageTooLarge), o.brokers, o.topic)
			continue
		}
		msg := client.Message{Topic: o.topic, Partition: o.partition, Value: l.line}
		if o.keySet {
			msg.Key = []byte(o.key)
		} else if o.keySep != "" {
			k, v, found := bytes.Cut(l.line, []byte(o.keySep))
			if !found {
				st.fail(lineNo, fmt.Errorf("no key separator %q in the line", o.keySep), o.brokers, o.topic)
				continue
			}
			msg.Key, msg.Value = k, v
		}
		st.sent.Add(1)
		p.ProduceAsync(msg, func(_ client.Result, err error) {
			if err != nil {
				st.fail(lineNo, err, o.brokers, o.topic)
				return
			}
			st.acked.Add(1)
		})
	}
	p.Close() // delivers what is buffered; waits for every callback
	stopProgress()
	fmt.Fprintln(a.stderr, st.summary(acks))

	st.mu.Lock()
	errs := st.errs
	st.mu.Unlock()
	for _, e := range errs {
		fmt.Fprintf(a.stderr, "minibroker: %s\n", e)
	}
	switch {
	case readErr != nil:
		return fmt.Errorf("reading stdin: %w", readErr)
	case st.failed.Load() > 0:
		return fmt.Errorf("%d of %d %s not delivered (see above)", st.failed.Load(), n, plural(int(n), "message"))
	}
	return nil
}

// newAcksEnum is the value of an --acks flag: 0, 1 or all (default),
// also none, leader or -1; parseAcks maps it to client.Acks.
func newAcksEnum() *enumValue {
	e := newEnum("all", "0", "1", "all", "none", "leader", "-1")
	e.typ = "0|1|all"
	return e
}

// parseAcks maps the --acks words to client.Acks.
func parseAcks(s string) client.Acks {
	switch s {
	case "0", "none":
		return client.AcksNone
	case "1", "leader":
		return client.AcksLeader
	}
	return client.AcksAll
}

// checkPartition fails fast, before reading stdin, if topic does not
// exist or has no partition part (-1: any).
func checkPartition(ctx context.Context, cl *client.Client, topic string, part int32) error {
	topics, err := cl.ListTopics(ctx)
	if err != nil {
		return err
	}
	n, err := partitionCount(ctx, cl, topics, topic)
	if err == nil && part >= n {
		err = noPartition(topic, part, n)
	}
	return err
}

// showProgress redraws the counts on one terminal line until the
// returned function is called; that function clears the line.
func showProgress(w io.Writer, st *produceStats, acks client.Acks) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\033[K%s", st.summary(acks))
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// lineOrErr is one line read from stdin, or the read error that ended
// the input.
type lineOrErr struct {
	line    []byte
	tooLong bool // the line exceeded maxLineBytes; line is nil
	err     error
}

// readLines reads r line by line on a goroutine of its own, so that the
// command can stop waiting for input when it is interrupted. The channel
// is closed at EOF, after a read error (sent as the last item), or when
// done is closed (then the goroutine ends with its next line).
func readLines(r io.Reader, done <-chan struct{}) <-chan lineOrErr {
	ch := make(chan lineOrErr, 64)
	go func() {
		defer close(ch)
		br := bufio.NewReaderSize(r, 64<<10)
		for {
			line, tooLong, err := readLine(br, maxLineBytes)
			if errors.Is(err, io.EOF) {
				return
			}
			item := lineOrErr{line: line, tooLong: tooLong, err: err}
			select {
			case ch <- item:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// readLine returns the next line of br without its "\n" or "\r\n", in a
// new slice. A line longer than max is skipped up to its end and
// reported as tooLong, without buffering it. A last line without a
// newline counts; io.EOF means there is no further line.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	read := 0
	for {
		frag, err := br.ReadSlice('\n')
		read += len(frag)
		if !tooLong {
			if len(line)+len(frag) > max+2 { // room for "\r\n"
				tooLong, line = true, nil
			} else {
				line = append(line, frag...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, false, err
		}
		if errors.Is(err, io.EOF) && read == 0 {
			return nil, false, io.EOF
		}
		break
	}
	if tooLong {
		return nil, true, nil
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) > max {
		return nil, true, nil
	}
	if line == nil {
		line = []byte{}
	}
	return line, false, nil
}
