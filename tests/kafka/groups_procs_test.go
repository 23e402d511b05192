package kafka

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// jsGroupConfig is client.js's group consumer config (groupConsume).
type jsGroupConfig struct {
	Brokers   []string `json:"brokers"`
	Group     string   `json:"group"`
	Topic     string   `json:"topic"`
	SessionMs int      `json:"sessionMs"`
	StopAfter int      `json:"stopAfter"`
}

// groupCmd returns the command of a kafkajs group consumer process.
func (k *kafkajs) groupCmd(cfg jsGroupConfig) *exec.Cmd {
	arg, _ := json.Marshal(cfg)
	return exec.Command(k.node, k.script, "group", string(arg))
}

// testGroupKafkajs: a kafkajs consumer (a node process) consumes
// everything, committing every 5 messages after processing them; SIGTERM
// makes it leave the group.
func testGroupKafkajs(t *testing.T, c *cluster) {
	js := needKafkajs(t)
	adm := newAdmin(t, c)
	topic, group := "grp-kafkajs", "g-kafkajs"
	end := groupTopic(t, c, adm, topic, groupParts, groupPerPart)
	out := newChildLines()
	p := startProc(t, "kafkajs", js.groupCmd(jsGroupConfig{Brokers: c.kafka, Group: group, Topic: topic, SessionMs: 6000}), out.line)
	waitProcessed(t, "kafkajs", out.l, end)
	waitCommitted(t, adm, group, topic, end)
	p.stop()
	t.Logf("kafkajs: %d records processed, %d duplicates", out.l.total(), out.l.dups())
}

// testGroupKafkajsKill: as testGroupFranzKill, with kafkajs node
// processes.
func testGroupKafkajsKill(t *testing.T, c *cluster) {
	js := needKafkajs(t)
	adm := newAdmin(t, c)
	topic, group := "grp-kafkajs-kill", "g-kafkajs-kill"
	end := groupTopic(t, c, adm, topic, groupParts, groupPerPart)
	cfg := jsGroupConfig{Brokers: c.kafka, Group: group, Topic: topic, SessionMs: 2000, StopAfter: 30}
	out1 := newChildLines()
	p1 := startProc(t, "kafkajs 1", js.groupCmd(cfg), out1.line)
	out1.await(t, "hang")
	p1.kill()
	at, err := committed(t, adm, group, topic, groupParts)
	if err != nil {
		t.Fatalf("committed offsets: %v", err)
	}
	for p, off := range out1.commits() {
		if at[p] != off {
			t.Errorf("p%d: committed %d after the kill, the consumer's last commit was %d", p, at[p], off)
		}
	}
	cfg.StopAfter = 0
	out2 := newChildLines()
	p2 := startProc(t, "kafkajs 2", js.groupCmd(cfg), out2.line)
	waitUnion(t, "kafkajs 2", end, out1.l, out2.l)
	waitCommitted(t, adm, group, topic, end)
	p2.stop()
	killCheck(t, "kafkajs SIGKILL", out1.l, out2.l, at, end)
}

// kcatGroupCmd returns the command of kcat in balanced-consumer mode (-G),
// printing "rec <partition> <offset>" unbuffered, from the earliest
// offset. librdkafka stores an offset when it hands the message over and
// auto-commits the stored offsets every 5 s (kcat 1.7.1 applies
// -X auto.commit.interval.ms to the legacy topic-level property, not the
// consumer's) and when the consumer closes (SIGTERM).
func kcatGroupCmd(kcat string, c *cluster, group, topic string, session time.Duration) *exec.Cmd {
	return exec.Command(kcat, "-b", strings.Join(c.kafka, ","), "-G", group, "-u", "-q",
		"-f", `rec %p %o\n`,
		"-X", "auto.offset.reset=earliest",
		"-X", "session.timeout.ms="+strconv.Itoa(int(session.Milliseconds())),
		"-X", "heartbeat.interval.ms="+strconv.Itoa(int(session.Milliseconds()/10)),
		"-X", "fetch.wait.max.ms=100", topic)
}

// testGroupKcat: kcat -G consumes everything; SIGTERM makes it commit
// what it printed and leave: the end is committed.
func testGroupKcat(t *testing.T, c *cluster) {
	kcat := needTool(t, "kcat", kcatInstall)
	adm := newAdmin(t, c)
	topic, group := "grp-kcat", "g-kcat"
	end := groupTopic(t, c, adm, topic, groupParts, groupPerPart)
	l := newLedger()
	p := startProc(t, "kcat -G", kcatGroupCmd(kcat, c, group, topic, 6*time.Second), func(s string) { l.line(s) })
	waitProcessed(t, "kcat -G", l, end)
	p.stop()
	waitCommitted(t, adm, group, topic, end)
	t.Logf("kcat -G: %d records processed, %d duplicates", l.total(), l.dups())
}

// testGroupKcatKill: kcat -G consumes the first half and auto-commits it
// (within 5 s); the second half is produced one record at a time, and kcat
// is SIGKILLed after it printed a few of them (mid-stream: more are
// produced after). A second kcat -G resumes from the offsets committed at
// the kill: nothing lost, duplicates only after them.
func testGroupKcatKill(t *testing.T, c *cluster) {
	kcat := needTool(t, "kcat", kcatInstall)
	adm := newAdmin(t, c)
	topic, group := "grp-kcat-kill", "g-kcat-kill"
	half := groupPerPart / 2
	end := groupTopic(t, c, adm, topic, groupParts, half)
	run1 := newLedger()
	p1 := startProc(t, "kcat -G 1", kcatGroupCmd(kcat, c, group, topic, 2*time.Second), func(s string) { run1.line(s) })
	waitProcessed(t, "kcat -G 1, first half", run1, end)
	waitCommitted(t, adm, group, topic, end)

	// The second half, one record per produce, round-robin.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := ctxFor(t)
	killed := false
	for i := half; i < groupPerPart; i++ {
		for p := range int32(groupParts) {
			r := &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%s-%d-%d", topic, p, i)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce p%d record %d: %v", p, i, err)
			}
			end[p] = int64(i + 1)
		}
		if !killed && run1.total() >= groupParts*half+5 {
			p1.kill()
			killed = true
		}
	}
	if !killed {
		p1.kill()
		t.Logf("kcat had not printed 5 records of the second half when it was all produced")
	}
	at, err := committed(t, adm, group, topic, groupParts)
	if err != nil {
		t.Fatalf("committed offsets: %v", err)
	}
	run2 := newLedger()
	p2 := startProc(t, "kcat -G 2", kcatGroupCmd(kcat, c, group, topic, 6*time.Second), func(s string) { run2.line(s) })
	waitUnion(t, "kcat -G 2", end, run1, run2)
	p2.stop()
	waitCommitted(t, adm, group, topic, end)
	killCheck(t, "kcat SIGKILL", run1, run2, at, end)
}
