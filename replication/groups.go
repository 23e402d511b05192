package replication

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
)

// Consumer groups. The broker's group coordinator runs on the Raft leader:
// it tracks heartbeats in memory and proposes only the results of
// membership changes (SyncGroupCmd after a rebalance, RemoveMembersCmd when
// a session expires or a member leaves). The replicated state is therefore
// the group's current generation, members and assignment, against which
// Apply fences offset commits (CommitOffsetsCmd): a commit from a member
// that was removed, from an old generation, or for a partition that is not
// the member's, is refused on every replica alike.

// TopicPartitions is a set of partitions of one topic.
type TopicPartitions struct {
	Topic      string  `msgpack:"t"`
	Partitions []int32 `msgpack:"p"`
}

// GroupMember is one member of a group as of its last rebalance.
type GroupMember struct {
	ID                 string            `msgpack:"id"`
	ClientID           string            `msgpack:"c"`
	ClientHost         string            `msgpack:"h"`
	Topics             []string          `msgpack:"tp"` // subscription, sorted
	SessionTimeoutMs   int32             `msgpack:"st"`
	RebalanceTimeoutMs int32             `msgpack:"rt"`
	Assignment         []TopicPartitions `msgpack:"a"` // sorted by topic, partitions ascending
	// Kafka groups only (Group.ProtocolType set); empty for native ones.
	InstanceID      string `msgpack:"i,omitempty"`  // group.instance.id of a static member
	Metadata        []byte `msgpack:"md,omitempty"` // subscription metadata for the group's protocol
	AssignmentBytes []byte `msgpack:"ab,omitempty"` // the assignment the leader member gave it, as sent
}

// Group is a consumer group's replicated state.
type Group struct {
	Name       string        `msgpack:"n"`
	Generation int32         `msgpack:"g"` // 0 = never synced
	Strategy   string        `msgpack:"s"` // native: the assignor; Kafka: the protocol name chosen
	Members    []GroupMember `msgpack:"m"` // sorted by ID; empty = group has no members
	UpdatedAt  int64         `msgpack:"u"` // leader-stamped ms of the last change
	// ProtocolType is "" for a native group and the Kafka protocol type
	// ("consumer", "connect", ...) for a group run over the Kafka protocol
	// (KafkaGroupCmd). Leader is a Kafka group's leader member id.
	ProtocolType string `msgpack:"pt,omitempty"`
	Leader       string `msgpack:"l,omitempty"`
}

// IsKafka reports whether the group is run by the Kafka coordinator.
func (g *Group) IsKafka() bool { return g.ProtocolType != "" }

// MaxGroupNameLen bounds group names, like MaxTopicNameLen topic names.
const MaxGroupNameLen = MaxTopicNameLen

// Member returns the member with this id. The pointer is into g. It
// relies on Members being sorted by ID, as the FSM keeps them.
func (g *Group) Member(id string) (*GroupMember, bool) {
	i, ok := slices.BinarySearchFunc(g.Members, id, func(m GroupMember, id string) int { return cmp.Compare(m.ID, id) })
	if !ok {
		return nil, false
	}
	return &g.Members[i], true
}

// Owner returns the id of the member that the current assignment gives the
// partition to. It relies on the assignments being sorted, as the FSM keeps
// them.
func (g *Group) Owner(topic string, partition int32) (memberID string, ok bool) {
	for i := range g.Members {
		if g.Members[i].owns(topic, partition) {
			return g.Members[i].ID, true
		}
	}
	return "", false
}

// owns reports whether the member's assignment holds the partition.
func (m *GroupMember) owns(topic string, partition int32) bool {
	i, ok := slices.BinarySearchFunc(m.Assignment, topic, func(tp TopicPartitions, t string) int { return cmp.Compare(tp.Topic, t) })
	if !ok {
		return false
	}
	_, ok = slices.BinarySearch(m.Assignment[i].Partitions, partition)
	return ok
}

// clone returns a deep copy. Empty slices become nil, so that equal groups
// always encode to the same bytes.
func (g *Group) clone() *Group {
	c := *g
	c.Members = nil
	for _, m := range g.Members {
		c.Members = append(c.Members, m.clone())
	}
	return &c
}

func (m GroupMember) clone() GroupMember {
	m.Topics = cloneOrNil(m.Topics)
	m.Metadata = cloneOrNil(m.Metadata)
	m.AssignmentBytes = cloneOrNil(m.AssignmentBytes)
	a := m.Assignment
	m.Assignment = nil
	for _, tp := range a {
		m.Assignment = append(m.Assignment, TopicPartitions{Topic: tp.Topic, Partitions: cloneOrNil(tp.Partitions)})
	}
	return m
}

func cloneOrNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// ValidateGroupName checks a group name (the topic name rule, up to
// MaxGroupNameLen); the error wraps ErrInvalidGroup. It does not block.
func ValidateGroupName(name string) error {
	return validateName(name, MaxGroupNameLen, ErrInvalidGroup)
}

// ValidateTopicName checks a topic name as CreateTopic does: 1 to
// MaxTopicNameLen characters of [a-zA-Z0-9._-], not "." or "..". It
// returns nil or an error wrapping ErrInvalidTopic.
func ValidateTopicName(name string) error {
	return validateName(name, MaxTopicNameLen, ErrInvalidTopic)
}

// normalizeMembers returns a deep copy of ms in canonical form: sorted by
// id, subscriptions sorted without duplicates, assignments merged per
// topic, sorted, without duplicates. It returns an error wrapping
// ErrBadCommand for an empty or repeated member id, an empty topic, a
// negative partition, or a partition assigned to two members. It is
// deterministic: the same input gives the same output on every replica.
func normalizeMembers(group string, ms []GroupMember) ([]GroupMember, error) {
	out := make([]GroupMember, 0, len(ms))
	for _, m := range ms {
		if m.ID == "" {
			return nil, fmt.Errorf("%w: sync group %s: empty member id", ErrBadCommand, group)
		}
		m = m.clone()
		slices.Sort(m.Topics)
		m.Topics = slices.Compact(m.Topics)
		m.Assignment = normalizeAssignment(m.Assignment)
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b GroupMember) int { return cmp.Compare(a.ID, b.ID) })
	owner := map[partKey]string{} // only looked up, never iterated
	for i, m := range out {
		if i > 0 && out[i-1].ID == m.ID {
			return nil, fmt.Errorf("%w: sync group %s: member %q listed twice", ErrBadCommand, group, m.ID)
		}
		for _, tp := range m.Assignment {
			if tp.Topic == "" {
				return nil, fmt.Errorf("%w: sync group %s: member %q is assigned a topic with an empty name", ErrBadCommand, group, m.ID)
			}
			for _, p := range tp.Partitions {
				if p < 0 {
					return nil, fmt.Errorf("%w: sync group %s: member %q is assigned partition %s/%d", ErrBadCommand, group, m.ID, tp.Topic, p)
				}
				k := partKey{tp.Topic, p}
				if other, ok := owner[k]; ok {
					return nil, fmt.Errorf("%w: sync group %s: partition %s/%d assigned to both %q and %q", ErrBadCommand, group, tp.Topic, p, other, m.ID)
				}
				owner[k] = m.ID
			}
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// normalizeAssignment merges entries of the same topic and sorts topics and
// partitions, dropping repeats. It takes ownership of a.
func normalizeAssignment(a []TopicPartitions) []TopicPartitions {
	slices.SortStableFunc(a, func(x, y TopicPartitions) int { return cmp.Compare(x.Topic, y.Topic) })
	var out []TopicPartitions
	for _, tp := range a {
		if n := len(out); n > 0 && out[n-1].Topic == tp.Topic {
			out[n-1].Partitions = append(out[n-1].Partitions, tp.Partitions...)
		} else {
			out = append(out, TopicPartitions{Topic: tp.Topic, Partitions: slices.Clone(tp.Partitions)})
		}
	}
	for i := range out {
		slices.Sort(out[i].Partitions)
		out[i].Partitions = cloneOrNil(slices.Compact(out[i].Partitions))
	}
	return out
}

// sortedGroups returns deep copies of the groups, ordered by name.
func (m *metaState) sortedGroups() []*Group {
	out := make([]*Group, 0, len(m.Groups))
	for _, g := range m.Groups {
		out = append(out, g.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
