package broker

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// groupCollector exposes consumer groups from the replicated state (so
// every node reports them, not only the coordinator): members and
// generation per group, and per partition the committed offset and the
// lag behind the high-water mark.
type groupCollector struct {
	b                              *Broker
	members, generation, committed stateGauge
	lag                            stateGauge
}

func newGroupCollector(b *Broker) *groupCollector {
	return &groupCollector{
		b:          b,
		members:    newStateGauge("group_members", "Members of a consumer group in its current generation.", "group"),
		generation: newStateGauge("group_generation", "A consumer group's generation (bumped by every rebalance).", "group"),
		committed: newStateGauge("group_committed_offset",
			"A consumer group's committed offset in a partition: the next offset it will consume.", "group", "topic", "partition"),
		lag: newStateGauge("group_lag",
			"Records a consumer group has yet to consume in a partition: high-water mark minus committed offset.",
			"group", "topic", "partition"),
	}
}

// Describe implements prometheus.Collector.
func (c *groupCollector) Describe(ch chan<- *prometheus.Desc) {
	describeAll(ch, c.members, c.generation, c.committed, c.lag)
}

// Collect implements prometheus.Collector. It does not block on Apply.
func (c *groupCollector) Collect(ch chan<- prometheus.Metric) {
	fsm := c.b.store.FSM()
	offsets := fsm.AllGroupOffsets()
	for _, name := range fsm.GroupNames() {
		if g, ok := fsm.Group(name); ok {
			c.members.emit(ch, float64(len(g.Members)), name)
			c.generation.emit(ch, float64(g.Generation), name)
		}
		for _, o := range offsets[name] {
			part := strconv.Itoa(int(o.Partition))
			c.committed.emit(ch, float64(o.Offset), name, o.Topic, part)
			if _, end, err := fsm.Offsets(o.Topic, o.Partition); err == nil {
				c.lag.emit(ch, float64(max(end-o.Offset, 0)), name, o.Topic, part)
			}
		}
	}
}
