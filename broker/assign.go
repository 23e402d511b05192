package broker

import (
	"cmp"
	"slices"

	"github.com/minibroker/minibroker/internal/wire"
	"github.com/minibroker/minibroker/replication"
)

// Partition assignment for consumer groups. The coordinator computes it
// (server-side assignment): every function here is pure and deterministic,
// so one generation's assignment can be reproduced from its inputs.

// assignMember is one member as the assignors see it.
type assignMember struct {
	id     string
	topics []string // subscription
	// prev is what the member owned in the previous generation (sticky).
	prev []replication.TopicPartitions
}

// knownStrategy reports whether s names an assignor ("" is range).
func knownStrategy(s string) bool {
	switch s {
	case "", wire.StrategyRange, wire.StrategyRoundRobin, wire.StrategySticky:
		return true
	}
	return false
}

// assign shares the partitions of the members' topics among them.
// partitions gives each topic's partition count (a missing topic has
// none). members must be sorted by id. Every partition of a subscribed
// topic goes to exactly one member subscribed to it. The result holds an
// entry, possibly empty, for every member, in canonical order (topics
// sorted, partitions ascending).
func assign(strategy string, members []assignMember, partitions map[string]int32) map[string][]replication.TopicPartitions {
	owned := make(map[string]map[string][]int32, len(members)) // member -> topic -> partitions
	for _, m := range members {
		owned[m.id] = map[string][]int32{}
	}
	give := func(member, topic string, p int32) {
		owned[member][topic] = append(owned[member][topic], p)
	}
	topics := subscribedTopics(members)
	switch strategy {
	case wire.StrategyRoundRobin:
		assignRoundRobin(members, topics, partitions, give)
	case wire.StrategySticky:
		for _, t := range topics {
			assignStickyTopic(t, subscribers(members, t), partitions[t], give)
		}
	default:
		for _, t := range topics {
			assignRangeTopic(t, subscribers(members, t), partitions[t], give)
		}
	}
	out := make(map[string][]replication.TopicPartitions, len(members))
	for _, m := range members {
		var tps []replication.TopicPartitions
		for _, t := range topics {
			if ps := owned[m.id][t]; len(ps) > 0 {
				slices.Sort(ps)
				tps = append(tps, replication.TopicPartitions{Topic: t, Partitions: ps})
			}
		}
		out[m.id] = tps
	}
	return out
}

// subscribedTopics is the sorted union of the members' subscriptions.
func subscribedTopics(members []assignMember) []string {
	var ts []string
	for _, m := range members {
		ts = append(ts, m.topics...)
	}
	slices.Sort(ts)
	return slices.Compact(ts)
}

// subscribers returns the members subscribed to topic, in id order.
func subscribers(members []assignMember, topic string) []*assignMember {
	var out []*assignMember
	for i := range members {
		if slices.Contains(members[i].topics, topic) {
			out = append(out, &members[i])
		}
	}
	return out
}

// assignRangeTopic gives each subscriber a contiguous range of the topic's
// partitions; the first n%k subscribers get one more.
func assignRangeTopic(topic string, subs []*assignMember, n int32, give func(string, string, int32)) {
	k := int32(len(subs))
	if k == 0 {
		return
	}
	p := int32(0)
	for i, m := range subs {
		count := n / k
		if int32(i) < n%k {
			count++
		}
		for range count {
			give(m.id, topic, p)
			p++
		}
	}
}

// assignRoundRobin deals all partitions, topic by topic, to the members in
// turn, skipping members not subscribed to the partition's topic.
func assignRoundRobin(members []assignMember, topics []string, partitions map[string]int32, give func(string, string, int32)) {
	next := 0
	for _, t := range topics {
		for p := range partitions[t] {
			for range members {
				m := &members[next%len(members)]
				next++
				if slices.Contains(m.topics, t) {
					give(m.id, t, p)
					break
				}
			}
		}
	}
}

// assignStickyTopic balances a topic's partitions over its subscribers (no
// two differ by more than one) while keeping as many partitions as
// possible with their previous owner.
func assignStickyTopic(topic string, subs []*assignMember, n int32, give func(string, string, int32)) {
	k := len(subs)
	if k == 0 || n == 0 {
		return
	}
	prevOwner := map[int32]string{}
	prevCount := map[string]int{}
	for _, m := range subs {
		for _, tp := range m.prev {
			if tp.Topic != topic {
				continue
			}
			for _, p := range tp.Partitions {
				if p < n {
					if _, taken := prevOwner[p]; !taken {
						prevOwner[p] = m.id
						prevCount[m.id]++
					}
				}
			}
		}
	}
	// The n%k members that may hold one extra partition are those that
	// held the most before, so that the fewest partitions move.
	order := slices.Clone(subs)
	slices.SortStableFunc(order, func(a, b *assignMember) int {
		return cmp.Compare(prevCount[b.id], prevCount[a.id])
	})
	quota := map[string]int{}
	for i, m := range order {
		quota[m.id] = int(n) / k
		if i < int(n)%k {
			quota[m.id]++
		}
	}
	count := map[string]int{}
	var free []int32
	for p := range n {
		if o, ok := prevOwner[p]; ok && count[o] < quota[o] {
			give(o, topic, p)
			count[o]++
			continue
		}
		free = append(free, p)
	}
	for _, p := range free {
		var best *assignMember
		for _, m := range subs {
			if count[m.id] < quota[m.id] && (best == nil || count[m.id] < count[best.id]) {
				best = m
			}
		}
		give(best.id, topic, p)
		count[best.id]++
	}
}
