package kafka

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
)

// testCrossProtocol: what Kafka clients produced (franz-go and kcat, with
// every codec) is read by the native Go client and by `minibroker
// consume`; what the native client produced is read by kcat and franz-go.
// Keys, values, headers and timestamps survive (kcat sets no timestamps
// and `minibroker consume` prints no headers).
func testCrossProtocol(t *testing.T, c *cluster) {
	c.needNative(t)
	kadmin := newAdmin(t, c)
	const topic = "cross"
	codecs := ackAll(combos(true, allCodecs...)) // acks=all (idempotent), every codec
	// Partitions: 0-4 franz-go, 5-9 kcat (when installed), 10 the native client.
	nf := int32(len(codecs))
	native := 2 * nf
	createTopic(t, c, kadmin, topic, native+1)

	base := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	want := make(map[int32][]rec)
	for i, cb := range codecs {
		p := int32(i)
		want[p] = makeRecords(fmt.Sprintf("cross-franz-%d", i), p, perCombo, base.Add(time.Duration(i)*time.Minute))
		franzProduce(t, c, topic, cb, want[p])
	}
	kcat, kcatErr := exec.LookPath("kcat")
	if kcatErr != nil && requireClients() {
		t.Fatalf("kcat not found (%s); CI requires it", kcatInstall)
	}
	var kcatFrom, kcatTo time.Time
	if kcatErr == nil {
		kcatFrom = time.Now()
		for i, cb := range codecs {
			p := nf + int32(i)
			want[p] = makeRecords(fmt.Sprintf("cross-kcat-%d", i), p, perCombo, base)
			for j := range want[p] {
				want[p][j].Headers = kcatHeaders
			}
			kcatProduce(t, kcat, c, topic, p, cb, want[p])
		}
		kcatTo = time.Now()
	}
	want[native] = makeRecords("cross-native", native, perCombo, base.Add(time.Hour))
	nativeProduce(t, c, topic, want[native])

	check := func(what string, p int32, start int64, got []rec) {
		t.Helper()
		w := want[p][start:]
		if p >= nf && p < native {
			checkRecordsNoTime(t, what, w, got, kcatFrom, kcatTo)
			return
		}
		checkRecords(t, what, w, got)
	}

	// Kafka clients' records, read with the native client and the CLI.
	mb := minibrokerBinary(t)
	for p := range native {
		if _, ok := want[p]; !ok {
			continue
		}
		for _, start := range []int64{0, perCombo / 2} {
			check(fmt.Sprintf("native client read p%d from %d", p, start), p, start, nativeRead(t, c, topic, p, start, perCombo-int(start)))
			got := cliConsume(t, mb, c, topic, p, start, perCombo-int(start))
			w := want[p][start:]
			for j := range got { // the CLI prints no headers
				if j < len(w) {
					got[j].Headers = w[j].Headers
				}
			}
			check(fmt.Sprintf("minibroker consume p%d from %d", p, start), p, start, got)
		}
	}

	// The native client's records, read with kcat and franz-go.
	if kcatErr == nil {
		for _, start := range []int64{0, perCombo / 2} {
			check(fmt.Sprintf("kcat read the native client's from %d", start), native, start, kcatConsume(t, kcat, c, topic, native, start))
		}
	}
	for _, start := range []int64{0, perCombo / 2} {
		got := franzConsumeOne(t, c, topic, native, start, perCombo-int(start))
		check(fmt.Sprintf("franz-go read the native client's from %d", start), native, start, got)
	}

	deleteTopic(t, c, kadmin, topic)
}

// nativeClient returns a native-protocol client, closed when the test ends.
func nativeClient(t *testing.T, c *cluster) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{Brokers: c.native})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// nativeProduce produces recs with the native client (acks=all,
// idempotent: its defaults), each to its partition.
func nativeProduce(t *testing.T, c *cluster, topic string, recs []rec) {
	t.Helper()
	ctx := ctxFor(t)
	prod := nativeClient(t, c).Producer(client.ProducerConfig{Acks: client.AcksAll, Partitioner: client.ManualPartitioner{}})
	defer prod.Close()
	var wg sync.WaitGroup
	errs := make([]error, len(recs))
	for i, r := range recs {
		m := client.Message{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Time}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, client.Header{Key: h.Key, Value: h.Value})
		}
		wg.Add(1)
		prod.ProduceAsync(m, func(res client.Result, err error) {
			defer wg.Done()
			if err == nil && res.Offset != r.Offset {
				err = fmt.Errorf("offset %d, want %d", res.Offset, r.Offset)
			}
			errs[i] = err
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatalf("native produce: flush: %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("native produce, record %d: %v", i, err)
		}
	}
}

// nativeRead reads n records of partition p from offset start with the
// native client's Reader.
func nativeRead(t *testing.T, c *cluster, topic string, p int32, start int64, n int) []rec {
	t.Helper()
	ctx := ctxFor(t)
	r := nativeClient(t, c).Reader(client.ReaderConfig{Topic: topic, Partition: p, Offset: start, MaxWait: 100 * time.Millisecond})
	var got []rec
	for len(got) < n {
		recs, err := r.Fetch(ctx)
		if err != nil {
			t.Fatalf("native read p%d from %d after %d records: %v", p, start, len(got), err)
		}
		for _, m := range recs {
			g := rec{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Timestamp}
			for _, h := range m.Headers {
				g.Headers = append(g.Headers, hdr{h.Key, h.Value})
			}
			got = append(got, g)
		}
	}
	return got
}

// franzConsumeOne reads n records of partition p from offset start with
// kgo.
func franzConsumeOne(t *testing.T, c *cluster, topic string, p int32, start int64, n int) []rec {
	t.Helper()
	return franzConsumeParts(t, c, topic, map[int32]int64{p: start}, n)[p]
}

var (
	buildOnce sync.Once
	binDir    string // holds the minibroker binary; removed by TestMain
	binPath   string
	buildErr  error
)

// minibrokerBinary builds cmd/minibroker once per test binary (from the
// main module) and returns its path.
func minibrokerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "minibroker-kafka-tests-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "minibroker")
		// Built in the main module (../..), with its own go.mod and go.sum.
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/minibroker")
		cmd.Dir = filepath.Join("..", "..")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// cliConsume reads n records of partition p from offset start with
// `minibroker consume --format json`.
func cliConsume(t *testing.T, bin string, c *cluster, topic string, p int32, start int64, n int) []rec {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	args := []string{"consume", topic, "--brokers", strings.Join(c.native, ","), "--partition", strconv.Itoa(int(p)),
		"--offset", strconv.FormatInt(start, 10), "--max", strconv.Itoa(n), "--format", "json"}
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("minibroker %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	var got []rec
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m struct {
			Partition   int32   `json:"partition"`
			Offset      int64   `json:"offset"`
			Key         *string `json:"key"`
			KeyBase64   bool    `json:"key_base64"`
			Value       string  `json:"value"`
			ValueBase64 bool    `json:"value_base64"`
			Timestamp   time.Time
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("minibroker consume output %q: %v", sc.Bytes(), err)
		}
		r := rec{Partition: m.Partition, Offset: m.Offset, Time: m.Timestamp}
		if m.Key != nil {
			r.Key = cliBytes(t, *m.Key, m.KeyBase64)
		}
		r.Value = cliBytes(t, m.Value, m.ValueBase64)
		got = append(got, r)
	}
	return got
}

func cliBytes(t *testing.T, s string, b64 bool) []byte {
	t.Helper()
	if !b64 {
		return []byte(s)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("minibroker consume: base64 %q: %v", s, err)
	}
	return b
}
