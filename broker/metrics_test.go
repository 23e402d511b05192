package broker_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/internal/wire"
)

// withMetrics serves metrics on a free loopback port.
func withMetrics(_ int, cfg *broker.Config) { cfg.MetricsAddr = "127.0.0.1:0" }

// httpGet fetches http://addr/path and returns the status and body.
func httpGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// scrape fetches /metrics over HTTP and parses it.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	status, body := httpGet(t, addr, "/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: status %d: %s", status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams
}

// value returns the value of the sample of family name whose labels
// include want (name=value pairs), and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || (l.GetName() == want[i] && l.GetValue() == want[i+1])
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// waitFor polls cond until it holds, failing the test after 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestMetricsEndpoint(t *testing.T) {
	b := brokertest.NewCluster(t, 1, withMetrics).Broker(0)
	addr := b.MetricsAddr()
	if host, port, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("MetricsAddr() = %q", addr)
	}
	if status, body := httpGet(t, addr, "/healthz"); status != http.StatusOK {
		t.Fatalf("/healthz: %d %s", status, body)
	}
	if status, body := httpGet(t, addr, "/readyz"); status != http.StatusOK || !strings.Contains(body, "leader") {
		t.Fatalf("/readyz on a ready single node: %d %q", status, body)
	}

	c := dialRaw(t, b.Addr())
	var ct wire.CreateTopicResponse
	c.call(wire.CreateTopic, &wire.CreateTopicRequest{Name: "t", Partitions: 2}, &ct)
	for _, acks := range []int8{wire.AcksAll, wire.AcksAll, wire.AcksLeader} {
		var pr wire.ProduceResponse
		c.call(wire.Produce, &wire.ProduceRequest{Topic: "t", Partition: 1, Acks: acks, Records: records("a", "bb")}, &pr)
		if pr.ErrorCode != wire.CodeNone {
			t.Fatalf("produce: %+v", pr)
		}
	}
	var pr wire.ProduceResponse
	c.call(wire.Produce, &wire.ProduceRequest{Topic: "nope", Acks: wire.AcksAll, Records: records("x")}, &pr)
	if pr.ErrorCode != wire.CodeUnknownTopic {
		t.Fatalf("produce to a missing topic: %+v", pr)
	}
	// acks=1 returns before the entry is applied: wait for the FSM.
	var fr wire.FetchResponse
	waitFor(t, "all 6 records applied", func() bool {
		c.call(wire.Fetch, &wire.FetchRequest{Topic: "t", Partition: 1, Offset: 0, MaxBytes: 1 << 20}, &fr)
		return fr.HighWatermark == 6
	})

	fams := scrape(t, addr)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"minibroker_produce_requests_total", []string{"acks", "all", "code", "OK"}, 2},
		{"minibroker_produce_requests_total", []string{"acks", "1", "code", "OK"}, 1},
		{"minibroker_produce_requests_total", []string{"acks", "all", "code", "UnknownTopic"}, 1},
		{"minibroker_produce_records_total", nil, 6},
		{"minibroker_produce_duration_seconds", []string{"acks", "all"}, 3},
		{"minibroker_request_errors_total", []string{"api", "Produce", "code", "UnknownTopic"}, 1},
		{"minibroker_connections_open", nil, 1},
		{"minibroker_connections_accepted_total", nil, 1},
		{"minibroker_raft_is_leader", nil, 1},
		{"minibroker_ready", nil, 1},
		{"minibroker_raft_peers", nil, 0},
		{"minibroker_partition_high_watermark", []string{"topic", "t", "partition", "1"}, 6},
		{"minibroker_partition_high_watermark", []string{"topic", "t", "partition", "0"}, 0},
		{"minibroker_partition_start_offset", []string{"topic", "t", "partition", "1"}, 0},
	} {
		if got, ok := value(fams, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	for _, name := range []string{"minibroker_produce_bytes_total", "minibroker_fetch_requests_total",
		"minibroker_fetch_records_total", "minibroker_fetch_bytes_total", "minibroker_raft_term",
		"minibroker_raft_commit_index", "minibroker_raft_applied_index", "minibroker_raft_last_log_index"} {
		if v, ok := value(fams, name); !ok || v <= 0 {
			t.Errorf("%s = %v (present %v), want > 0", name, v, ok)
		}
	}
	if v, ok := value(fams, "minibroker_partition_size_bytes", "topic", "t", "partition", "1"); !ok || v <= 0 {
		t.Errorf("partition_size_bytes of t/1 = %v (present %v), want > 0", v, ok)
	}
	if _, ok := fams["minibroker_fetch_duration_seconds"]; !ok {
		t.Error("no fetch latency histogram")
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	if _, ok := fams["process_start_time_seconds"]; !ok && processMetricsSupported() {
		t.Error("no process metrics")
	}
	for _, f := range fams {
		if f.GetHelp() == "" {
			t.Errorf("%s has no help text", f.GetName())
		}
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("metrics server still answers after Close")
	}
}

// processMetricsSupported reports whether the process collector works
// here (it needs /proc).
func processMetricsSupported() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

func TestMetricsRegistriesAreSeparate(t *testing.T) {
	c := brokertest.NewCluster(t, 1, withMetrics)
	other := brokertest.NewCluster(t, 1, withMetrics).Broker(0)
	if c.Broker(0).Registry() == other.Registry() {
		t.Fatal("two brokers share a registry")
	}
	raw := dialRaw(t, c.Broker(0).Addr())
	var ct wire.CreateTopicResponse
	raw.call(wire.CreateTopic, &wire.CreateTopicRequest{Name: "t", Partitions: 1}, &ct)
	var pr wire.ProduceResponse
	raw.call(wire.Produce, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll, Records: records("a")}, &pr)
	if v, _ := value(scrape(t, other.MetricsAddr()), "minibroker_produce_records_total"); v != 0 {
		t.Fatalf("the other broker counted %v records", v)
	}
	if v, _ := value(scrape(t, c.Broker(0).MetricsAddr()), "minibroker_produce_records_total"); v != 1 {
		t.Fatalf("the broker counted %v records, want 1", v)
	}
}

func TestMetricsOffByDefault(t *testing.T) {
	b := brokertest.NewBroker(t)
	if b.MetricsAddr() != "" {
		t.Fatalf("MetricsAddr() = %q without Config.MetricsAddr", b.MetricsAddr())
	}
	if b.Registry() == nil {
		t.Fatal("no registry")
	}
}

func TestMetricsAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := brokertest.Config(t, 0)
	cfg.MetricsAddr = ln.Addr().String()
	if b, err := broker.Start(cfg); err == nil {
		b.Close()
		t.Fatal("Start succeeded on a busy metrics port")
	}
	cfg.MetricsAddr = "nonsense"
	if _, err := broker.Start(cfg); !errors.Is(err, broker.ErrInvalidConfig) {
		t.Fatalf("Start with MetricsAddr %q = %v", cfg.MetricsAddr, err)
	}
}

func TestReadyzOnEveryNode(t *testing.T) {
	c := brokertest.NewCluster(t, 3, withMetrics)
	lead := c.WaitLeader()
	for i := range c.Len() {
		b := c.Broker(i)
		waitFor(t, "readyz 200 on every node", func() bool {
			status, _ := httpGet(t, b.MetricsAddr(), "/readyz")
			return status == http.StatusOK
		})
		if v, _ := value(scrape(t, b.MetricsAddr()), "minibroker_raft_is_leader"); (v == 1) != (i == lead) {
			t.Errorf("node %d: raft_is_leader %v, leader is %d", i, v, lead)
		}
	}
	if v, _ := value(scrape(t, c.Broker(lead).MetricsAddr()), "minibroker_raft_peers"); v != 2 {
		t.Errorf("leader's raft_peers = %v, want 2", v)
	}
	c.VerifyReplicas()
}

func TestMetricsGroupLag(t *testing.T) {
	b := brokertest.NewCluster(t, 1, withMetrics).Broker(0)
	c := dialRaw(t, b.Addr())
	createTopic(t, c, "t", 2)
	produceN(t, c, "t", 0, 10)
	j := c.join(joinReq("g", "", "t"))
	if r := c.commit("g", j.MemberID, j.Generation, wire.OffsetCommit{Topic: "t", Partition: 0, Offset: 4}); r.Results[0].ErrorCode != 0 {
		t.Fatalf("commit: %+v", r)
	}
	fams := scrape(t, b.MetricsAddr())
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"minibroker_group_members", []string{"group", "g"}, 1},
		{"minibroker_group_generation", []string{"group", "g"}, 1},
		{"minibroker_group_committed_offset", []string{"group", "g", "topic", "t", "partition", "0"}, 4},
		{"minibroker_group_lag", []string{"group", "g", "topic", "t", "partition", "0"}, 6},
	} {
		if got, ok := value(fams, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}
