package broker

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/minibroker/minibroker/internal/wire"
	"github.com/minibroker/minibroker/replication"
)

func members(subs ...[]string) []assignMember {
	ms := make([]assignMember, len(subs))
	for i, s := range subs {
		ms[i] = assignMember{id: fmt.Sprintf("m%d", i), topics: s}
	}
	return ms
}

// checkAssignment requires every partition of every subscribed topic to
// have exactly one owner, subscribed to its topic.
func checkAssignment(t *testing.T, ms []assignMember, parts map[string]int32, got map[string][]replication.TopicPartitions) {
	t.Helper()
	owner := map[string]string{}
	for _, m := range ms {
		for _, tp := range got[m.id] {
			subscribed := false
			for _, s := range m.topics {
				subscribed = subscribed || s == tp.Topic
			}
			if !subscribed {
				t.Fatalf("%s got %s without subscribing", m.id, tp.Topic)
			}
			for _, p := range tp.Partitions {
				k := fmt.Sprintf("%s/%d", tp.Topic, p)
				if o, dup := owner[k]; dup {
					t.Fatalf("%s owned by %s and %s", k, o, m.id)
				}
				owner[k] = m.id
			}
		}
	}
	for _, topic := range subscribedTopics(ms) {
		for p := range parts[topic] {
			if _, ok := owner[fmt.Sprintf("%s/%d", topic, p)]; !ok {
				t.Fatalf("%s/%d has no owner: %v", topic, p, got)
			}
		}
	}
}

func counts(got map[string][]replication.TopicPartitions) map[string]int {
	c := map[string]int{}
	for id, tps := range got {
		for _, tp := range tps {
			c[id] += len(tp.Partitions)
		}
	}
	return c
}

func TestAssignRange(t *testing.T) {
	ms := members([]string{"a", "b"}, []string{"a"}, []string{"a", "b"})
	parts := map[string]int32{"a": 7, "b": 2}
	got := assign(wire.StrategyRange, ms, parts)
	checkAssignment(t, ms, parts, got)
	want := map[string][]replication.TopicPartitions{
		"m0": {{Topic: "a", Partitions: []int32{0, 1, 2}}, {Topic: "b", Partitions: []int32{0}}},
		"m1": {{Topic: "a", Partitions: []int32{3, 4}}},
		"m2": {{Topic: "a", Partitions: []int32{5, 6}}, {Topic: "b", Partitions: []int32{1}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("range: %v, want %v", got, want)
	}
}

func TestAssignRoundRobin(t *testing.T) {
	ms := members([]string{"a"}, []string{"a"}, []string{"a"})
	parts := map[string]int32{"a": 5}
	got := assign(wire.StrategyRoundRobin, ms, parts)
	checkAssignment(t, ms, parts, got)
	if got["m0"][0].Partitions[1] != 3 || counts(got)["m2"] != 1 {
		t.Fatalf("roundrobin: %v", got)
	}
}

func TestAssignMoreMembersThanPartitions(t *testing.T) {
	for _, s := range []string{wire.StrategyRange, wire.StrategyRoundRobin, wire.StrategySticky} {
		ms := members([]string{"a"}, []string{"a"}, []string{"a"})
		got := assign(s, ms, map[string]int32{"a": 2})
		checkAssignment(t, ms, map[string]int32{"a": 2}, got)
		if c := counts(got); c["m0"]+c["m1"]+c["m2"] != 2 || len(got) != 3 {
			t.Fatalf("%s: %v", s, got)
		}
	}
}

func TestAssignMissingTopic(t *testing.T) {
	ms := members([]string{"a", "nope"})
	got := assign(wire.StrategySticky, ms, map[string]int32{"a": 1})
	checkAssignment(t, ms, map[string]int32{"a": 1}, got)
}

// TestAssignStickyKeepsOwners: when a member joins, the sticky assignor
// moves only the partitions the newcomer needs; when one leaves, only its
// partitions move.
func TestAssignStickyKeepsOwners(t *testing.T) {
	parts := map[string]int32{"a": 12}
	ms := members([]string{"a"}, []string{"a"})
	g1 := assign(wire.StrategySticky, ms, parts)
	ms = members([]string{"a"}, []string{"a"}, []string{"a"})
	ms[0].prev, ms[1].prev = g1["m0"], g1["m1"]
	g2 := assign(wire.StrategySticky, ms, parts)
	checkAssignment(t, ms, parts, g2)
	if c := counts(g2); c["m0"] != 4 || c["m1"] != 4 || c["m2"] != 4 {
		t.Fatalf("unbalanced: %v", c)
	}
	if moved := movedPartitions(g1, g2); moved != 4 {
		t.Fatalf("%d partitions moved on a join, want 4", moved)
	}
	ms = []assignMember{ms[0], ms[2]}
	ms[0].prev, ms[1].prev = g2["m0"], g2["m2"]
	g3 := assign(wire.StrategySticky, ms, parts)
	checkAssignment(t, ms, parts, g3)
	if moved := movedPartitions(g2, g3); moved != 4 {
		t.Fatalf("%d partitions moved on a leave, want 4 (m1's)", moved)
	}
}

func movedPartitions(before, after map[string][]replication.TopicPartitions) int {
	owner := map[string]string{}
	for id, tps := range before {
		for _, tp := range tps {
			for _, p := range tp.Partitions {
				owner[fmt.Sprintf("%s/%d", tp.Topic, p)] = id
			}
		}
	}
	moved := 0
	for id, tps := range after {
		for _, tp := range tps {
			for _, p := range tp.Partitions {
				if owner[fmt.Sprintf("%s/%d", tp.Topic, p)] != id {
					moved++
				}
			}
		}
	}
	return moved
}

// TestAssignRandomized checks the one-owner rule for random groups under
// every strategy, and that range and roundrobin are balanced for equal
// subscriptions.
func TestAssignRandomized(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	topics := []string{"a", "b", "c"}
	for range 300 {
		parts := map[string]int32{}
		for _, tp := range topics {
			parts[tp] = int32(rng.IntN(9))
		}
		var subs [][]string
		for range 1 + rng.IntN(6) {
			var s []string
			for _, tp := range topics {
				if rng.IntN(2) == 0 {
					s = append(s, tp)
				}
			}
			subs = append(subs, s)
		}
		prev := map[string][]replication.TopicPartitions{}
		for _, strategy := range []string{wire.StrategyRange, wire.StrategyRoundRobin, wire.StrategySticky, wire.StrategySticky} {
			ms := members(subs...)
			for i := range ms {
				ms[i].prev = prev[ms[i].id]
			}
			got := assign(strategy, ms, parts)
			checkAssignment(t, ms, parts, got)
			if strategy == wire.StrategySticky {
				prev = got
			}
		}
	}
}
