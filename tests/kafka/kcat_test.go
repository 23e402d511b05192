package kafka

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// kcatInstall says how to get kcat.
const kcatInstall = "apt-get install kcat"

// kcatHeaders are the headers kcat puts on every record it produces (kcat
// sets headers per run, not per record).
var kcatHeaders = []hdr{{"h", []byte("kcat")}, {"src", []byte("kcat")}}

// testKcat: kadm creates the topic (kcat cannot); kcat (librdkafka)
// produces with every acks level and codec, idempotent with acks=all;
// kcat reads it back from the beginning and from an offset, with the
// records franz-go produced (its own timestamps and per-record headers)
// beside them, and an empty partition; kcat -Q lists offsets, kcat -L the
// metadata; kadm deletes the topic.
func testKcat(t *testing.T, c *cluster) {
	kcat := needTool(t, "kcat", kcatInstall)
	kadmin := newAdmin(t, c)
	p := newPlan("kcat", combos(true, allCodecs...))
	franzCombos := ackAll(combos(true, allCodecs...)) // acks=all, every codec
	// The last partition stays empty: librdkafka fails on an empty
	// partition's fetch answered with null records (KAFKA-18646).
	empty := p.partitions() + int32(len(franzCombos))
	topicParts := empty + 1
	createTopic(t, c, kadmin, p.topic, topicParts)

	var from, to time.Time
	from = time.Now()
	for i, cb := range p.combos {
		recs := p.recs[i]
		for j := range recs {
			recs[j].Headers = kcatHeaders
		}
		kcatProduce(t, kcat, c, p.topic, int32(i), cb, recs)
	}
	to = time.Now()
	waitEndOffsets(t, kadmin, p)

	// franz-go's records in the partitions after kcat's.
	franzRecs := make([][]rec, len(franzCombos))
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	for i, cb := range franzCombos {
		part := p.partitions() + int32(i)
		franzRecs[i] = makeRecords(fmt.Sprintf("franz-for-kcat-%d", i), part, perCombo, base.Add(time.Duration(i)*time.Minute))
		franzProduce(t, c, p.topic, cb, franzRecs[i])
	}

	for _, start := range []int64{0, perCombo / 2} {
		for i, cb := range p.combos {
			got := kcatConsume(t, kcat, c, p.topic, int32(i), start)
			checkRecordsNoTime(t, fmt.Sprintf("kcat read kcat's from %d, %v", start, cb), p.from(i, start), got, from, to)
		}
		for i, cb := range franzCombos {
			got := kcatConsume(t, kcat, c, p.topic, p.partitions()+int32(i), start)
			checkRecords(t, fmt.Sprintf("kcat read franz-go's from %d, %v", start, cb), franzRecs[i][start:], got)
		}
	}

	if got := kcatConsume(t, kcat, c, p.topic, empty, 0); len(got) != 0 {
		t.Errorf("kcat read %d records from an empty partition: %v", len(got), got)
	}

	// kcat -Q: -1 is the end, -2 the start, a time the first record at or after it.
	for i := range franzCombos {
		part := p.partitions() + int32(i)
		k := (i*7 + 3) % perCombo
		ts := franzRecs[i][k].Time.UnixMilli()
		want := map[int64]int64{-1: perCombo, -2: 0, ts: int64(k), ts + int64(perCombo): -1}
		for q, w := range want {
			if got := kcatQuery(t, kcat, c, p.topic, part, q); got != w {
				t.Errorf("kcat -Q %s:%d:%d: offset %d, want %d", p.topic, part, q, got, w)
			}
		}
	}

	kcatCheckMetadata(t, kcat, c, p.topic, topicParts)
	deleteTopic(t, c, kadmin, p.topic)
}

// kcatRun runs kcat with args and stdin, and returns its stdout; a
// non-zero exit fails the test with kcat's stderr.
func kcatRun(t *testing.T, kcat string, stdin []byte, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// kcatProduce produces recs to partition p with kcat -P: one record per
// line, key and value split by a tab (a line without tab: no key), the
// combo's codec and acks, idempotence for combo.idem.
func kcatProduce(t *testing.T, kcat string, c *cluster, topic string, p int32, cb combo, recs []rec) {
	t.Helper()
	var in bytes.Buffer
	for _, r := range recs {
		if r.Key != nil {
			in.Write(r.Key)
			in.WriteByte('\t')
		}
		in.Write(r.Value)
		in.WriteByte('\n')
	}
	args := []string{"-P", "-b", strings.Join(c.kafka, ","), "-t", topic, "-p", strconv.Itoa(int(p)),
		"-K", "\t", "-z", cb.codec, "-X", "acks=" + strconv.Itoa(cb.acks), "-X", "linger.ms=5"}
	for _, h := range kcatHeaders {
		args = append(args, "-H", h.Key+"="+string(h.Value))
	}
	if cb.idem {
		args = append(args, "-X", "enable.idempotence=true")
	}
	kcatRun(t, kcat, in.Bytes(), args...)
}

// kcatFormat prints partition, offset, timestamp, key length (-1: null),
// value length, headers (k=v,k=v), then key and value bytes.
const kcatFormat = `%p %o %T %K %S %h|%k%s\n`

// kcatConsume reads partition p from offset start to its end with
// kcat -C -e.
func kcatConsume(t *testing.T, kcat string, c *cluster, topic string, p int32, start int64) []rec {
	t.Helper()
	off := strconv.FormatInt(start, 10)
	if start == 0 {
		off = "beginning"
	}
	out := kcatRun(t, kcat, nil, "-C", "-b", strings.Join(c.kafka, ","), "-t", topic, "-p", strconv.Itoa(int(p)),
		"-o", off, "-e", "-q", "-X", "fetch.wait.max.ms=20", "-f", kcatFormat)
	recs, err := parseKcat(out)
	if err != nil {
		t.Fatalf("kcat -C %s/%d from %s: %v\n%s", topic, p, off, err, out)
	}
	return recs
}

// parseKcat parses kcat's output in kcatFormat.
func parseKcat(out []byte) ([]rec, error) {
	br := bufio.NewReader(bytes.NewReader(out))
	var recs []rec
	for {
		var part, ts, klen, vlen int64
		var r rec
		_, err := fmt.Fscanf(br, "%d %d %d %d %d ", &part, &r.Offset, &ts, &klen, &vlen)
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, fmt.Errorf("record %d: %w", len(recs), err)
		}
		r.Partition, r.Time = int32(part), time.UnixMilli(ts)
		hs, err := br.ReadString('|')
		if err != nil {
			return recs, fmt.Errorf("record %d headers: %w", len(recs), err)
		}
		if hs = strings.TrimSuffix(hs, "|"); hs != "" {
			for _, kv := range strings.Split(hs, ",") {
				k, v, _ := strings.Cut(kv, "=")
				r.Headers = append(r.Headers, hdr{k, []byte(v)})
			}
		}
		if klen >= 0 {
			r.Key = make([]byte, klen)
			if _, err := io.ReadFull(br, r.Key); err != nil {
				return recs, err
			}
		}
		r.Value = make([]byte, max(vlen, 0))
		if _, err := io.ReadFull(br, r.Value); err != nil {
			return recs, err
		}
		if nl, err := br.ReadByte(); err != nil || nl != '\n' {
			return recs, fmt.Errorf("record %d: no newline after the value", len(recs))
		}
		recs = append(recs, r)
	}
}

// kcatQuery returns the offset kcat -Q gives for a partition and time
// (-1: end, -2: start).
func kcatQuery(t *testing.T, kcat string, c *cluster, topic string, p int32, ts int64) int64 {
	t.Helper()
	out := kcatRun(t, kcat, nil, "-Q", "-b", strings.Join(c.kafka, ","), "-t", fmt.Sprintf("%s:%d:%d", topic, p, ts))
	var gotTopic string
	var gotPart, off int64
	if _, err := fmt.Sscanf(string(out), "%s [%d] offset %d", &gotTopic, &gotPart, &off); err != nil {
		t.Fatalf("kcat -Q output %q: %v", out, err)
	}
	return off
}

// kcatCheckMetadata checks kcat -L: every node listed, topic with its
// partitions, each with a listed leader and every node as replica and in
// sync.
func kcatCheckMetadata(t *testing.T, kcat string, c *cluster, topic string, partitions int32) {
	t.Helper()
	out := kcatRun(t, kcat, nil, "-L", "-J", "-b", strings.Join(c.kafka, ","), "-t", topic)
	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Partitions []struct {
				Partition int32            `json:"partition"`
				Leader    int32            `json:"leader"`
				Replicas  []map[string]any `json:"replicas"`
				ISRs      []map[string]any `json:"isrs"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal(out, &md); err != nil {
		t.Fatalf("kcat -L -J: %v\n%s", err, out)
	}
	if len(md.Brokers) != c.nodes {
		t.Errorf("kcat -L: %d brokers, want %d: %s", len(md.Brokers), c.nodes, out)
	}
	ids := make(map[int32]bool)
	for _, b := range md.Brokers {
		ids[b.ID] = true
	}
	if len(md.Topics) != 1 || md.Topics[0].Topic != topic || len(md.Topics[0].Partitions) != int(partitions) {
		t.Fatalf("kcat -L -t %s: %s", topic, out)
	}
	for _, pt := range md.Topics[0].Partitions {
		if !ids[pt.Leader] || len(pt.Replicas) != c.nodes || len(pt.ISRs) != c.nodes {
			t.Errorf("kcat -L: partition %d: leader %d, %d replicas, %d in sync; want a listed broker and %d", pt.Partition, pt.Leader, len(pt.Replicas), len(pt.ISRs), c.nodes)
		}
	}
}
