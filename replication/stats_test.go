package replication

import (
	"fmt"
	"slices"
	"testing"
)

func TestPartitionStats(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "b", Partitions: 2})
	h.apply(CmdCreateTopic, &CreateTopicCmd{Name: "a", Partitions: 1})
	h.append("b", 1, "x", 3)
	h.append("a", 0, "y", 2)
	got := h.f.PartitionStats(nil)
	keys := make([]string, len(got))
	for i, s := range got {
		keys[i] = fmt.Sprintf("%s/%d", s.Topic, s.Partition)
	}
	if want := []string{"a/0", "b/0", "b/1"}; !slices.Equal(keys, want) {
		t.Fatalf("partitions %v; want %v", keys, want)
	}
	for _, s := range got {
		switch fmt.Sprintf("%s/%d", s.Topic, s.Partition) {
		case "a/0":
			if s.HighWatermark != 2 || s.StartOffset != 0 || s.SizeBytes == 0 {
				t.Errorf("a/0: %+v", s)
			}
		case "b/0":
			if s.HighWatermark != 0 || s.SizeBytes != 0 {
				t.Errorf("b/0: %+v", s)
			}
		case "b/1":
			if s.HighWatermark != 3 || s.SizeBytes == 0 {
				t.Errorf("b/1: %+v", s)
			}
		}
	}
}

func TestStatsCountPeers(t *testing.T) {
	c := newStoreCluster(t, 3, nil)
	n := c.stores[c.waitLeader()].Node()
	if st := n.Stats(); st.NumPeers != 2 || st.State != "Leader" {
		t.Fatalf("leader Stats() = %+v; want 2 peers", st)
	}
}
