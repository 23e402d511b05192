package broker

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/minibroker/minibroker/internal/wire"
	"github.com/minibroker/minibroker/replication"
)

// Request handlers of the group administration APIs: DescribeGroup,
// ListGroups, ResetOffsets, DeleteGroup. They are served by the leader,
// whose coordinator knows whether a group is rebalancing.

// groupView is a copy of a group's coordinator state, taken on the
// coordinator goroutine.
type groupView struct {
	state        string
	generation   int32
	strategy     string
	members      []replication.GroupMember // sorted by id
	protocolType string                    // "" native; a Kafka group's protocol type
}

// view returns a copy of group name's state; ok is false if the
// coordinator does not know the group. Runs on the coordinator goroutine.
func (c *coordinator) view(name string) (groupView, bool) {
	g, ok := c.groups[name]
	if !ok {
		return groupView{state: wire.GroupEmpty}, false
	}
	v := groupView{state: g.state(), generation: g.gen, strategy: g.strategy}
	for _, id := range slices.Sorted(maps.Keys(g.members)) {
		v.members = append(v.members, g.members[id].GroupMember)
	}
	return v, true
}

// views returns the views of the named groups, or an error when the
// coordinator is not active (this node is not the leader).
func (b *Broker) views(ctx context.Context, names ...string) ([]groupView, []bool, error) {
	vs, oks := make([]groupView, len(names)), make([]bool, len(names))
	var err error
	derr := b.coord.do(ctx, func() {
		if !b.coord.active {
			err = b.coord.notLeader()
			return
		}
		for i, n := range names {
			vs[i], oks[i] = b.coord.view(n)
		}
	})
	if derr != nil {
		return nil, nil, derr
	}
	if err == nil {
		b.kafkaViews(names, vs, oks)
	}
	return vs, oks, err
}

// kafkaViews replaces the views of Kafka groups (run by the Kafka
// listener's coordinator, or only replicated when the listener is off).
func (b *Broker) kafkaViews(names []string, vs []groupView, oks []bool) {
	for i, n := range names {
		g, replicated := b.store.FSM().Group(n)
		if replicated && !g.IsKafka() {
			continue // native consumers took the name over from an emptied Kafka group
		}
		if b.kafka != nil {
			if info, ok := b.kafka.Group(n); ok {
				vs[i] = groupView{state: info.State, generation: info.Generation, strategy: info.Protocol,
					members: info.Members, protocolType: info.ProtocolType}
				oks[i] = true
				continue
			}
		}
		if replicated {
			st := wire.GroupStable
			if len(g.Members) == 0 {
				st = wire.GroupEmpty
			}
			vs[i] = groupView{state: st, generation: g.Generation, strategy: g.Strategy, members: g.Members, protocolType: g.ProtocolType}
			oks[i] = true
		}
	}
}

// describeGroup serves a DescribeGroup.
func (b *Broker) describeGroup(ctx context.Context, req *wire.DescribeGroupRequest) wire.DescribeGroupResponse {
	fail := func(err error) wire.DescribeGroupResponse {
		return wire.DescribeGroupResponse{ErrorCode: codeOf(err), ErrorMessage: b.errText(err), Group: req.Group}
	}
	vs, oks, err := b.views(ctx, req.Group)
	if err != nil {
		return fail(err)
	}
	v := vs[0]
	fsm := b.store.FSM()
	committed := fsm.GroupOffsets(req.Group)
	if !oks[0] && len(committed) == 0 {
		return fail(wire.Err(wire.CodeUnknownGroup, fmt.Sprintf("group %q does not exist", req.Group)))
	}
	resp := wire.DescribeGroupResponse{Group: req.Group, State: v.state, Generation: v.generation, Strategy: v.strategy,
		ProtocolType: v.protocolType}
	type tp struct {
		topic     string
		partition int32
	}
	offsets := map[tp]int64{}
	for _, o := range committed {
		offsets[tp{o.Topic, o.Partition}] = o.Offset
	}
	var topics []string
	for _, m := range v.members {
		info := wire.GroupMemberInfo{MemberID: m.ID, ClientID: m.ClientID, ClientHost: m.ClientHost, Topics: m.Topics}
		for _, a := range m.Assignment {
			info.Assignment = append(info.Assignment, wire.TopicPartitions{Topic: a.Topic, Partitions: a.Partitions})
		}
		resp.Members = append(resp.Members, info)
		topics = append(topics, m.Topics...)
	}
	for _, t := range topics {
		if topic, ok := fsm.Topic(t); ok {
			for p := range topic.Partitions {
				if _, ok := offsets[tp{t, p}]; !ok {
					offsets[tp{t, p}] = wire.NoOffset
				}
			}
		}
	}
	keys := make([]tp, 0, len(offsets))
	for k := range offsets {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b tp) int {
		if a.topic != b.topic {
			if a.topic < b.topic {
				return -1
			}
			return 1
		}
		return int(a.partition - b.partition)
	})
	for _, k := range keys {
		info := wire.GroupOffsetInfo{Topic: k.topic, Partition: k.partition, Committed: offsets[k], HighWatermark: -1, Lag: -1}
		if start, end, err := fsm.Offsets(k.topic, k.partition); err == nil {
			info.HighWatermark = end
			from := info.Committed
			if from == wire.NoOffset {
				from = start
			}
			info.Lag = max(end-from, 0)
		}
		resp.Offsets = append(resp.Offsets, info)
	}
	return resp
}

// listGroups serves a ListGroups.
func (b *Broker) listGroups(ctx context.Context) wire.ListGroupsResponse {
	names := b.store.FSM().GroupNames()
	vs, _, err := b.views(ctx, names...)
	if err != nil {
		return wire.ListGroupsResponse{ErrorCode: codeOf(err), ErrorMessage: b.errText(err)}
	}
	var resp wire.ListGroupsResponse
	for i, n := range names {
		resp.Groups = append(resp.Groups, wire.GroupSummary{
			Group: n, State: vs[i].state, Generation: vs[i].generation, Members: int32(len(vs[i].members)),
			ProtocolType: vs[i].protocolType,
		})
	}
	return resp
}

// resetOffsets serves a ResetOffsets (only for groups without members;
// the FSM checks that too).
func (b *Broker) resetOffsets(ctx context.Context, req *wire.ResetOffsetsRequest) wire.ResetOffsetsResponse {
	fail := func(err error) wire.ResetOffsetsResponse {
		return wire.ResetOffsetsResponse{ErrorCode: codeOf(err), ErrorMessage: b.errText(err)}
	}
	if err := b.checkNoMembers(ctx, req.Group); err != nil {
		return fail(err)
	}
	mode := replication.ResetToOffset
	switch req.To {
	case wire.ResetEarliest:
		mode = replication.ResetEarliest
	case wire.ResetLatest:
		mode = replication.ResetLatest
	case wire.ResetTo:
	default:
		return fail(wire.Err(wire.CodeMalformed, fmt.Sprintf("ResetOffsets: unknown target %d", req.To)))
	}
	set, err := b.store.ResetOffsets(ctx, replication.ResetOffsetsCmd{
		Group: req.Group, Topic: req.Topic, Partitions: req.Partitions, Mode: mode, Offset: req.Offset,
	})
	if err != nil {
		return fail(err)
	}
	var resp wire.ResetOffsetsResponse
	for _, o := range set {
		resp.Offsets = append(resp.Offsets, wire.PartitionOffset{Topic: o.Topic, Partition: o.Partition, Offset: o.Offset})
	}
	return resp
}

// deleteGroup serves a DeleteGroup.
func (b *Broker) deleteGroup(ctx context.Context, req *wire.DeleteGroupRequest) wire.DeleteGroupResponse {
	err := b.checkNoMembers(ctx, req.Group)
	if err == nil {
		err = b.store.DeleteGroup(ctx, req.Group)
	}
	if err == nil {
		b.coord.do(ctx, func() {
			if g, ok := b.coord.groups[req.Group]; ok && len(g.members) == 0 && len(g.joins) == 0 {
				delete(b.coord.groups, req.Group)
			}
		})
	}
	return wire.DeleteGroupResponse{ErrorCode: codeOf(err), ErrorMessage: b.errText(err)}
}

// checkNoMembers returns ErrGroupNotEmpty while group has members or
// members joining.
func (b *Broker) checkNoMembers(ctx context.Context, group string) error {
	var err error
	derr := b.coord.do(ctx, func() {
		if !b.coord.active {
			err = b.coord.notLeader()
			return
		}
		if g, ok := b.coord.groups[group]; ok && (len(g.members) > 0 || len(g.joins) > 0) {
			err = wire.Err(wire.CodeGroupNotEmpty, fmt.Sprintf("group %q has %d members; stop its consumers first", group, len(g.members)+len(g.joins)))
		}
	})
	if derr != nil {
		return derr
	}
	if err == nil && b.kafka != nil {
		if info, ok := b.kafka.Group(group); ok && len(info.Members) > 0 {
			err = wire.Err(wire.CodeGroupNotEmpty, fmt.Sprintf("Kafka group %q has %d members; stop its consumers first", group, len(info.Members)))
		}
	}
	return err
}
