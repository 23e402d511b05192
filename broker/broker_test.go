package broker_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/internal/wire"
)

func TestStartSingleNodeServes(t *testing.T) {
	b, err := broker.Start(broker.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !b.IsLeader() {
		t.Fatal("Start returned before the single node elected itself")
	}
	c := dialRaw(t, b.Addr())
	var md wire.MetadataResponse
	// Registration of the client address goes through Raft just after
	// Start; wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for len(md.Nodes) == 0 && time.Now().Before(deadline) {
		c.call(wire.Metadata, &wire.MetadataRequest{}, &md)
	}
	if md.LeaderID != b.ID() || len(md.Nodes) != 1 || md.Nodes[0].Addr != b.Addr() {
		t.Fatalf("metadata %+v", md)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []broker.Config{
		{},
		{DataDir: "x", Addr: "nope"},
		{DataDir: "x", MaxInFlight: -1},
		{DataDir: "x", MaxFrameBytes: 10},
		{DataDir: "x", Bootstrap: true, Join: []string{"127.0.0.1:1"}},
		{DataDir: "x", IdleTimeout: -time.Second},
	}
	for _, c := range bad {
		if err := c.Validate(); !errors.Is(err, broker.ErrInvalidConfig) {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
		if _, err := broker.Start(c); !errors.Is(err, broker.ErrInvalidConfig) {
			t.Errorf("Start(%+v) = %v", c, err)
		}
	}
}

func TestProduceFetchRoundTrip(t *testing.T) {
	b := brokertest.NewBroker(t)
	c := dialRaw(t, b.Addr())
	var ct wire.CreateTopicResponse
	c.call(wire.CreateTopic, &wire.CreateTopicRequest{Name: "t", Partitions: 2}, &ct)
	if ct.ErrorCode != wire.CodeNone {
		t.Fatalf("create: %+v", ct)
	}
	for i, acks := range []int8{wire.AcksAll, wire.AcksLeader, wire.AcksNone, wire.AcksAll} {
		var pr wire.ProduceResponse
		c.call(wire.Produce, &wire.ProduceRequest{Topic: "t", Partition: 1, Acks: acks,
			Records: records(fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i))}, &pr)
		if pr.ErrorCode != wire.CodeNone {
			t.Fatalf("produce acks=%d: %+v", acks, pr)
		}
		if acks == wire.AcksAll && pr.BaseOffset != int64(2*i) {
			t.Fatalf("acks=all base offset %d, want %d", pr.BaseOffset, 2*i)
		}
	}
	var fr wire.FetchResponse
	c.call(wire.Fetch, &wire.FetchRequest{Topic: "t", Partition: 1, Offset: 3, MaxWaitMs: 1000}, &fr)
	if fr.ErrorCode != wire.CodeNone || fr.HighWatermark != 8 || len(fr.Records) != 5 || fr.Records[0].Offset != 3 ||
		string(fr.Records[0].Value) != "b1" || fr.Records[0].Timestamp == 0 {
		t.Fatalf("fetch: %+v", fr)
	}
	var lo wire.ListOffsetsResponse
	c.call(wire.ListOffsets, &wire.ListOffsetsRequest{Topic: "t", Partition: 1, Which: wire.Latest}, &lo)
	if lo.Offset != 8 {
		t.Fatalf("latest %+v", lo)
	}
	c.call(wire.Fetch, &wire.FetchRequest{Topic: "t", Partition: 1, Offset: 9}, &fr)
	if fr.ErrorCode != wire.CodeOffsetOutOfRange || fr.HighWatermark != 8 {
		t.Fatalf("fetch past the end: %+v", fr)
	}
	c.call(wire.Fetch, &wire.FetchRequest{Topic: "nope", Partition: 0}, &fr)
	if fr.ErrorCode != wire.CodeUnknownTopic {
		t.Fatalf("fetch unknown topic: %+v", fr)
	}
	var pr wire.ProduceResponse
	c.call(wire.Produce, &wire.ProduceRequest{Topic: "t", Partition: 7, Acks: wire.AcksAll, Records: records("x")}, &pr)
	if pr.ErrorCode != wire.CodeUnknownPartition {
		t.Fatalf("produce to a missing partition: %+v", pr)
	}
}

func TestLongPollFetchWakesOnProduce(t *testing.T) {
	b := brokertest.NewBroker(t)
	c := dialRaw(t, b.Addr())
	var ct wire.CreateTopicResponse
	c.call(wire.CreateTopic, &wire.CreateTopicRequest{Name: "t", Partitions: 1}, &ct)
	start := time.Now()
	fetchID := c.send(wire.Fetch, 0, &wire.FetchRequest{Topic: "t", Offset: 0, MaxWaitMs: 10000})
	prodID := c.send(wire.Produce, 0, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll, Records: records("hello")})
	got := map[uint32]bool{}
	for len(got) < 2 {
		id, body, err := c.recvRaw()
		if err != nil {
			t.Fatal(err)
		}
		got[id] = true
		if id == fetchID {
			var fr wire.FetchResponse
			if err := wire.DecodeBody(body, &fr); err != nil || len(fr.Records) != 1 || string(fr.Records[0].Value) != "hello" {
				t.Fatalf("long poll returned %+v, %v", fr, err)
			}
		}
	}
	if !got[prodID] || time.Since(start) > 9*time.Second {
		t.Fatalf("long poll did not wake on the produce (%v)", time.Since(start))
	}
	// With nothing produced, the poll ends at MaxWait with no records.
	var fr wire.FetchResponse
	t0 := time.Now()
	c.call(wire.Fetch, &wire.FetchRequest{Topic: "t", Offset: 1, MaxWaitMs: 100}, &fr)
	if fr.ErrorCode != wire.CodeNone || len(fr.Records) != 0 || time.Since(t0) < 100*time.Millisecond {
		t.Fatalf("empty long poll: %+v after %v", fr, time.Since(t0))
	}
}

func TestFollowerRedirectsWrites(t *testing.T) {
	cl := brokertest.NewCluster(t, 3)
	lead := cl.WaitLeader()
	f := cl.Broker((lead + 1) % 3)
	c := dialRaw(t, f.Addr())
	var ct wire.CreateTopicResponse
	c.call(wire.CreateTopic, &wire.CreateTopicRequest{Name: "t", Partitions: 1}, &ct)
	if ct.ErrorCode != wire.CodeNotLeader {
		t.Fatalf("create on a follower: %+v", ct)
	}
	lc := dialRaw(t, cl.Broker(lead).Addr())
	lc.call(wire.CreateTopic, &wire.CreateTopicRequest{Name: "t", Partitions: 1}, &ct)
	var pr wire.ProduceResponse
	// The follower needs the topic applied and the leader's address
	// registered before it can redirect precisely.
	deadline := time.Now().Add(10 * time.Second)
	for pr.LeaderAddr == "" && time.Now().Before(deadline) {
		c.call(wire.Produce, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll, Records: records("x")}, &pr)
	}
	if pr.ErrorCode != wire.CodeNotLeader || pr.LeaderID != cl.Broker(lead).ID() || pr.LeaderAddr != cl.Broker(lead).Addr() {
		t.Fatalf("produce on a follower: %+v", pr)
	}
	// Reads are served by the follower, once every node's registration
	// has reached it.
	var md wire.MetadataResponse
	for deadline := time.Now().Add(10 * time.Second); len(md.Nodes) != 3 && time.Now().Before(deadline); {
		c.call(wire.Metadata, &wire.MetadataRequest{}, &md)
	}
	if len(md.Nodes) != 3 {
		t.Fatalf("follower metadata: %+v", md)
	}
	cl.VerifyReplicas()
}

func TestRestartKeepsDataAndID(t *testing.T) {
	cl := brokertest.NewCluster(t, 1)
	c := dialRaw(t, cl.Broker(0).Addr())
	var ct wire.CreateTopicResponse
	c.call(wire.CreateTopic, &wire.CreateTopicRequest{Name: "t", Partitions: 1}, &ct)
	var pr wire.ProduceResponse
	c.call(wire.Produce, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll, Records: records("kept")}, &pr)
	id := cl.Broker(0).ID()
	cl.Kill(0)
	b := cl.Restart(0)
	if b.ID() != id || !b.IsLeader() {
		t.Fatalf("restarted as %s (leader %v), want %s", b.ID(), b.IsLeader(), id)
	}
	c = dialRaw(t, b.Addr())
	var fr wire.FetchResponse
	c.call(wire.Fetch, &wire.FetchRequest{Topic: "t", Offset: 0}, &fr)
	if len(fr.Records) != 1 || string(fr.Records[0].Value) != "kept" {
		t.Fatalf("after restart: %+v", fr)
	}
}

// BenchmarkStartSingleNode: a single-node Start (until it has elected
// itself and serves) followed by Close, on a fresh data dir.
func BenchmarkStartSingleNode(b *testing.B) {
	for i := 0; i < b.N; i++ {
		br, err := broker.Start(broker.Config{DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		br.Close()
		b.StartTimer()
	}
}
