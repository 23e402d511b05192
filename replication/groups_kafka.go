package replication

import (
	"cmp"
	"fmt"
	"slices"
)

// Kafka groups: groups run by the Kafka coordinator (package kafka) with
// Kafka's classic protocol. They share Group, the committed offsets and
// the admin operations with native groups; Group.ProtocolType tells them
// apart. See KafkaGroupCmd and DeleteOffsetsCmd.

// Limits of KafkaGroupCmd fields.
const (
	MaxKafkaGroupMembers   = 10000
	MaxKafkaProtocolLen    = 255     // protocol type and name
	MaxKafkaMemberIDLen    = 1024    // member and instance ids
	MaxKafkaMemberBytesLen = 1 << 20 // metadata and assignment bytes, each
)

// staticMember returns the id of the member holding a group.instance.id.
func (g *Group) staticMember(instanceID string) (string, bool) {
	for i := range g.Members {
		if g.Members[i].InstanceID == instanceID {
			return g.Members[i].ID, true
		}
	}
	return "", false
}

// ValidateKafkaGroup checks a KafkaGroupCmd on its own (not against the
// state) and returns its members in canonical form (see normalizeMembers).
// Errors wrap ErrInvalidGroup or ErrBadCommand. It does not block and is
// deterministic.
func ValidateKafkaGroup(c *KafkaGroupCmd) ([]GroupMember, error) {
	if err := ValidateGroupName(c.Group); err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: kafka group %s: %s", ErrBadCommand, c.Group, fmt.Sprintf(format, args...))
	}
	switch {
	case c.ProtocolType == "" || len(c.ProtocolType) > MaxKafkaProtocolLen:
		return nil, bad("protocol type %q", c.ProtocolType)
	case len(c.Protocol) > MaxKafkaProtocolLen:
		return nil, bad("protocol name of %d bytes", len(c.Protocol))
	case c.Generation < 0:
		return nil, bad("generation %d", c.Generation)
	case len(c.Members) > MaxKafkaGroupMembers:
		return nil, bad("%d members", len(c.Members))
	case len(c.Members) == 0 && c.Leader != "":
		return nil, bad("leader %q without members", c.Leader)
	case len(c.Members) > 0 && (c.Protocol == "" || c.Generation == 0):
		return nil, bad("members without a protocol or generation")
	}
	for _, m := range c.Members {
		switch {
		case len(m.ID) > MaxKafkaMemberIDLen || len(m.InstanceID) > MaxKafkaMemberIDLen:
			return nil, bad("member id or instance id too long")
		case len(m.Metadata) > MaxKafkaMemberBytesLen || len(m.AssignmentBytes) > MaxKafkaMemberBytesLen:
			return nil, bad("member %q: metadata or assignment too large", m.ID)
		case m.SessionTimeoutMs <= 0 || m.RebalanceTimeoutMs <= 0:
			return nil, bad("member %q: timeouts %d/%d ms", m.ID, m.SessionTimeoutMs, m.RebalanceTimeoutMs)
		}
	}
	members, err := normalizeMembers(c.Group, c.Members)
	if err != nil {
		return nil, err
	}
	var inst []string
	for _, m := range members {
		if m.InstanceID != "" {
			inst = append(inst, m.InstanceID)
		}
	}
	slices.Sort(inst)
	for i := 1; i < len(inst); i++ {
		if inst[i] == inst[i-1] {
			return nil, bad("instance id %q held by two members", inst[i])
		}
	}
	if len(members) > 0 {
		if _, ok := slices.BinarySearchFunc(members, c.Leader, func(m GroupMember, id string) int { return cmp.Compare(m.ID, id) }); !ok {
			return nil, bad("leader %q is not a member", c.Leader)
		}
	}
	return members, nil
}

func (f *FSM) applyKafkaGroup(index uint64, body []byte) any {
	return applyMetaCmd(f, index, body, func(c *KafkaGroupCmd) any {
		members, err := ValidateKafkaGroup(c)
		if err != nil {
			return err
		}
		if g, ok := f.meta.Groups[c.Group]; ok {
			if len(g.Members) > 0 && g.ProtocolType != c.ProtocolType {
				return fmt.Errorf("%w: group %s has %d members of protocol type %q, not %q", ErrInconsistentGroupProtocol, c.Group, len(g.Members), g.ProtocolType, c.ProtocolType)
			}
			if c.Generation < g.Generation {
				return fmt.Errorf("%w: kafka group %s to generation %d, current is %d", ErrIllegalGeneration, c.Group, c.Generation, g.Generation)
			}
		}
		f.meta.Groups[c.Group] = &Group{
			Name: c.Group, Generation: c.Generation, Strategy: c.Protocol, Members: members,
			UpdatedAt: c.Timestamp, ProtocolType: c.ProtocolType, Leader: c.Leader,
		}
		return nil
	})
}

func (f *FSM) applyDeleteOffsets(index uint64, body []byte) any {
	return applyMetaCmd(f, index, body, func(c *DeleteOffsetsCmd) any {
		if err := ValidateGroupName(c.Group); err != nil {
			return err
		}
		if g, ok := f.meta.Groups[c.Group]; ok && len(g.Members) > 0 {
			if g.ProtocolType != "consumer" {
				return fmt.Errorf("%w: delete offsets of group %s, which has %d members", ErrGroupNotEmpty, c.Group, len(g.Members))
			}
			for _, tp := range c.Partitions {
				for _, m := range g.Members {
					if slices.Contains(m.Topics, tp.Topic) {
						return fmt.Errorf("%w: member %q of group %s subscribes to %s", ErrGroupSubscribed, m.ID, c.Group, tp.Topic)
					}
				}
			}
		}
		for _, tp := range c.Partitions {
			for _, p := range tp.Partitions {
				delete(f.meta.Offsets, OffsetKey{c.Group, tp.Topic, p})
			}
		}
		return nil
	})
}
