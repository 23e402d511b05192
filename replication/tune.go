package replication

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
