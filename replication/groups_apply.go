package replication

import (
	"fmt"
	"slices"

	mlog "github.com/minibroker/minibroker/log"
)

// Apply of the group commands. Each one follows the metadata rule of
// fsm.go: an entry at or below meta.Index was applied before a restart and
// is skipped; otherwise meta.Index moves to it, whether the command is
// accepted or rejected. A rejection is the entry's response and changes
// nothing else. Nothing here reads a clock, a random source or a
// partition's live log, and no result depends on map iteration order.

// CommitResult is the response to an applied CommitOffsetsCmd: one entry
// per element of its Offsets, nil where the offset is stored (or was
// already the committed one).
type CommitResult struct {
	Errors []error
}

// PartitionOffset is an offset set by ResetOffsets.
type PartitionOffset struct {
	Topic     string
	Partition int32
	Offset    int64
}

func (f *FSM) applySyncGroup(index uint64, body []byte) any {
	return applyMetaCmd(f, index, body, func(c *SyncGroupCmd) any {
		if err := ValidateGroupName(c.Group); err != nil {
			return err
		}
		var cur int32
		if g, ok := f.meta.Groups[c.Group]; ok {
			if g.IsKafka() && len(g.Members) > 0 {
				return fmt.Errorf("%w: group %s has %d Kafka (%s) members", ErrInconsistentGroupProtocol, c.Group, len(g.Members), g.ProtocolType)
			}
			cur = g.Generation
		}
		if c.Generation != cur+1 {
			return fmt.Errorf("%w: sync of group %s to generation %d, want %d", ErrIllegalGeneration, c.Group, c.Generation, cur+1)
		}
		members, err := normalizeMembers(c.Group, c.Members)
		if err != nil {
			return err
		}
		f.meta.Groups[c.Group] = &Group{
			Name: c.Group, Generation: c.Generation, Strategy: c.Strategy, Members: members, UpdatedAt: c.Timestamp,
		}
		return nil
	})
}

func (f *FSM) applyRemoveMembers(index uint64, body []byte) any {
	return applyMetaCmd(f, index, body, func(c *RemoveMembersCmd) any {
		g, ok := f.meta.Groups[c.Group]
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownGroup, c.Group)
		}
		if c.Generation != g.Generation {
			return fmt.Errorf("%w: remove members of group %s in generation %d, current is %d", ErrIllegalGeneration, c.Group, c.Generation, g.Generation)
		}
		kept := g.Members[:0]
		for _, m := range g.Members {
			if !slices.Contains(c.MemberIDs, m.ID) {
				kept = append(kept, m)
			}
		}
		if len(kept) == len(g.Members) {
			return nil // none of them was a member: nothing changes
		}
		clear(g.Members[len(kept):])
		g.Members = kept
		if len(kept) == 0 {
			g.Members = nil
		}
		if _, ok := g.Member(g.Leader); !ok {
			g.Leader = "" // a Kafka group's leader is always a member
		}
		g.UpdatedAt = c.Timestamp
		return nil
	})
}

// applyCommitOffsets checks, in this order:
//
//  1. The group name (ErrInvalidGroup); a group with members run by the
//     other coordinator (Kafka vs native, ErrInconsistentGroupProtocol);
//     for a Kafka commit with an instance id, that no other member holds
//     it (ErrFencedInstanceID).
//  2. Membership. A standalone commit (MemberID "" and Generation -1)
//     needs a group that does not exist or has no members
//     (ErrGroupNotEmpty). Any other commit needs the group
//     (ErrUnknownGroup), the member in it (ErrUnknownMember) and the
//     group's current generation (ErrIllegalGeneration).
//  3. Per partition, in Offsets order: the topic and partition exist
//     (ErrUnknownTopic, ErrUnknownPartition); a member's commit is for a
//     partition assigned to it (ErrNotAssigned; not for Kafka commits);
//     the leader's bounds name
//     this incarnation of the topic (ErrUnknownTopic); the offset is in
//     [0, high-water mark] (*mlog.OffsetRangeError); it is not below the
//     committed offset (ErrOffsetRegression; Kafka commits may go back).
//     Equal to it is a no-op.
//
// Failures of 1 and 2 reject the whole command; those of 3 only their
// partition, reported in the *CommitResult.
func (f *FSM) applyCommitOffsets(index uint64, body []byte) any {
	return applyMetaCmd(f, index, body, func(c *CommitOffsetsCmd) any {
		if err := ValidateGroupName(c.Group); err != nil {
			return err
		}
		g, exists := f.meta.Groups[c.Group]
		if exists && len(g.Members) > 0 && g.IsKafka() != c.Kafka {
			return fmt.Errorf("%w: commit to group %s (protocol type %q, %d members)", ErrInconsistentGroupProtocol, c.Group, g.ProtocolType, len(g.Members))
		}
		var member *GroupMember // nil for a standalone commit
		if c.Kafka && c.InstanceID != "" && exists {
			if holder, ok := g.staticMember(c.InstanceID); ok && holder != c.MemberID {
				return fmt.Errorf("%w: instance %q of group %s is member %q, not %q", ErrFencedInstanceID, c.InstanceID, c.Group, holder, c.MemberID)
			}
		}
		if c.MemberID == "" && c.Generation == -1 {
			if exists && len(g.Members) > 0 {
				return fmt.Errorf("%w: standalone commit to group %s, which has %d members", ErrGroupNotEmpty, c.Group, len(g.Members))
			}
		} else {
			if !exists {
				return fmt.Errorf("%w: %q (commit by member %q)", ErrUnknownGroup, c.Group, c.MemberID)
			}
			m, ok := g.Member(c.MemberID)
			if !ok {
				return fmt.Errorf("%w: %q is not a member of group %s (generation %d)", ErrUnknownMember, c.MemberID, c.Group, g.Generation)
			}
			if c.Generation != g.Generation {
				return fmt.Errorf("%w: commit by %q of group %s in generation %d, current is %d", ErrIllegalGeneration, c.MemberID, c.Group, c.Generation, g.Generation)
			}
			member = m
		}
		bounds := boundsByPartition(c.Bounds)
		res := &CommitResult{Errors: make([]error, len(c.Offsets))}
		for i, o := range c.Offsets {
			res.Errors[i] = f.commitLocked(c, member, bounds, o)
		}
		return res
	})
}

// commitLocked checks and stores one partition's commit (step 3 of
// applyCommitOffsets). f.mu is held.
func (f *FSM) commitLocked(c *CommitOffsetsCmd, member *GroupMember, bounds map[partKey]PartitionBounds, o OffsetCommit) error {
	if _, err := f.partitionLocked(o.Topic, o.Partition); err != nil {
		return err
	}
	where := fmt.Sprintf("%s/%s/%d", c.Group, o.Topic, o.Partition)
	if member != nil && !c.Kafka && !member.owns(o.Topic, o.Partition) {
		return fmt.Errorf("%w: commit by %q for %s", ErrNotAssigned, member.ID, where)
	}
	b, err := f.boundsLocked(o.Topic, o.Partition, bounds)
	if err != nil {
		return err
	}
	if o.Offset < 0 || o.Offset > b.End {
		return fmt.Errorf("replication: commit for %s: %w", where, &mlog.OffsetRangeError{Offset: o.Offset, Start: 0, End: b.End})
	}
	key := OffsetKey{c.Group, o.Topic, o.Partition}
	if cur, ok := f.meta.Offsets[key]; ok {
		if o.Offset < cur.Offset && !c.Kafka {
			return fmt.Errorf("%w: commit offset %d < committed %d for %s", ErrOffsetRegression, o.Offset, cur.Offset, where)
		}
		if o.Offset == cur.Offset {
			return nil
		}
	}
	f.meta.Offsets[key] = CommittedOffset{Offset: o.Offset, Generation: c.Generation, Metadata: o.Metadata, Timestamp: c.Timestamp}
	return nil
}

// boundsLocked returns the command's bounds for a partition the caller
// found to exist (partitionLocked). Bounds that are absent, or that the
// leader took from an earlier incarnation of the topic, give
// ErrUnknownTopic: the topic was created, deleted or re-created while the
// command was in flight. f.mu is held.
func (f *FSM) boundsLocked(topic string, partition int32, bounds map[partKey]PartitionBounds) (PartitionBounds, error) {
	b, ok := bounds[partKey{topic, partition}]
	if !ok || b.TopicIndex != f.meta.Topics[topic].CreateIndex {
		return PartitionBounds{}, fmt.Errorf("%w: %s/%d changed (created, deleted or re-created) while the request was in flight", ErrUnknownTopic, topic, partition)
	}
	return b, nil
}

// boundsByPartition indexes a command's bounds; the first entry of a
// partition wins. The map is only looked up, never iterated.
func boundsByPartition(bs []PartitionBounds) map[partKey]PartitionBounds {
	m := make(map[partKey]PartitionBounds, len(bs))
	for _, b := range bs {
		k := partKey{b.Topic, b.Partition}
		if _, ok := m[k]; !ok {
			m[k] = b
		}
	}
	return m
}

// applyResetOffsets sets a group's offsets in a topic, all or nothing. It
// returns ErrInvalidGroup, ErrGroupNotEmpty, ErrUnknownTopic,
// ErrUnknownPartition, ErrBadCommand for an unknown mode, or an
// *mlog.OffsetRangeError when a ResetToOffset offset is outside [log start,
// high-water mark]. Earliest and Latest are resolved from the bounds the
// leader stamped (see PartitionBounds).
func (f *FSM) applyResetOffsets(index uint64, body []byte) any {
	return applyMetaCmd(f, index, body, func(c *ResetOffsetsCmd) any {
		if err := ValidateGroupName(c.Group); err != nil {
			return err
		}
		if g, ok := f.meta.Groups[c.Group]; ok && len(g.Members) > 0 {
			return fmt.Errorf("%w: reset of group %s, which has %d members", ErrGroupNotEmpty, c.Group, len(g.Members))
		}
		t, ok := f.meta.Topics[c.Topic]
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownTopic, c.Topic)
		}
		parts := slices.Clone(c.Partitions)
		if len(parts) == 0 {
			for p := int32(0); p < t.Partitions; p++ {
				parts = append(parts, p)
			}
		}
		slices.Sort(parts)
		parts = slices.Compact(parts)
		if c.Mode != ResetEarliest && c.Mode != ResetLatest && c.Mode != ResetToOffset {
			return fmt.Errorf("%w: reset mode %d", ErrBadCommand, c.Mode)
		}
		bounds := boundsByPartition(c.Bounds)
		out := make([]PartitionOffset, 0, len(parts))
		for _, p := range parts {
			if _, err := f.partitionLocked(c.Topic, p); err != nil {
				return err
			}
			b, err := f.boundsLocked(c.Topic, p, bounds)
			if err != nil {
				return err
			}
			off := c.Offset
			switch c.Mode {
			case ResetEarliest:
				off = b.Start
			case ResetLatest:
				off = b.End
			}
			if off < b.Start || off > b.End {
				return fmt.Errorf("replication: reset of %s/%s/%d: %w", c.Group, c.Topic, p, &mlog.OffsetRangeError{Offset: off, Start: b.Start, End: b.End})
			}
			out = append(out, PartitionOffset{Topic: c.Topic, Partition: p, Offset: off})
		}
		for _, po := range out {
			f.meta.Offsets[OffsetKey{c.Group, po.Topic, po.Partition}] = CommittedOffset{Offset: po.Offset, Generation: -1, Timestamp: c.Timestamp}
		}
		return out
	})
}

// applyDeleteGroup removes a group without members and every offset it
// committed. A group known only by its committed offsets (standalone
// commits, resets) can be deleted too.
func (f *FSM) applyDeleteGroup(index uint64, body []byte) any {
	return applyMetaCmd(f, index, body, func(c *DeleteGroupCmd) any {
		g, ok := f.meta.Groups[c.Group]
		if ok && len(g.Members) > 0 {
			return fmt.Errorf("%w: delete of group %s, which has %d members", ErrGroupNotEmpty, c.Group, len(g.Members))
		}
		found := ok
		for k := range f.meta.Offsets { // the result does not depend on map order
			if k.Group == c.Group {
				delete(f.meta.Offsets, k)
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%w: %q", ErrUnknownGroup, c.Group)
		}
		delete(f.meta.Groups, c.Group)
		return nil
	})
}

// applyMetaCmd applies a metadata command of type C: it follows the replay
// rule (an entry at or below meta.Index is already in the state and is
// skipped), decodes the body, and runs fn under f.mu with meta.Index set.
func applyMetaCmd[C any](f *FSM, index uint64, body []byte, fn func(c *C) any) any {
	if index <= f.meta.Index {
		return nil
	}
	var c C
	if err := decodeBody(body, &c); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.meta.Index = index
	return fn(&c)
}
