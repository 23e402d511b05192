package replication

import (
	"cmp"
	"slices"
)

// Reads of consumer-group state. Like the rest of the read side (see
// fsm_read.go) they are safe for concurrent use with Apply, serve applied
// state only, never block on raft, and return deep copies the caller may
// keep and modify. On a follower, or a leader that has not confirmed its
// leadership (Store.VerifyLeader), the state may be stale.

// GroupOffset is a group's committed offset for one partition.
type GroupOffset struct {
	Topic     string
	Partition int32
	CommittedOffset
}

// Group returns a copy of a group's membership state. A group known only
// by committed offsets (standalone commits) has no Group: see GroupNames.
func (f *FSM) Group(name string) (Group, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	g, ok := f.meta.Groups[name]
	if !ok {
		return Group{}, false
	}
	return *g.clone(), true
}

// Groups returns a copy of every group's membership state, sorted by name.
func (f *FSM) Groups() []Group {
	f.mu.RLock()
	defer f.mu.RUnlock()
	gs := f.meta.sortedGroups() // already copies
	out := make([]Group, len(gs))
	for i, g := range gs {
		out[i] = *g
	}
	return out
}

// GroupOffsets returns a group's committed offsets, sorted by topic and
// partition; none for an unknown group. It scans every committed offset
// (AllGroupOffsets does one scan for every group).
func (f *FSM) GroupOffsets(group string) []GroupOffset {
	f.mu.RLock()
	var out []GroupOffset
	for k, v := range f.meta.Offsets {
		if k.Group == group {
			out = append(out, GroupOffset{Topic: k.Topic, Partition: k.Partition, CommittedOffset: v})
		}
	}
	f.mu.RUnlock()
	sortGroupOffsets(out)
	return out
}

// AllGroupOffsets returns every group's committed offsets, by group, each
// sorted by topic and partition, from one scan under the read lock. Safe
// for concurrent use; it does not block on Apply.
func (f *FSM) AllGroupOffsets() map[string][]GroupOffset {
	out := make(map[string][]GroupOffset)
	f.mu.RLock()
	for k, v := range f.meta.Offsets {
		out[k.Group] = append(out[k.Group], GroupOffset{Topic: k.Topic, Partition: k.Partition, CommittedOffset: v})
	}
	f.mu.RUnlock()
	for _, offs := range out {
		sortGroupOffsets(offs)
	}
	return out
}

// sortGroupOffsets sorts offsets by topic and partition.
func sortGroupOffsets(offs []GroupOffset) {
	slices.SortFunc(offs, func(a, b GroupOffset) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
}

// GroupNames returns the name of every group that has membership state or
// any committed offset, sorted.
func (f *FSM) GroupNames() []string {
	f.mu.RLock()
	seen := make(map[string]struct{}, len(f.meta.Groups))
	for name := range f.meta.Groups {
		seen[name] = struct{}{}
	}
	for k := range f.meta.Offsets {
		seen[k.Group] = struct{}{}
	}
	f.mu.RUnlock()
	out := make([]string, 0, len(seen))
	for name := range seen {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// partitionBounds returns a partition's PartitionBounds as of the state
// applied now, or false if there is no such partition.
func (f *FSM) partitionBounds(topic string, partition int32) (PartitionBounds, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	p, err := f.partitionLocked(topic, partition)
	if err != nil {
		return PartitionBounds{}, false
	}
	// p is in f.parts, so its log is open: Apply closes a log only after
	// taking it out of f.parts under f.mu.
	return PartitionBounds{
		Topic: topic, Partition: partition, TopicIndex: f.meta.Topics[topic].CreateIndex,
		Start: p.log.StartOffset(), End: p.log.NextOffset(),
	}, true
}
