package replication

import (
	"time"

	"github.com/hashicorp/raft"
)

// setTrailingLogs changes raft's TrailingLogs at run time; it takes effect
// at the next snapshot's log compaction. Errors are logged, not returned:
// the old value keeps working.
func (n *Node) setTrailingLogs(v uint64) {
	rc := n.raft.ReloadableConfig()
	if rc.TrailingLogs == v {
		return
	}
	rc.TrailingLogs = v
	if err := n.raft.ReloadConfig(rc); err != nil {
		n.logger.Warn("replication: set TrailingLogs", "value", v, "error", err)
	}
}

// meanEntrySize is the mean size in bytes of the batches applied so far by
// this process, 0 before the first.
func (f *FSM) meanEntrySize() int64 {
	n := f.appendCount.Load()
	if n == 0 {
		return 0
	}
	return f.appendBytes.Load() / n
}

// electAloneNow makes a node that is the only voter of its cluster stand
// for election at once instead of after a heartbeat timeout (a second by
// default): a single node then serves within milliseconds of starting.
// Raft re-checks its follower timer immediately when a reload shortens the
// heartbeat timeout; shortening it by a nanosecond changes nothing else.
// Best effort: on any error the node simply elects itself on the normal
// timer.
func (n *Node) electAloneNow() {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	servers := f.Configuration().Servers
	if len(servers) != 1 || string(servers[0].ID) != n.cfg.ID || servers[0].Suffrage != raft.Voter {
		return
	}
	rc := n.raft.ReloadableConfig()
	rc.HeartbeatTimeout -= time.Nanosecond
	_ = n.raft.ReloadConfig(rc)
}
