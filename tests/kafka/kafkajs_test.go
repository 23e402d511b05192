package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// kafkajs drives js/client.js (kafkajs 2.2.4, installed by `npm ci` in js/).
type kafkajs struct {
	node   string
	script string
}

func needKafkajs(t *testing.T) *kafkajs {
	t.Helper()
	node := needTool(t, "node", "apt-get install nodejs npm")
	script, err := filepath.Abs(filepath.Join("js", "client.js"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("js", "node_modules", "kafkajs")); err != nil {
		if requireClients() {
			t.Fatalf("kafkajs not installed (run npm ci in tests/kafka/js); CI requires it: %v", err)
		}
		t.Skipf("kafkajs not installed (run npm ci in tests/kafka/js)")
	}
	return &kafkajs{node: node, script: script}
}

// jsCmd is one command for client.js (see its header).
type jsCmd struct {
	Op          string     `json:"op"`
	Brokers     []string   `json:"brokers"`
	Topic       string     `json:"topic"`
	Partitions  int32      `json:"partitions,omitempty"`
	Partition   int32      `json:"partition"`
	Acks        int        `json:"acks"`
	Compression string     `json:"compression,omitempty"`
	Idempotent  bool       `json:"idempotent"`
	Records     []jsRecord `json:"records,omitempty"`
	Offset      int64      `json:"offset"`
	Count       int        `json:"count,omitempty"`
	Timestamp   int64      `json:"timestamp,omitempty"`
}

type jsRecord struct {
	Offset    int64      `json:"offset"`
	Key       []byte     `json:"key"` // base64; null: no key
	Value     []byte     `json:"value"`
	Headers   []jsHeader `json:"headers"`
	Timestamp int64      `json:"timestamp"`
}

type jsHeader struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// jsResult is the union of client.js's results.
type jsResult struct {
	Created     bool       `json:"created"`
	BaseOffsets []string   `json:"baseOffsets"`
	Records     []jsRecord `json:"records"`
	Earliest    []int64    `json:"earliest"`
	Latest      []int64    `json:"latest"`
	ByTime      []int64    `json:"byTime"`
}

// run runs cmds in one node process and returns their results.
func (k *kafkajs) run(t *testing.T, cmds ...jsCmd) []jsResult {
	t.Helper()
	arg, err := json.Marshal(cmds)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.node, k.script, string(arg))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafkajs %s...: %v\n%s", cmds[0].Op, err, stderr.Bytes())
	}
	var res []jsResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || len(res) != len(cmds) {
		t.Fatalf("kafkajs output: %v (%d results for %d commands)\n%s", err, len(res), len(cmds), stdout.Bytes())
	}
	return res
}

func toJS(r rec) jsRecord {
	j := jsRecord{Key: r.Key, Value: r.Value, Timestamp: r.Time.UnixMilli()}
	for _, h := range r.Headers {
		j.Headers = append(j.Headers, jsHeader{h.Key, h.Value})
	}
	return j
}

func fromJS(p int32, j jsRecord) rec {
	r := rec{Partition: p, Offset: j.Offset, Key: j.Key, Value: j.Value, Time: time.UnixMilli(j.Timestamp)}
	for _, h := range j.Headers {
		r.Headers = append(r.Headers, hdr{h.Key, h.Value})
	}
	return r
}

// testKafkajs: the kafkajs admin creates the topic; its producer produces
// with every acks level and each codec kafkajs has built in (none, gzip;
// acks=all idempotent); kafkajs's Fetch reads back from the first offset
// and from the middle; the admin lists offsets (earliest, latest, by time)
// and deletes the topic.
func testKafkajs(t *testing.T, c *cluster) {
	js := needKafkajs(t)
	p := newPlan("kafkajs", combos(true, "none", "gzip"))
	res := js.run(t, jsCmd{Op: "create", Brokers: c.kafka, Topic: p.topic, Partitions: p.partitions()})
	if !res[0].Created {
		t.Fatalf("kafkajs createTopics: false (the topic existed)")
	}
	kadmin := newAdmin(t, c)
	waitTopic(t, c, p.topic, p.partitions())

	var cmds []jsCmd
	for i, cb := range p.combos {
		cmd := jsCmd{Op: "produce", Brokers: c.kafka, Topic: p.topic, Partition: int32(i), Acks: cb.acks, Compression: cb.codec, Idempotent: cb.idem}
		for _, r := range p.recs[i] {
			cmd.Records = append(cmd.Records, toJS(r))
		}
		cmds = append(cmds, cmd)
	}
	res = js.run(t, cmds...)
	for i, cb := range p.combos {
		if cb.acks == -1 && (len(res[i].BaseOffsets) != 3 || res[i].BaseOffsets[0] != "0") {
			t.Errorf("kafkajs produce %v: base offsets %v, want 3 starting at 0", cb, res[i].BaseOffsets)
		}
	}
	waitEndOffsets(t, kadmin, p)

	cmds = cmds[:0]
	for _, start := range []int64{0, perCombo / 2} {
		for i := range p.combos {
			cmds = append(cmds, jsCmd{Op: "fetch", Brokers: c.kafka, Topic: p.topic, Partition: int32(i), Offset: start, Count: perCombo - int(start)})
		}
	}
	res = js.run(t, cmds...)
	for n, cmd := range cmds {
		got := make([]rec, len(res[n].Records))
		for j, r := range res[n].Records {
			got[j] = fromJS(cmd.Partition, r)
		}
		checkRecords(t, fmt.Sprintf("kafkajs read from %d, %v", cmd.Offset, p.combos[cmd.Partition]), p.from(int(cmd.Partition), cmd.Offset), got)
	}

	cmds = cmds[:0]
	for i := range p.combos {
		cmds = append(cmds, jsCmd{Op: "offsets", Brokers: c.kafka, Topic: p.topic, Timestamp: p.recs[i][(i*9+2)%perCombo].Time.UnixMilli()})
	}
	res = js.run(t, cmds...)
	for i := range p.combos {
		o := res[i]
		if len(o.Earliest) != len(p.combos) || len(o.Latest) != len(p.combos) || len(o.ByTime) != len(p.combos) {
			t.Fatalf("kafkajs offsets: %+v", o)
		}
		if o.Earliest[i] != 0 || o.Latest[i] != perCombo || o.ByTime[i] != int64((i*9+2)%perCombo) {
			t.Errorf("kafkajs offsets of p%d: earliest %d, latest %d, by time %d; want 0, %d, %d", i, o.Earliest[i], o.Latest[i], o.ByTime[i], perCombo, (i*9+2)%perCombo)
		}
	}

	js.run(t, jsCmd{Op: "delete", Brokers: c.kafka, Topic: p.topic})
	waitTopicGone(t, c, p.topic)
}
