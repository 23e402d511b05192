package broker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/minibroker/minibroker/internal/wire"
)

// Metric names start with this prefix; units are seconds and bytes.
const metricsNamespace = "minibroker"

// The acks label's values, indexed by acksSlot.
const (
	acksSlotNone = iota
	acksSlotLeader
	acksSlotAll
	acksSlotInvalid
	numAcksSlots
)

var acksLabels = [numAcksSlots]string{"0", "1", "all", "invalid"}

// acksSlot maps a ProduceRequest's Acks to its label slot.
func acksSlot(a int8) int {
	switch a {
	case wire.AcksNone:
		return acksSlotNone
	case wire.AcksLeader:
		return acksSlotLeader
	case wire.AcksAll:
		return acksSlotAll
	}
	return acksSlotInvalid
}

// codeLabel is a result code's label value: "OK" for success, else the
// code's name (e.g. "NotLeader").
func codeLabel(c wire.Code) string {
	if c == wire.CodeNone {
		return "OK"
	}
	return c.String()
}

// apiLabel is an API key's label value: its name, or "unknown" for a key
// this build does not know (so garbage cannot create label values).
func apiLabel(k wire.APIKey) string {
	if _, ok := wire.Versions(k); !ok {
		return "unknown"
	}
	return k.String()
}

// latencyBuckets spans 100µs to 30s (Fetch long polls wait up to
// MaxFetchWait, 30s by default).
var latencyBuckets = []float64{
	.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30,
}

// metrics is one Broker's instrumentation, registered in its own registry
// (never the global one: several brokers may share a process). Counters on
// the request path are resolved once, so a request costs a few atomic
// adds and no allocation when it succeeds. Values read from the node's
// state (Raft, partitions) are collected at scrape time by the collectors
// in metrics_collect.go. All fields are set by newMetrics and read-only
// after; the metric values themselves are safe for concurrent use.
type metrics struct {
	reg *prometheus.Registry

	produceRequests *prometheus.CounterVec // by acks and code
	produceOK       [numAcksSlots]prometheus.Counter
	produceRecords  prometheus.Counter
	produceBytes    prometheus.Counter
	produceLatency  [numAcksSlots]prometheus.Observer

	fetchRequests *prometheus.CounterVec // by code
	fetchOK       prometheus.Counter
	fetchRecords  prometheus.Counter
	fetchBytes    prometheus.Counter
	fetchLatency  prometheus.Observer

	connsOpen     prometheus.Gauge
	connsAccepted prometheus.Counter
	requestErrors *prometheus.CounterVec // by api and code

	authFailures *prometheus.CounterVec // by listener (native, kafka) and mechanism
}

// newMetrics creates b's metrics and registry, with the Go runtime and
// process collectors and the scrape-time collectors of b's state.
func newMetrics(b *Broker) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: metricsNamespace, Name: name, Help: help})
		m.reg.MustRegister(c)
		return c
	}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}

	m.produceRequests = counterVec("produce_requests_total",
		"Produce requests answered, by acks (0, 1, all, invalid) and result code (OK or the error code's name).",
		"acks", "code")
	produceLatency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Name: "produce_duration_seconds",
		Help:    "Time from reading a Produce request to writing its response, by acks (for acks=0: until handed to Raft).",
		Buckets: latencyBuckets,
	}, []string{"acks"})
	m.reg.MustRegister(produceLatency)
	for i, a := range acksLabels {
		m.produceOK[i] = m.produceRequests.WithLabelValues(a, codeLabel(wire.CodeNone))
		m.produceLatency[i] = produceLatency.WithLabelValues(a)
	}
	m.produceRecords = counter("produce_records_total",
		"Records appended by successful Produce requests (for acks=0: handed to Raft).")
	m.produceBytes = counter("produce_bytes_total",
		"Bytes of record batches appended by successful Produce requests, as stored in the log.")

	m.fetchRequests = counterVec("fetch_requests_total",
		"Fetch requests answered, by result code (OK or the error code's name).", "code")
	m.fetchOK = m.fetchRequests.WithLabelValues(codeLabel(wire.CodeNone))
	m.fetchRecords = counter("fetch_records_total", "Records served by Fetch requests.")
	m.fetchBytes = counter("fetch_bytes_total", "Bytes of record keys, values and headers served by Fetch requests.")
	fetchLatency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Name: "fetch_duration_seconds",
		Help:    "Time from reading a Fetch request to writing its response, long-poll wait included.",
		Buckets: latencyBuckets,
	})
	m.reg.MustRegister(fetchLatency)
	m.fetchLatency = fetchLatency

	m.connsOpen = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: metricsNamespace,
		Name: "connections_open", Help: "Client connections open now."})
	m.reg.MustRegister(m.connsOpen)
	m.connsAccepted = counter("connections_accepted_total", "Client connections accepted.")
	m.requestErrors = counterVec("request_errors_total",
		"Requests answered with an error, by API (or unknown) and error code.", "api", "code")

	m.authFailures = counterVec("auth_failures_total",
		"Failed authentications (refused SASL exchanges), by listener (native, kafka) and mechanism.",
		"listener", "mechanism")

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newRaftCollector(b),
		newPartitionCollector(b),
		newGroupCollector(b),
	)
	return m
}

// produced records a Produce request's outcome: records and bytes count
// only on success.
func (m *metrics) produced(acks int, code wire.Code, records, bytes int, start time.Time) {
	m.produceLatency[acks].Observe(time.Since(start).Seconds())
	if code != wire.CodeNone {
		m.produceRequests.WithLabelValues(acksLabels[acks], codeLabel(code)).Inc()
		m.requestError(wire.Produce, code)
		return
	}
	m.produceOK[acks].Inc()
	m.produceRecords.Add(float64(records))
	m.produceBytes.Add(float64(bytes))
}

// fetched records a Fetch request's outcome.
func (m *metrics) fetched(code wire.Code, records, bytes int, start time.Time) {
	m.fetchLatency.Observe(time.Since(start).Seconds())
	if code != wire.CodeNone {
		m.fetchRequests.WithLabelValues(codeLabel(code)).Inc()
		m.requestError(wire.Fetch, code)
		return
	}
	m.fetchOK.Inc()
	m.fetchRecords.Add(float64(records))
	m.fetchBytes.Add(float64(bytes))
}

// requestError counts a request answered with code (a no-op for success).
func (m *metrics) requestError(api wire.APIKey, code wire.Code) {
	if code != wire.CodeNone {
		m.requestErrors.WithLabelValues(apiLabel(api), codeLabel(code)).Inc()
	}
}

// Registry is the broker's Prometheus registry: the one its /metrics
// endpoint serves (when Config.MetricsAddr is set). An embedder may
// register its own collectors in it, or serve it itself. It is never the
// global registry. It does not block; safe for concurrent use.
func (b *Broker) Registry() *prometheus.Registry { return b.metrics.reg }
