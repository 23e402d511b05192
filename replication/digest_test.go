package replication

import (
	"fmt"
	"slices"
	"testing"
)

func digestOf(t *testing.T, f *FSM) Digest {
	t.Helper()
	d, err := f.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDigestAgreesAcrossHistories applies the same entries to two FSMs, one
// of which restarts and replays, and a third restored from a snapshot: all
// three digests agree. A different batch in one partition is named by Diff
// (the negative control).
func TestDigestAgreesAcrossHistories(t *testing.T) {
	a := newHarness(t, FSMConfig{})
	a.apply(CmdCreateTopic, &CreateTopicCmd{Name: "t", Partitions: 2, Config: TopicConfig{SegmentBytes: 1024}})
	a.apply(CmdRegisterNode, &RegisterNodeCmd{ID: "n1", Addr: "127.0.0.1:1"})
	for i := 0; i < 40; i++ {
		a.append("t", int32(i%2), fmt.Sprint(i), 3)
	}
	a.apply(CmdCommitOffset, &CommitOffsetCmd{Group: "g", Topic: "t", Partition: 1, Offset: 5})
	want := digestOf(t, a.f)
	if want.Index != a.index || len(want.Partitions) != 2 || want.Partitions[0].NextOffset != 60 {
		t.Fatalf("digest %+v", want)
	}

	// Straight application on another replica.
	b := newHarness(t, FSMConfig{})
	for _, l := range a.entries {
		b.f.Apply(l)
	}
	if d := digestOf(t, b.f); d.Sum() != want.Sum() {
		t.Fatalf("straight replica differs: %v", want.Diff(d))
	}

	// A restart, then raft's replay of the whole log.
	b.f.Close()
	f, err := NewFSM(FSMConfig{Dir: b.dir})
	if err != nil {
		t.Fatal(err)
	}
	b.f = f
	for _, l := range a.entries {
		f.Apply(l)
	}
	if d := digestOf(t, f); d.Sum() != want.Sum() {
		t.Fatalf("replayed replica differs: %v", want.Diff(d))
	}

	// A snapshot streamed to a fresh node.
	c := restoredCopy(t, a.f)
	if d := digestOf(t, c.f); d.Sum() != want.Sum() {
		t.Fatalf("restored replica differs: %v", want.Diff(d))
	}

	// Negative control: one more batch on one replica is named.
	a.append("t", 1, "extra", 1)
	got := digestOf(t, a.f)
	got.Index = want.Index
	if diff := want.Diff(got); !slices.Equal(diff, []string{"t/1"}) {
		t.Fatalf("Diff after an extra batch in t/1 = %v", diff)
	}
	a.apply(CmdCommitOffset, &CommitOffsetCmd{Group: "g", Topic: "t", Partition: 0, Offset: 1})
	got = digestOf(t, a.f)
	if diff := want.Diff(got); !slices.Contains(diff, "metadata") || !slices.Contains(diff, "index") {
		t.Fatalf("Diff after a commit = %v", diff)
	}
}

// TestDigestMetaIsCanonical: the same state digests alike every time, with
// several topics (msgpack sorts only some map types' keys, so the topics
// map must not be encoded as a map).
func TestDigestMetaIsCanonical(t *testing.T) {
	h := newHarness(t, FSMConfig{})
	for _, name := range []string{"e", "d", "c", "b", "a"} {
		h.apply(CmdCreateTopic, &CreateTopicCmd{Name: name, Partitions: 1})
	}
	want := digestOf(t, h.f)
	for i := 0; i < 20; i++ {
		if got := digestOf(t, h.f); got.Meta != want.Meta {
			t.Fatalf("digest %d of the same state: meta %s, first %s", i, got.Meta, want.Meta)
		}
	}
}
