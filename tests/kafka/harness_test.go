package kafka

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/minibroker/minibroker/broker/brokertest"
)

// targetEnv selects what the tests run against: "minibroker" (the
// default) or "kfake" (franz-go's in-memory Kafka, the oracle).
const targetEnv = "MINIBROKER_KAFKA_TARGET"

// waitTimeout bounds every wait for a condition in these tests.
const waitTimeout = 30 * time.Second

// cluster is what a client test runs against.
type cluster struct {
	kind  string   // "minibroker" or "kfake"
	nodes int      // brokers in the cluster
	kafka []string // Kafka bootstrap addresses (every node's)
	// native holds the native-protocol addresses of a minibroker cluster;
	// nil for kfake, which has none.
	native []string
	// bt is the in-process minibroker cluster, for faults (Kill,
	// Restart); nil for kfake.
	bt *brokertest.Cluster
}

// target returns the cluster kind the tests run against, from
// $MINIBROKER_KAFKA_TARGET.
func target(t testing.TB) string {
	switch v := os.Getenv(targetEnv); v {
	case "":
		return defaultTarget
	case "kfake", "minibroker":
		return v
	default:
		t.Fatalf("%s=%q: want kfake or minibroker", targetEnv, v)
		return ""
	}
}

// newCluster starts a cluster of nodes brokers of the selected kind,
// stopped when the test ends, and returns its Kafka bootstrap addresses.
func newCluster(t *testing.T, nodes int) *cluster {
	t.Helper()
	if target(t) == "kfake" {
		// Session timeouts down to 1 s, as minibroker accepts (the group
		// tests use short ones).
		kc, err := kfake.NewCluster(kfake.NumBrokers(nodes), kfake.GroupMinSessionTimeout(time.Second))
		if err != nil {
			t.Fatalf("kfake: %v", err)
		}
		t.Cleanup(kc.Close)
		return &cluster{kind: "kfake", nodes: nodes, kafka: kc.ListenAddrs()}
	}
	return newMinibroker(t, nodes)
}

// needNative skips the test when the cluster has no native protocol
// (kfake).
func (c *cluster) needNative(t *testing.T) {
	t.Helper()
	if c.native == nil {
		t.Skipf("%s speaks no native protocol", c.kind)
	}
}

// requireClients reports whether a missing client tool (kcat, node) must
// fail the test instead of skipping it: under CI=1 (or true) or
// MINIBROKER_REQUIRE_CLIENTS=1.
func requireClients() bool {
	on := func(k string) bool {
		v := strings.ToLower(os.Getenv(k))
		return v != "" && v != "0" && v != "false"
	}
	return on("CI") || on("MINIBROKER_REQUIRE_CLIENTS")
}

// needTool returns the path of an executable, or skips the test (fails it
// under CI) when it is not installed.
func needTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if requireClients() {
			t.Fatalf("%s not found (%s); CI requires it", name, install)
		}
		t.Skipf("%s not found (%s)", name, install)
	}
	return p
}

// ctxFor returns a context that ends at waitTimeout or with the test.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond every 10ms until it returns nil, and fails the
// test with its last error after waitTimeout.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, waitTimeout, err)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not synchronizing on time
	}
}

// hdr is a record header.
type hdr struct {
	Key   string
	Value []byte
}

// rec is a record as every client test sees it, produced or read back.
type rec struct {
	Partition int32
	Offset    int64
	Key       []byte // nil: no key
	Value     []byte
	Headers   []hdr
	Time      time.Time // millisecond precision
}

func (r rec) String() string {
	return fmt.Sprintf("p%d@%d key=%q value=%.40q headers=%v time=%d",
		r.Partition, r.Offset, r.Key, r.Value, r.Headers, r.Time.UnixMilli())
}

// makeRecords returns n records for partition p with offsets 0..n-1: some
// without key, some without headers, values of varied length (compressible),
// timestamps base, base+1ms, ...
func makeRecords(tag string, p int32, n int, base time.Time) []rec {
	base = base.Truncate(time.Millisecond)
	out := make([]rec, n)
	for i := range out {
		r := rec{Partition: p, Offset: int64(i), Time: base.Add(time.Duration(i) * time.Millisecond)}
		if i%10 != 3 {
			r.Key = fmt.Appendf(nil, "%s-key-%d", tag, i)
		}
		r.Value = fmt.Appendf(nil, "%s-value-%d:%s", tag, i, strings.Repeat("abcdefgh", i%40))
		if i%4 != 0 {
			r.Headers = []hdr{{"h", []byte(tag)}, {fmt.Sprintf("n%d", i%3), fmt.Appendf(nil, "%d", i)}}
		}
		out[i] = r
	}
	return out
}

// checkRecords fails the test unless got holds exactly want: same
// partitions, offsets, keys, values, headers (in order) and timestamps.
// Empty and absent keys and header values compare equal (clients differ).
func checkRecords(t *testing.T, what string, want, got []rec) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: read %d records, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := 0; i < len(want) && i < len(got); i++ {
		if d := diffRec(want[i], got[i]); d != "" {
			t.Errorf("%s: record %d: %s\n got %v\nwant %v", what, i, d, got[i], want[i])
			if bad++; bad == 5 {
				t.Fatalf("%s: more differences left out", what)
			}
		}
	}
}

// checkRecordsNoTime is checkRecords for producers that cannot set
// timestamps (kcat): each record's time must lie in [from, to] instead.
func checkRecordsNoTime(t *testing.T, what string, want, got []rec, from, to time.Time) {
	t.Helper()
	fixed := make([]rec, len(got))
	for i, r := range got {
		if r.Time.Before(from.Truncate(time.Millisecond)) || r.Time.After(to) {
			t.Errorf("%s: record %d: time %v outside [%v, %v]", what, i, r.Time, from, to)
		}
		if i < len(want) {
			r.Time = want[i].Time
		}
		fixed[i] = r
	}
	checkRecords(t, what, want, fixed)
}

// diffRec describes how got differs from want, or returns "".
func diffRec(want, got rec) string {
	var d []string
	if got.Partition != want.Partition || got.Offset != want.Offset {
		d = append(d, fmt.Sprintf("at p%d@%d, want p%d@%d", got.Partition, got.Offset, want.Partition, want.Offset))
	}
	if !bytes.Equal(got.Key, want.Key) {
		d = append(d, "key")
	}
	if !bytes.Equal(got.Value, want.Value) {
		d = append(d, "value")
	}
	if !sameHeaders(got.Headers, want.Headers) {
		d = append(d, "headers")
	}
	if got.Time.UnixMilli() != want.Time.UnixMilli() {
		d = append(d, fmt.Sprintf("time %d, want %d", got.Time.UnixMilli(), want.Time.UnixMilli()))
	}
	return strings.Join(d, ", ")
}

func sameHeaders(a, b []hdr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// combo is one way of producing: an acks level (0, 1, -1), a compression
// codec and whether the producer is idempotent.
type combo struct {
	acks  int
	codec string // none, gzip, snappy, lz4, zstd
	idem  bool
}

func (c combo) String() string {
	s := fmt.Sprintf("acks=%d/%s", c.acks, c.codec)
	if c.idem {
		s += "/idempotent"
	}
	return s
}

// combos returns every acks level with every codec; acks=all is idempotent
// when the client can be (idem).
func combos(idem bool, codecs ...string) []combo {
	var out []combo
	for _, acks := range []int{0, 1, -1} {
		for _, codec := range codecs {
			out = append(out, combo{acks: acks, codec: codec, idem: idem && acks == -1})
		}
	}
	return out
}

// ackAll returns the combos with acks=all.
func ackAll(cs []combo) []combo {
	var out []combo
	for _, c := range cs {
		if c.acks == -1 {
			out = append(out, c)
		}
	}
	return out
}

// allCodecs are the Kafka compression codecs.
var allCodecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// perCombo is how many records each combo produces: small, so the module
// stays quick, but enough for several batches.
const perCombo = 40

// plan is the data of one client test: combo i goes to partition i of the
// topic, records with offsets 0..perCombo-1, its own time range.
type plan struct {
	topic  string
	combos []combo
	recs   [][]rec // by partition
}

func newPlan(topic string, cs []combo) *plan {
	p := &plan{topic: topic, combos: cs}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range cs {
		p.recs = append(p.recs, makeRecords(fmt.Sprintf("%s-%d", topic, i), int32(i), perCombo, base.Add(time.Duration(i)*time.Minute)))
	}
	return p
}

// partitions is the topic's partition count.
func (p *plan) partitions() int32 { return int32(len(p.combos)) }

// from returns partition i's records from offset off on.
func (p *plan) from(i int, off int64) []rec { return p.recs[i][off:] }
