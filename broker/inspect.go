package broker

import (
	"net/http"
	"time"
)

// Read-only views of one node for dashboards (the web console) and
// in-process tools (the delivery lab). None of them blocks on Raft or on
// the network; all are safe for concurrent use.

// NodeState is this node's view of itself and of Raft at one moment.
type NodeState struct {
	ID       string
	Addr     string // advertised client address
	RaftAddr string
	// State is the Raft role: "Leader", "Follower", "Candidate" or
	// "Shutdown".
	State string
	// LeaderID is the leader this node knows of ("" during an election).
	LeaderID string
	// Ready reports whether the node serves (see /readyz); Readiness says
	// why or why not in one line.
	Ready     bool
	Readiness string
	// Raft indexes: the current term, the highest index known committed,
	// the highest applied to the state machine, and the last in the log.
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
	LastLogIndex uint64
}

// NodeState returns this node's view of itself. It does not block.
func (b *Broker) NodeState() NodeState {
	node := b.store.Node()
	st := node.Stats()
	leaderID, _ := node.Leader()
	ready, why := b.readiness()
	return NodeState{
		ID: b.id, Addr: b.addr, RaftAddr: node.RaftAddr(), State: st.State, LeaderID: leaderID,
		Ready: ready, Readiness: why, Term: st.Term, CommitIndex: st.CommitIndex,
		AppliedIndex: st.AppliedIndex, LastLogIndex: st.LastLogIndex,
	}
}

// TopicState is a topic's settings and its partitions as stored on this
// node.
type TopicState struct {
	Name           string
	RetentionBytes int64            // per partition; 0: no limit
	Retention      time.Duration    // age limit; 0: no limit
	SegmentBytes   int64            // 0: the broker's default
	Partitions     []PartitionState // sorted by partition
}

// PartitionState is one partition's size and offsets on this node.
type PartitionState struct {
	Partition     int32
	SizeBytes     int64 // total size of its segments
	StartOffset   int64 // first offset still stored
	HighWatermark int64 // offset the next applied record will get
}

// TopicStates returns every topic with its partitions' sizes and offsets
// on this node (a follower may trail the leader by a moment), sorted by
// name. It does not block on Apply.
func (b *Broker) TopicStates() []TopicState {
	fsm := b.store.FSM()
	topics := fsm.Topics()
	out := make([]TopicState, 0, len(topics))
	index := map[string]int{}
	for _, t := range topics {
		index[t.Name] = len(out)
		out = append(out, TopicState{
			Name: t.Name, RetentionBytes: t.Config.RetentionBytes,
			Retention: time.Duration(t.Config.RetentionMs) * time.Millisecond, SegmentBytes: t.Config.SegmentBytes,
		})
	}
	for _, p := range fsm.PartitionStats(nil) {
		if i, ok := index[p.Topic]; ok {
			out[i].Partitions = append(out[i].Partitions, PartitionState{
				Partition: p.Partition, SizeBytes: p.SizeBytes, StartOffset: p.StartOffset, HighWatermark: p.HighWatermark,
			})
		}
	}
	return out
}

// HealthHandler returns a handler of /metrics (Prometheus), /healthz and
// /readyz, as served on Config.MetricsAddr, for an embedder's own HTTP
// server (the web console serves them beside its pages). Each call
// returns a new handler; all of them read the same state.
func (b *Broker) HealthHandler() http.Handler { return b.healthMux() }
