package broker

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minibroker/minibroker/replication"
)

// Scrape-time collectors: each reads one part of the broker's state when
// /metrics is scraped, so nothing is maintained on the request path. To
// expose more state (consumer-group lag, say), write another collector in
// this style (a stateGauge per family, Describe and Collect over them) and
// register it in newMetrics.

// stateGauge is one gauge family read at scrape time.
type stateGauge struct{ desc *prometheus.Desc }

func newStateGauge(name, help string, labels ...string) stateGauge {
	return stateGauge{prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", name), help, labels, nil)}
}

// emit sends one sample of g to ch.
func (g stateGauge) emit(ch chan<- prometheus.Metric, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v, labels...)
}

// describeAll sends every family's descriptor to ch.
func describeAll(ch chan<- *prometheus.Desc, gauges ...stateGauge) {
	for _, g := range gauges {
		ch <- g.desc
	}
}

// raftCollector exposes this node's Raft state from replication.Node.Stats
// and its readiness.
type raftCollector struct {
	b                                                         *Broker
	isLeader, ready, term, commit, applied, lastLog, snapshot stateGauge
	peers                                                     stateGauge
}

func newRaftCollector(b *Broker) *raftCollector {
	return &raftCollector{
		b:        b,
		isLeader: newStateGauge("raft_is_leader", "1 if this node is the Raft leader, else 0."),
		ready: newStateGauge("ready",
			"1 if this node is ready to serve (it knows a leader; as leader it has applied its predecessors' entries), else 0; as /readyz."),
		term:     newStateGauge("raft_term", "This node's current Raft term."),
		commit:   newStateGauge("raft_commit_index", "The highest Raft log index this node knows to be committed."),
		applied:  newStateGauge("raft_applied_index", "The highest Raft log index applied to this node's state machine."),
		lastLog:  newStateGauge("raft_last_log_index", "The index of the last entry in this node's Raft log."),
		snapshot: newStateGauge("raft_last_snapshot_index", "The Raft log index of this node's latest snapshot."),
		peers:    newStateGauge("raft_peers", "Other voters in the Raft configuration this node knows."),
	}
}

func (c *raftCollector) gauges() []stateGauge {
	return []stateGauge{c.isLeader, c.ready, c.term, c.commit, c.applied, c.lastLog, c.snapshot, c.peers}
}

// Describe implements prometheus.Collector.
func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) { describeAll(ch, c.gauges()...) }

// Collect implements prometheus.Collector. It does not block on Raft.
func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.store.Node().Stats()
	ready, _ := c.b.readiness()
	c.isLeader.emit(ch, boolGauge(st.State == "Leader"))
	c.ready.emit(ch, boolGauge(ready))
	c.term.emit(ch, float64(st.Term))
	c.commit.emit(ch, float64(st.CommitIndex))
	c.applied.emit(ch, float64(st.AppliedIndex))
	c.lastLog.emit(ch, float64(st.LastLogIndex))
	c.snapshot.emit(ch, float64(st.LastSnapshotIndex))
	c.peers.emit(ch, float64(st.NumPeers))
}

func boolGauge(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// partitionCollector exposes each partition's size and offsets as this
// node's state machine has them.
type partitionCollector struct {
	b                  *Broker
	size, start, water stateGauge
}

func newPartitionCollector(b *Broker) *partitionCollector {
	return &partitionCollector{
		b:     b,
		size:  newStateGauge("partition_size_bytes", "Size of a partition's log segments on this node.", "topic", "partition"),
		start: newStateGauge("partition_start_offset", "First offset still stored in a partition.", "topic", "partition"),
		water: newStateGauge("partition_high_watermark",
			"Offset the next record appended to a partition will get (its committed end, as applied on this node).",
			"topic", "partition"),
	}
}

// Describe implements prometheus.Collector.
func (c *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, c.size, c.start, c.water)
}

// Collect implements prometheus.Collector. It does not block on Apply.
func (c *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	var buf [64]replication.PartitionStat
	for _, p := range c.b.store.FSM().PartitionStats(buf[:0]) {
		part := strconv.Itoa(int(p.Partition))
		c.size.emit(ch, float64(p.SizeBytes), p.Topic, part)
		c.start.emit(ch, float64(p.StartOffset), p.Topic, part)
		c.water.emit(ch, float64(p.HighWatermark), p.Topic, part)
	}
}

// Compile-time checks.
var (
	_ prometheus.Collector = (*raftCollector)(nil)
	_ prometheus.Collector = (*partitionCollector)(nil)
)
