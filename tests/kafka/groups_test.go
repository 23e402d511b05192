package kafka

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// groupTests are the consumer-group tests TestClients runs against the
// three-node cluster: each uses its own topic and group. The leader
// failover test comes last (it kills and restarts a node).
var groupTests = []struct {
	name string
	fn   func(t *testing.T, c *cluster)
}{
	{"franz-go/range", func(t *testing.T, c *cluster) { testGroupFranz(t, c, "range") }},
	{"franz-go/cooperative-sticky", func(t *testing.T, c *cluster) { testGroupFranz(t, c, "cooperative-sticky") }},
	{"sarama", testGroupSarama},
	{"kafka-go", testGroupKafkaGo},
	{"kafkajs", testGroupKafkajs},
	{"kcat", testGroupKcat},
	{"franz-go/sigkill", testGroupFranzKill},
	{"kafkajs/sigkill", testGroupKafkajsKill},
	{"kcat/sigkill", testGroupKcatKill},
	{"franz-go/paused", testGroupFranzPaused},
	{"franz-go/members-1-3-2", func(t *testing.T, c *cluster) { testGroupFranzMembers(t, c, "range") }},
	{"franz-go/members-1-3-2-cooperative", func(t *testing.T, c *cluster) { testGroupFranzMembers(t, c, "cooperative-sticky") }},
	{"sarama/members-1-3-2", testGroupSaramaMembers},
	{"franz-go/leader-failover", testGroupFranzFailover},
}

// Sizes of the group tests' topics: small, so the module stays quick.
const (
	groupParts   = 3  // partitions of every group test topic
	groupPerPart = 40 // records produced to each
)

// groupTopic creates topic with parts partitions, produces perPart records
// to each (franz-go, acks=all) and returns the end offsets.
func groupTopic(t *testing.T, c *cluster, adm *kadm.Client, topic string, parts int32, perPart int) map[int32]int64 {
	t.Helper()
	createTopic(t, c, adm, topic, parts)
	return produceMore(t, c, topic, parts, 0, perPart)
}

// produceMore produces n more records to each of parts partitions of
// topic, which hold from records each, and returns the new end offsets.
func produceMore(t *testing.T, c *cluster, topic string, parts int32, from, n int) map[int32]int64 {
	t.Helper()
	end := make(map[int32]int64)
	base := time.Now().Truncate(time.Millisecond)
	for p := range parts {
		recs := makeRecords(fmt.Sprintf("%s-%d-%d", topic, p, from), p, n, base)
		for i := range recs {
			recs[i].Offset += int64(from)
		}
		franzProduce(t, c, topic, combo{acks: -1, codec: "none", idem: true}, recs)
		end[p] = int64(from + n)
	}
	return end
}

// ledger counts how many times each record (partition, offset) was
// processed. It is safe for concurrent use.
type ledger struct {
	mu sync.Mutex // guards n
	n  map[int32]map[int64]int
}

func newLedger() *ledger { return &ledger{n: make(map[int32]map[int64]int)} }

// add notes that the record at p@off was processed.
func (l *ledger) add(p int32, off int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[p] == nil {
		l.n[p] = make(map[int64]int)
	}
	l.n[p][off]++
}

// line parses a consumer's "rec <partition> <offset>" line into the
// ledger; other lines are ignored. It reports whether it was a record.
func (l *ledger) line(s string) bool {
	var p int32
	var off int64
	if _, err := fmt.Sscanf(s, "rec %d %d", &p, &off); err != nil {
		return false
	}
	l.add(p, off)
	return true
}

// total is the number of records processed, duplicates included.
func (l *ledger) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, offs := range l.n {
		for _, k := range offs {
			n += k
		}
	}
	return n
}

// missing returns the records below end that were never processed, as
// "p@off" (at most 10).
func (l *ledger) missing(end map[int32]int64) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for p, e := range end {
		for off := range e {
			if l.n[p][off] == 0 && len(out) < 10 {
				out = append(out, fmt.Sprintf("p%d@%d", p, off))
			}
		}
	}
	sort.Strings(out)
	return out
}

// dups returns how many times records were processed more than once.
func (l *ledger) dups() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, offs := range l.n {
		for _, k := range offs {
			n += k - 1
		}
	}
	return n
}

// offsets returns a copy of the processed offsets of partition p.
func (l *ledger) offsets(p int32) map[int64]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int64]int)
	for off, k := range l.n[p] {
		out[off] = k
	}
	return out
}

// waitProcessed waits until every record below end was processed at least
// once, and fails the test otherwise.
func waitProcessed(t *testing.T, what string, l *ledger, end map[int32]int64) {
	t.Helper()
	eventually(t, what+": every record processed", func() error {
		if m := l.missing(end); len(m) > 0 {
			return fmt.Errorf("%d processed, not yet: %v", l.total(), m)
		}
		return nil
	})
}

// waitUnion waits until every record below end was processed by one of
// two runs (a consumer killed, and the one that resumed).
func waitUnion(t *testing.T, what string, end map[int32]int64, run1, run2 *ledger) {
	t.Helper()
	eventually(t, what+": every record processed by one run or the other", func() error {
		var missing []string
		for p, e := range end {
			o1, o2 := run1.offsets(p), run2.offsets(p)
			for off := range e {
				if o1[off] == 0 && o2[off] == 0 && len(missing) < 10 {
					missing = append(missing, fmt.Sprintf("p%d@%d", p, off))
				}
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("not yet: %v", missing)
		}
		return nil
	})
}

// committed returns the group's committed offsets of topic (-1: none).
func committed(t *testing.T, adm *kadm.Client, group, topic string, parts int32) (map[int32]int64, error) {
	t.Helper()
	res, err := adm.FetchOffsets(ctxFor(t), group)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64)
	for p := range parts {
		out[p] = -1
		if o, ok := res.Lookup(topic, p); ok {
			if o.Err != nil {
				return nil, fmt.Errorf("p%d: %w", p, o.Err)
			}
			out[p] = o.At
		}
	}
	return out, nil
}

// waitCommitted waits until the group's committed offsets are end.
func waitCommitted(t *testing.T, adm *kadm.Client, group, topic string, end map[int32]int64) {
	t.Helper()
	eventually(t, "group "+group+" committed the end offsets", func() error {
		got, err := committed(t, adm, group, topic, int32(len(end)))
		if err != nil {
			return err
		}
		for p, e := range end {
			if got[p] != e {
				return fmt.Errorf("committed %v, want %v", got, end)
			}
		}
		return nil
	})
}

// syncBuf is a bytes.Buffer safe for concurrent use.
type syncBuf struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a consumer running as a process (kcat, node, or this test binary
// run again): each stdout line goes to onLine, from a reader goroutine.
// It is killed when the test ends; if the test failed, its stderr is
// logged, and a data race reported there (a Go child under -race) fails
// the test. Its methods are called from the test's goroutine.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr syncBuf
	done   chan struct{} // closed when the process exited and its stdout is drained
}

// startProc starts cmd (in its own process group, killed if the test
// binary dies) and fails the test if it cannot.
func startProc(t *testing.T, name string, cmd *exec.Cmd, onLine func(string)) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: cmd, done: make(chan struct{})}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = &p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			onLine(sc.Text())
		}
		io.Copy(io.Discard, stdout)
		cmd.Wait()
	}()
	t.Cleanup(func() {
		p.kill()
		errs := p.stderr.String()
		if i := strings.Index(errs, "WARNING: DATA RACE"); i >= 0 {
			t.Errorf("%s: data race in the child process:\n%s", name, tail(errs[i:], 60))
		} else if t.Failed() {
			t.Logf("%s stderr:\n%s", name, tail(errs, 30))
		}
	})
	return p
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: signal %v: %v", p.name, sig, err)
	}
}

// kill SIGKILLs the process (if it still runs) and waits until it exited
// and its output is read.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop asks the process to end (SIGTERM: the clients leave their group),
// and SIGKILLs it if it has not within waitTimeout.
func (p *proc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(waitTimeout):
		p.t.Errorf("%s did not end within %v of SIGTERM", p.name, waitTimeout)
		p.kill()
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// killCheck checks a consumer that was SIGKILLed and a second one that
// resumed in the same group: nothing below end was lost; the second run
// started each partition at the offset committed when the first died;
// every record processed twice lies at or after that offset; and the
// duplicates are exactly the first run's records after its last commit.
// It logs the counts.
func killCheck(t *testing.T, what string, run1, run2 *ledger, at map[int32]int64, end map[int32]int64) {
	t.Helper()
	all := newLedger()
	dups, uncommitted, n1, n2 := 0, 0, 0, 0
	for p, e := range end {
		o1, o2 := run1.offsets(p), run2.offsets(p)
		start := max(at[p], 0) // -1: nothing committed, the group starts at 0
		for off, k := range o1 {
			n1 += k
			for range k {
				all.add(p, off)
			}
			if off >= start {
				uncommitted++
			}
		}
		first := e
		for off, k := range o2 {
			n2 += k
			for range k {
				all.add(p, off)
			}
			first = min(first, off)
			if o1[off] > 0 {
				dups++
				if off < start {
					t.Errorf("%s: p%d@%d processed again, below the offset %d committed before the kill", what, p, off, start)
				}
			}
		}
		if start < e && first != start {
			t.Errorf("%s: p%d resumed at %d, want the committed offset %d", what, p, first, start)
		}
	}
	if m := all.missing(end); len(m) > 0 {
		t.Errorf("%s: records never processed: %v", what, m)
	}
	if dups > uncommitted {
		t.Errorf("%s: %d records processed twice, more than the %d processed after the last commit", what, dups, uncommitted)
	}
	t.Logf("%s: first run processed %d records (%d after its last commit, committed %v), second %d; %d duplicates",
		what, n1, uncommitted, at, n2, dups)
}

// childEnv turns this test binary into a consumer process (see TestMain).
const childEnv = "MINIBROKER_KAFKA_CHILD"

// selfCmd returns a command that runs this test binary as a child consumer
// with config cfg (JSON).
func selfCmd(cfg string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+cfg)
	return cmd
}
