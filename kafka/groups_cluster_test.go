package kafka_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
)

// nativeClient is a minibroker client of the cluster.
func nativeClient(t *testing.T, c *brokertest.Cluster) *client.Client {
	t.Helper()
	var addrs []string
	for i := range c.Len() {
		if b := c.Broker(i); b != nil {
			addrs = append(addrs, b.Addr())
		}
	}
	cl, err := client.New(client.Config{Brokers: addrs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func describeNative(t *testing.T, cl *client.Client, group string) client.GroupDescription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := cl.DescribeGroup(ctx, group)
	if err != nil {
		t.Fatalf("describe %s: %v", group, err)
	}
	return d
}

// A raw member at generation 3 on 3 nodes; the leader is killed: the old
// coordinator's connection is gone, the new leader is the coordinator
// (FindCoordinator from a survivor), knows the member in generation 3
// (its heartbeat is accepted and it gets its assignment back) and the
// committed offset.
func TestGroupFailoverKeepsGeneration(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	lk := dial(t, c.Leader().KafkaAddr())
	createTopic(t, lk, "fr", 1)
	produce(t, lk, 9, "fr", 0, kafkaBatch(1, -1, -1, -1, "a", "b", "c", "d"))
	jr := func(version int16, member, md string) *kmsg.JoinGroupRequest {
		q := joinReq(version, "frg", member, "", md)
		q.SessionTimeoutMillis = 1000
		return q
	}
	r := join(t, lk, jr(3, "", "md"))
	m := r.MemberID
	for gen := int32(1); gen <= 3; gen++ {
		if gen > 1 {
			r = join(t, lk, jr(4, m, "md-"+itoa(gen))) // new metadata: a rebalance
		}
		if r.ErrorCode != 0 || r.Generation != gen {
			t.Fatalf("join for generation %d: %+v", gen, r)
		}
		wantCode(t, "sync", syncGroup(t, lk, 3, "frg", m, gen, map[string]string{m: "as-" + itoa(gen)}).ErrorCode, 0)
	}
	wantCode(t, "commit", commit(t, lk, 7, "frg", m, "", 3, "fr", 0, 3), 0)

	old := c.WaitLeader()
	fk := dial(t, c.Broker((old+1)%3).KafkaAddr())
	waitFor(t, "a follower to name the leader as coordinator", func() bool {
		fc := findCoordinator(t, fk, 3, "frg")
		return fc.ErrorCode == 0 && fc.Host+":"+itoa(fc.Port) == c.Broker(old).KafkaAddr()
	})
	wantCode(t, "heartbeat on a follower", heartbeat(t, fk, "frg", m, "", 3), 16)
	wantCode(t, "commit on a follower", commit(t, fk, 7, "frg", m, "", 3, "fr", 0, 3), 16)
	if _, code := fetchOffset(t, fk, "frg", "fr", 0); code != 16 {
		t.Fatalf("offset fetch on a follower: code %d, want 16 (NOT_COORDINATOR)", code)
	}
	c.Kill(old)
	var survivor *kconn
	for i := range c.Len() {
		if b := c.Broker(i); b != nil {
			survivor = dial(t, b.KafkaAddr())
			break
		}
	}
	var coord *kconn
	waitFor(t, "a new coordinator", func() bool {
		fc := findCoordinator(t, survivor, 4, "frg").Coordinators[0]
		if fc.ErrorCode != 0 {
			return false
		}
		for i := range c.Len() {
			if b := c.Broker(i); b != nil && b.KafkaAddr() == fc.Host+":"+itoa(fc.Port) && i != old {
				coord = dial(t, b.KafkaAddr())
				return heartbeat(t, coord, "frg", m, "", 3) != 16 // past NOT_COORDINATOR
			}
		}
		return false
	})
	wantCode(t, "heartbeat in generation 3 on the new coordinator", heartbeat(t, coord, "frg", m, "", 3), 0)
	if s := syncGroup(t, coord, 3, "frg", m, 3, nil); s.ErrorCode != 0 || string(s.MemberAssignment) != "as-3" {
		t.Fatalf("sync on the new coordinator: %+v", s)
	}
	if off, code := fetchOffset(t, coord, "frg", "fr", 0); off != 3 || code != 0 {
		t.Fatalf("committed offset on the new coordinator: %d (code %d)", off, code)
	}
	// Heartbeats keep the member past several session timeouts (the
	// native coordinator, which also runs on the leader, leaves Kafka
	// groups alone), and its commits are accepted.
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		wantCode(t, "heartbeat", heartbeat(t, coord, "frg", m, "", 3), 0)
	}
	wantCode(t, "commit on the new coordinator", commit(t, coord, 7, "frg", m, "", 3, "fr", 0, 4), 0)
	wantCode(t, "a stale generation on the new coordinator", commit(t, coord, 7, "frg", m, "", 2, "fr", 0, 4), 22)
}

// A kgo group on 3 nodes; the leader is killed: the member finds the new
// coordinator and carries on, every record is consumed, and the
// generation and committed offsets did not go back. The native admin view
// shows the Kafka group with its lag.
func TestGroupFailover(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	addrs := c.KafkaAddrs()
	createTopic(t, dial(t, c.Leader().KafkaAddr()), "fo", 3)
	own := &ownership{t: t, owner: map[int32]string{}}
	got := &seen{n: map[string]int{}}
	produceValues(t, addrs, "fo", 0, 30)
	startConsumer(t, addrs, "fg", "fo", "c0", own, got)
	waitFor(t, "30 consumed", func() bool { return got.count() == 30 })
	cl := nativeClient(t, c)
	var before client.GroupDescription
	waitFor(t, "the commits of all 30", func() bool {
		before = describeNative(t, cl, "fg")
		lag := int64(0)
		for _, o := range before.Offsets {
			lag += o.Lag
		}
		return len(before.Offsets) == 3 && lag == 0
	})
	if before.ProtocolType != "consumer" || before.State != "Stable" || len(before.Members) != 1 || before.Strategy == "" ||
		len(before.Members[0].Assignment) != 3 || before.Members[0].ClientID != "c0" {
		t.Fatalf("native describe of a Kafka group: %+v", before)
	}

	old := c.WaitLeader()
	c.Kill(old)
	after := describeNative(t, cl, "fg")
	if after.Generation < before.Generation { // the member may have rejoined since
		t.Fatalf("generation %d after failover, %d before", after.Generation, before.Generation)
	}
	for i, o := range after.Offsets {
		if o.Committed < before.Offsets[i].Committed {
			t.Fatalf("offsets after failover %+v, before %+v", after.Offsets, before.Offsets)
		}
	}
	var live []string
	for i := range c.Len() {
		if b := c.Broker(i); b != nil {
			live = append(live, b.KafkaAddr())
		}
	}
	produceValues(t, live, "fo", 30, 30)
	waitFor(t, "60 consumed across the failover", func() bool { return got.count() == 60 })
	own.check()
	waitFor(t, "the member to be stable on the new leader", func() bool {
		d := describeNative(t, cl, "fg")
		return d.State == "Stable" && len(d.Members) == 1
	})
}

// A group name used by native minibroker consumers cannot be used by
// Kafka clients (INCONSISTENT_GROUP_PROTOCOL) while it has members, and
// the other way round (client.ErrGroupProtocolMismatch).
func TestGroupNativeKafkaMix(t *testing.T) {
	c := brokertest.NewCluster(t, 1)
	b := c.Broker(0)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "mix", 1)
	cl := nativeClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	nc, err := cl.Consumer(client.ConsumerConfig{Group: "native", Topics: []string{"mix"}})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	nc.Poll(pctx) // joins
	pcancel()
	waitFor(t, "the native member", func() bool { return nc.Generation() > 0 })
	wantCode(t, "Kafka join of a native group", join(t, k, joinReq(3, "native", "", "", "md")).ErrorCode, 23)
	wantCode(t, "Kafka commit to a native group", commit(t, k, 3, "native", "", "", -1, "mix", 0, 0), 23)

	r := join(t, k, joinReq(3, "kgroup", "", "", "md"))
	wantCode(t, "Kafka join", r.ErrorCode, 0)
	wantCode(t, "sync", syncGroup(t, k, 3, "kgroup", r.MemberID, 1, map[string]string{r.MemberID: ""}).ErrorCode, 0)
	kc, err := cl.Consumer(client.ConsumerConfig{Group: "kgroup", Topics: []string{"mix"}})
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	_, err = kc.Poll(ctx)
	if !errors.Is(err, client.ErrGroupProtocolMismatch) {
		t.Fatalf("native join of a Kafka group: %v, want ErrGroupProtocolMismatch", err)
	}
}

// After the leader member's kgo client closes, the group (now Empty) can
// be reset and deleted with the native admin calls, as native groups.
func TestKafkaGroupNativeAdmin(t *testing.T) {
	c := brokertest.NewCluster(t, 1)
	addrs := c.KafkaAddrs()
	createTopic(t, dial(t, addrs[0]), "adm", 2)
	produceValues(t, addrs, "adm", 0, 10)
	own := &ownership{t: t, owner: map[int32]string{}}
	got := &seen{n: map[string]int{}}
	gc := startConsumer(t, addrs, "ag", "adm", "c0", own, got)
	waitFor(t, "10 consumed", func() bool { return got.count() == 10 })
	cl := nativeClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cl.ResetGroupOffsets(ctx, "ag", "adm", client.Earliest, 0); !errors.Is(err, client.ErrGroupNotEmpty) {
		t.Fatalf("reset with a member: %v", err)
	}
	gc.stop()
	waitFor(t, "the group to empty", func() bool { return describeNative(t, cl, "ag").State == "Empty" })
	if _, err := cl.ResetGroupOffsets(ctx, "ag", "adm", client.Earliest, 0); err != nil {
		t.Fatalf("reset: %v", err)
	}
	k := dial(t, addrs[0])
	if off, code := fetchOffset(t, k, "ag", "adm", 0); off != 0 || code != 0 {
		t.Fatalf("offset after reset: %d (code %d)", off, code)
	}
	gs, err := cl.ListGroups(ctx)
	if err != nil || len(gs) != 1 || gs[0].ProtocolType != "consumer" {
		t.Fatalf("list: %+v, %v", gs, err)
	}
	if err := cl.DeleteGroup(ctx, "ag"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	lg := kmsg.NewPtrListGroupsRequest()
	if l := k.do(lg).(*kmsg.ListGroupsResponse); len(l.Groups) != 0 {
		t.Fatalf("groups after delete: %+v", l.Groups)
	}
}

// TestNativeConsumerTakesOverEmptiedKafkaGroup: once a Kafka group's last
// member has left, native consumers may use the name (as Kafka lets an
// empty group change its protocol type): the native member joins, gets
// the partitions and reads. Before the fix its join looped forever: the
// native coordinator proposed generation 1 over the Kafka group's later
// one, Apply refused it, and the member's id was forgotten.
func TestNativeConsumerTakesOverEmptiedKafkaGroup(t *testing.T) {
	c := brokertest.NewCluster(t, 1)
	addrs := c.KafkaAddrs()
	createTopic(t, dial(t, addrs[0]), "handover", 1)
	produceValues(t, addrs, "handover", 0, 5)
	own := &ownership{t: t, owner: map[int32]string{}}
	got := &seen{n: map[string]int{}}
	gc := startConsumer(t, addrs, "shared", "handover", "c0", own, got)
	waitFor(t, "5 consumed by the Kafka member", func() bool { return got.count() == 5 })
	gc.stop()
	cl := nativeClient(t, c)
	waitFor(t, "the Kafka group to empty", func() bool {
		d := describeNative(t, cl, "shared")
		return d.State == "Empty" && len(d.Members) == 0
	})
	// The coordinator records the emptied group through Raft a moment after
	// it reports it Empty: until then the name is still taken.
	var nc *client.Consumer
	waitFor(t, "a native member of the emptied Kafka group", func() bool {
		c, err := cl.Consumer(client.ConsumerConfig{Group: "shared", Topics: []string{"handover"}})
		if err != nil {
			t.Fatal(err)
		}
		// Poll joins, then waits for records: there are none past the
		// Kafka member's commits, so it ends with its context.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = c.Poll(ctx)
		switch {
		case errors.Is(err, client.ErrGroupProtocolMismatch):
			c.Close()
			return false
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			t.Fatalf("native consumer of an emptied Kafka group: %v", err)
		case c.Generation() == 0:
			t.Fatalf("native consumer of an emptied Kafka group did not join within a second (%v)", err)
		}
		nc = c
		return true
	})
	defer nc.Close()
	if d := describeNative(t, cl, "shared"); d.ProtocolType == "consumer" || len(d.Members) != 1 {
		t.Fatalf("after the native join: %+v, want one native member", d)
	}
	// And back: once the native member leaves, Kafka clients take the name
	// again (the Kafka coordinator still holds the old, emptied group in
	// memory, at an older generation than the native one).
	nc.Close()
	waitFor(t, "the native group to empty", func() bool { return len(describeNative(t, cl, "shared").Members) == 0 })
	produceValues(t, addrs, "handover", 5, 5)
	got2 := &seen{n: map[string]int{}}
	gc2 := startConsumer(t, addrs, "shared", "handover", "c1", &ownership{t: t, owner: map[int32]string{}}, got2)
	defer gc2.stop()
	waitFor(t, "Kafka member reading again", func() bool { return got2.count() > 0 })
}
