package kafka

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// franzBalancer returns kgo's balancer by name.
func franzBalancer(name string) kgo.GroupBalancer {
	if name == "cooperative-sticky" {
		return kgo.CooperativeStickyBalancer()
	}
	return kgo.RangeBalancer()
}

// franzGroupOpts are the options of a kgo group member: manual commits,
// from the start, the balancer, a session timeout, quick retries.
func franzGroupOpts(addrs []string, group, topic, balancer string, session time.Duration) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(addrs...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.Balancers(franzBalancer(balancer)), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(session), kgo.HeartbeatInterval(session / 10),
		kgo.RebalanceTimeout(2 * session), kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	}
}

// franzMember is a kgo group member polling in a goroutine: it processes
// each record into its ledger, then commits what it polled.
type franzMember struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex      // guards next
	next map[int32]int64 // per partition, the offset its last successful commit committed
}

// commits returns, per partition, the offset the member's last successful
// commit committed.
func (m *franzMember) commits() map[int32]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int32]int64)
	for p, off := range m.next {
		out[p] = off
	}
	return out
}

// startFranzMember starts a member; the test's cleanup stops it.
func startFranzMember(t *testing.T, name string, l *ledger, opts ...kgo.Opt) *franzMember {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.ClientID(name)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &franzMember{cl: cl, cancel: cancel, done: make(chan struct{}), next: make(map[int32]int64)}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollRecords(ctx, 10)
			recs := fs.Records()
			for _, r := range recs {
				l.add(r.Partition, r.Offset)
			}
			if len(recs) == 0 {
				continue
			}
			// Commit after processing; a refused commit (a rebalance) is
			// retried by the next member, from the last good commit.
			if err := cl.CommitRecords(ctx, recs...); err != nil {
				if ctx.Err() == nil {
					t.Logf("%s: commit: %v", name, err)
				}
				continue
			}
			m.mu.Lock()
			for _, r := range recs {
				m.next[r.Partition] = max(m.next[r.Partition], r.Offset+1)
			}
			m.mu.Unlock()
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// stop leaves the group and closes the client; it is idempotent.
func (m *franzMember) stop() {
	select {
	case <-m.done:
		return
	default:
	}
	m.cancel()
	<-m.done
	m.cl.Close()
}

// testGroupFranz: one kgo member with the balancer consumes everything,
// committing after each poll; every record processed, the end committed.
func testGroupFranz(t *testing.T, c *cluster, balancer string) {
	adm := newAdmin(t, c)
	topic, group := "grp-franz-"+balancer, "g-franz-"+balancer
	end := groupTopic(t, c, adm, topic, groupParts, groupPerPart)
	l := newLedger()
	m := startFranzMember(t, "franz", l, franzGroupOpts(c.kafka, group, topic, balancer, 6*time.Second)...)
	waitProcessed(t, "franz-go "+balancer, l, end)
	waitCommitted(t, adm, group, topic, end)
	m.stop()
	t.Logf("franz-go %s: %d records processed, %d duplicates", balancer, l.total(), l.dups())
}

// childConfig configures this test binary run as a franz-go consumer
// (runChild).
type childConfig struct {
	Brokers   []string `json:"brokers"`
	Group     string   `json:"group"`
	Topic     string   `json:"topic"`
	SessionMs int      `json:"sessionMs"`
	// StopAfter > 0: once that many records are processed, process one
	// more poll, print "hang" and wait without committing it (to be
	// killed).
	StopAfter int `json:"stopAfter"`
	// Pause: after the first poll, print "ready <member> <generation>",
	// wait for a line on stdin, then commit that poll with that member id
	// and generation, print "commiterr <partition>:<error code> ..." and
	// exit.
	Pause bool `json:"pause"`
}

// runChild is the child consumer's main: it prints "rec <p> <offset>" for
// each record processed and "commit <p> <offset>" for each offset
// committed (after the commit succeeded). SIGTERM closes the client
// (LeaveGroup) and exits 0.
func runChild(arg string) int {
	var cfg childConfig
	if err := json.Unmarshal([]byte(arg), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	session := time.Duration(cfg.SessionMs) * time.Millisecond
	cl, err := kgo.NewClient(append(franzGroupOpts(cfg.Brokers, cfg.Group, cfg.Topic, "range", session),
		kgo.ClientID("child"))...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer cl.Close()
	out := bufio.NewWriter(os.Stdout)
	processed := 0
	for ctx.Err() == nil {
		recs := cl.PollRecords(ctx, 5).Records()
		if len(recs) == 0 {
			continue
		}
		next := make(map[int32]int64)
		for _, r := range recs {
			fmt.Fprintf(out, "rec %d %d\n", r.Partition, r.Offset)
			next[r.Partition] = r.Offset + 1
		}
		out.Flush()
		processed += len(recs)
		switch {
		case cfg.Pause:
			return childPausedCommit(ctx, cl, cfg, next, out)
		case cfg.StopAfter > 0 && processed > cfg.StopAfter:
			fmt.Fprintln(out, "hang")
			out.Flush()
			<-ctx.Done()
			return 0
		}
		if err := cl.CommitRecords(ctx, recs...); err != nil {
			fmt.Fprintln(os.Stderr, "commit:", err)
			continue
		}
		for p, off := range next {
			fmt.Fprintf(out, "commit %d %d\n", p, off)
		}
		out.Flush()
	}
	return 0
}

// childPausedCommit prints "ready <member> <generation>", waits for a line
// on stdin (the parent stopped and continued the process meanwhile), then
// commits next with the member id and generation the records were
// fetched under, as a client commits what it processed, and prints each
// partition's error code on one line.
func childPausedCommit(ctx context.Context, cl *kgo.Client, cfg childConfig, next map[int32]int64, out *bufio.Writer) int {
	member, gen := cl.GroupMetadata()
	fmt.Fprintf(out, "ready %s %d\n", member, gen)
	out.Flush()
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, "stdin:", err)
		return 2
	}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = cfg.Group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = cfg.Topic
	for p, off := range next {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, off
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	// A plain client of its own, with OffsetCommit at most v9 (v10 names
	// topics by id; kgo pins its own group commits the same way).
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(req.Key(), 9)
	raw, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.MaxVersions(vs))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer raw.Close()
	resp, err := req.RequestWith(ctx, raw)
	if err != nil {
		fmt.Fprintln(os.Stderr, "offset commit:", err)
		return 2
	}
	fmt.Fprint(out, "commiterr")
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			fmt.Fprintf(out, " %d:%d", rp.Partition, rp.ErrorCode)
		}
	}
	fmt.Fprintln(out)
	out.Flush()
	return 0
}

// childLines collects a child's output: records into a ledger, its last
// commit per partition, and the other lines on a channel.
type childLines struct {
	l      *ledger
	mu     sync.Mutex // guards commit
	commit map[int32]int64
	other  chan string // a few lines ("hang", "ready", "commiterr"): the buffer holds them
}

func newChildLines() *childLines {
	return &childLines{l: newLedger(), commit: make(map[int32]int64), other: make(chan string, 100)}
}

func (c *childLines) line(s string) {
	if c.l.line(s) {
		return
	}
	var p int32
	var off int64
	if _, err := fmt.Sscanf(s, "commit %d %d", &p, &off); err == nil {
		c.mu.Lock()
		c.commit[p] = off
		c.mu.Unlock()
		return
	}
	c.other <- s
}

func (c *childLines) commits() map[int32]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int32]int64)
	for p, off := range c.commit {
		out[p] = off
	}
	return out
}

// await waits for an output line starting with prefix and returns it.
func (c *childLines) await(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case s := <-c.other:
			if strings.HasPrefix(s, prefix) {
				return s
			}
		case <-timeout:
			t.Fatalf("no %q line from the consumer within %v", prefix, waitTimeout)
		}
	}
}

// testGroupFranzKill: a franz-go consumer in a child process commits after
// every poll of 5 records; after 30 records it processes one more poll and
// is SIGKILLed before committing it. A second child resumes: it starts at
// the committed offsets, nothing is lost, and only the uncommitted poll
// is processed twice.
func testGroupFranzKill(t *testing.T, c *cluster) {
	adm := newAdmin(t, c)
	topic, group := "grp-franz-kill", "g-franz-kill"
	end := groupTopic(t, c, adm, topic, groupParts, groupPerPart)
	cfg := childConfig{Brokers: c.kafka, Group: group, Topic: topic, SessionMs: 2000, StopAfter: 30}
	arg, _ := json.Marshal(cfg)
	out1 := newChildLines()
	p1 := startProc(t, "franz-go child 1", selfCmd(string(arg)), out1.line)
	out1.await(t, "hang")
	p1.kill()
	at, err := committed(t, adm, group, topic, groupParts)
	if err != nil {
		t.Fatalf("committed offsets: %v", err)
	}
	for p, off := range out1.commits() {
		if at[p] != off {
			t.Errorf("p%d: committed %d after the kill, the child's last commit was %d", p, at[p], off)
		}
	}

	cfg.StopAfter = 0
	arg, _ = json.Marshal(cfg)
	out2 := newChildLines()
	p2 := startProc(t, "franz-go child 2", selfCmd(string(arg)), out2.line)
	waitUnion(t, "franz-go child 2", end, out1.l, out2.l)
	waitCommitted(t, adm, group, topic, end)
	p2.stop()
	killCheck(t, "franz-go SIGKILL", out1.l, out2.l, at, end)
}

// groupErrors are the codes a commit from a member that lost its
// membership may get.
var groupErrors = map[int16]bool{
	kerr.IllegalGeneration.Code: true, kerr.UnknownMemberID.Code: true, kerr.RebalanceInProgress.Code: true,
}

// testGroupFranzPaused: a franz-go child (session timeout 2 s) polls a
// batch and is SIGSTOPped before committing it; a second member joins and,
// once the stopped one's session expired, gets every partition and
// processes and commits everything. The child is continued and commits
// its batch with the member id and generation it fetched under: refused
// (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or REBALANCE_IN_PROGRESS), and
// the second member's commits stand.
func testGroupFranzPaused(t *testing.T, c *cluster) {
	adm := newAdmin(t, c)
	topic, group := "grp-franz-paused", "g-franz-paused"
	end := groupTopic(t, c, adm, topic, groupParts, groupPerPart)
	arg, _ := json.Marshal(childConfig{Brokers: c.kafka, Group: group, Topic: topic, SessionMs: 2000, Pause: true})
	out := newChildLines()
	p := startProc(t, "franz-go paused child", selfCmd(string(arg)), out.line)
	ready := out.await(t, "ready")
	p.signal(syscall.SIGSTOP)
	stopped := time.Now()

	own := newOwners()
	l := newLedger()
	opts := append(franzGroupOpts(c.kafka, group, topic, "range", 6*time.Second), own.franzHooks("other")...)
	startFranzMember(t, "other", l, opts...)
	eventually(t, "the other member owns every partition", func() error {
		if got := own.of("other"); len(got) != groupParts {
			return fmt.Errorf("it owns %v", got)
		}
		return nil
	})
	t.Logf("the other member got every partition %v after the child was stopped", time.Since(stopped).Round(time.Millisecond))
	// The other member processes and commits everything before the child
	// runs again (once continued, kgo in the child rejoins and could take
	// partitions it would not poll).
	waitProcessed(t, "the other member", l, end)
	waitCommitted(t, adm, group, topic, end)
	p.signal(syscall.SIGCONT)
	if _, err := p.stdin.Write([]byte("commit\n")); err != nil {
		t.Fatalf("write to the child: %v", err)
	}
	res := strings.Fields(out.await(t, "commiterr"))[1:]
	if len(res) == 0 {
		t.Fatalf("the paused member's commit: no partitions in the answer")
	}
	for _, f := range res {
		var part int32
		var code int16
		if _, err := fmt.Sscanf(f, "%d:%d", &part, &code); err != nil {
			t.Fatalf("child output %q: %v", f, err)
		}
		if !groupErrors[code] {
			t.Errorf("the paused member (%s) committed p%d: error code %d (%v), want ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or REBALANCE_IN_PROGRESS",
				ready, part, code, kerr.ErrorForCode(code))
		} else {
			t.Logf("the paused member's commit of p%d: %v", part, kerr.ErrorForCode(code))
		}
	}
	// The refused commit changed nothing: the other member's offsets stand.
	if got, err := committed(t, adm, group, topic, groupParts); err != nil {
		t.Errorf("committed offsets: %v", err)
	} else {
		for p, e := range end {
			if got[p] != e {
				t.Errorf("after the paused member's commit: committed %v, want %v", got, end)
				break
			}
		}
	}
	own.check(t)
}
