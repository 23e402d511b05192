package replication

import (
	"context"
	"fmt"
	"time"
)

// Consumer-group operations of the Store, for the broker's group
// coordinator. Each runs on the ready leader only: it waits until the
// leader's FSM has applied every entry committed before its term (see
// Node.IsReady), so that what it checks against is not stale right after
// a failover, then stamps the leader's time
// (and, where offsets are checked, the partitions' bounds; see
// PartitionBounds) into the command, replicates it through raft with
// AcksAll and blocks until it is applied, returning Apply's verdict. They
// are safe for concurrent use. Besides the errors named on each, they
// return those of Store.Append: *NotLeaderError (ErrNotLeader),
// ErrOutcomeUnknown (the command may or may not be applied: re-read the
// state before retrying), ErrShutdown, ErrTimeout (also when ctx ends
// before a new leader is ready: nothing was proposed), ErrStopped, and
// ctx's error.

// SyncGroup records the result of a rebalance: the group's new generation
// (current + 1), its members and their assignment (see SyncGroupCmd).
// Errors: ErrInvalidGroup, ErrIllegalGeneration, ErrBadCommand (a member id
// twice or empty, a partition assigned twice).
func (s *Store) SyncGroup(ctx context.Context, c SyncGroupCmd) error {
	if err := ValidateGroupName(c.Group); err != nil {
		return err
	}
	if _, err := normalizeMembers(c.Group, c.Members); err != nil {
		return err
	}
	_, err := s.applyReady(ctx, CmdSyncGroup, func() any {
		c.Timestamp = time.Now().UnixMilli()
		return &c
	})
	return err
}

// RemoveMembers removes members from a group in its current generation
// (session expiry, LeaveGroup); unknown member ids are ignored. Errors:
// ErrUnknownGroup, ErrIllegalGeneration.
func (s *Store) RemoveMembers(ctx context.Context, c RemoveMembersCmd) error {
	_, err := s.applyReady(ctx, CmdRemoveMembers, func() any {
		c.Timestamp = time.Now().UnixMilli()
		return &c
	})
	return err
}

// CommitOffsets commits offsets for a group (see CommitOffsetsCmd and
// FSM.applyCommitOffsets for the rules). perPartition has one entry per
// element of c.Offsets, nil where the offset is stored; its errors are
// ErrUnknownTopic, ErrUnknownPartition, ErrNotAssigned,
// ErrOffsetOutOfRange (an *mlog.OffsetRangeError) and ErrOffsetRegression.
// err rejects the whole request: ErrInvalidGroup, ErrGroupNotEmpty (a
// standalone commit to a group with members), ErrUnknownGroup,
// ErrUnknownMember, ErrIllegalGeneration, or one of the errors above.
func (s *Store) CommitOffsets(ctx context.Context, c CommitOffsetsCmd) (perPartition []error, err error) {
	if err := ValidateGroupName(c.Group); err != nil {
		return nil, err
	}
	resp, err := s.applyReady(ctx, CmdCommitOffsets, func() any {
		c.Timestamp = time.Now().UnixMilli()
		c.Bounds = nil
		seen := make(map[partKey]bool, len(c.Offsets))
		for _, o := range c.Offsets {
			k := partKey{o.Topic, o.Partition}
			if seen[k] {
				continue
			}
			seen[k] = true
			if b, ok := s.fsm.partitionBounds(o.Topic, o.Partition); ok {
				c.Bounds = append(c.Bounds, b)
			}
		}
		return &c
	})
	if err != nil {
		return nil, err
	}
	r, ok := resp.(*CommitResult)
	if !ok || len(r.Errors) != len(c.Offsets) {
		return nil, fmt.Errorf("replication: commit offsets: unexpected response %T", resp)
	}
	return r.Errors, nil
}

// ResetOffsets sets a group's committed offsets in one topic to its log
// start (ResetEarliest), its high-water mark (ResetLatest) or c.Offset
// (ResetToOffset), backward too, and returns what it set, sorted by
// partition. Empty c.Partitions means every partition. The group must have
// no members; it need not exist. Errors: ErrInvalidGroup,
// ErrGroupNotEmpty, ErrUnknownTopic, ErrUnknownPartition, ErrBadCommand
// (unknown mode), ErrOffsetOutOfRange (an *mlog.OffsetRangeError, for
// ResetToOffset outside [log start, high-water mark]).
func (s *Store) ResetOffsets(ctx context.Context, c ResetOffsetsCmd) ([]PartitionOffset, error) {
	if err := ValidateGroupName(c.Group); err != nil {
		return nil, err
	}
	resp, err := s.applyReady(ctx, CmdResetOffsets, func() any {
		c.Timestamp = time.Now().UnixMilli()
		c.Bounds = nil
		if t, ok := s.fsm.Topic(c.Topic); ok {
			for p := int32(0); p < t.Partitions; p++ {
				if b, ok := s.fsm.partitionBounds(c.Topic, p); ok {
					c.Bounds = append(c.Bounds, b)
				}
			}
		}
		return &c
	})
	if err != nil {
		return nil, err
	}
	r, ok := resp.([]PartitionOffset)
	if !ok {
		return nil, fmt.Errorf("replication: reset offsets: unexpected response %T", resp)
	}
	return r, nil
}

// DeleteGroup deletes a group that has no members, with all its committed
// offsets. Errors: ErrInvalidGroup, ErrUnknownGroup, ErrGroupNotEmpty.
func (s *Store) DeleteGroup(ctx context.Context, group string) error {
	if err := ValidateGroupName(group); err != nil {
		return err
	}
	_, err := s.applyReady(ctx, CmdDeleteGroup, func() any { return &DeleteGroupCmd{Group: group} })
	return err
}

// applyReady replicates a command like applyCmd, but only on the ready
// leader: it waits for readiness, builds the command with body (which may
// read the FSM: it is not stale then), and builds it again if the node
// stopped being ready in that term meanwhile.
func (s *Store) applyReady(ctx context.Context, t CommandType, body func() any) (any, error) {
	for {
		term, err := s.node.awaitReady(ctx)
		if err != nil {
			return nil, err
		}
		b := body()
		if !s.node.readyIn(term) {
			continue
		}
		return s.applyCmd(ctx, t, b)
	}
}

// VerifyLeader confirms with a quorum that this node is still the leader
// and that its FSM has applied everything committed before it became
// leader; after it returns nil, reads of the FSM are not stale
// (linearizable read). See Node.VerifyLeader. Errors: ErrNotLeader
// (*NotLeaderError), ErrShutdown, ctx's error.
func (s *Store) VerifyLeader(ctx context.Context) error {
	return s.node.VerifyLeader(ctx)
}

// KafkaGroup records a Kafka group's state (see KafkaGroupCmd). Errors:
// ErrInvalidGroup, ErrBadCommand (checked before anything is proposed),
// ErrIllegalGeneration, ErrInconsistentGroupProtocol.
func (s *Store) KafkaGroup(ctx context.Context, c KafkaGroupCmd) error {
	if _, err := ValidateKafkaGroup(&c); err != nil {
		return err
	}
	_, err := s.applyReady(ctx, CmdKafkaGroup, func() any {
		c.Timestamp = time.Now().UnixMilli()
		return &c
	})
	return err
}

// DeleteOffsets deletes a group's committed offsets for the partitions
// named (see DeleteOffsetsCmd). Errors: ErrInvalidGroup, ErrGroupNotEmpty,
// ErrGroupSubscribed.
func (s *Store) DeleteOffsets(ctx context.Context, c DeleteOffsetsCmd) error {
	if err := ValidateGroupName(c.Group); err != nil {
		return err
	}
	_, err := s.applyReady(ctx, CmdDeleteOffsets, func() any { return &c })
	return err
}
