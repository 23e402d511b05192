package broker_test

import (
	"math"
	"testing"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/internal/wire"
)

// produceRaw sends one produce request (v1 when idempotent) and returns
// the answer.
func produceRaw(t *testing.T, c *rawConn, req *wire.ProduceRequest) wire.ProduceResponse {
	t.Helper()
	version := uint16(0)
	if req.ProducerID != 0 {
		version = 1
	}
	id := c.send(wire.Produce, version, req)
	var pr wire.ProduceResponse
	if got, err := c.recv(&pr); err != nil || got != id {
		t.Fatalf("produce: %v (id %d, want %d)", err, got, id)
	}
	return pr
}

func initProducerRaw(t *testing.T, c *rawConn) int64 {
	t.Helper()
	var ip wire.InitProducerResponse
	c.call(wire.InitProducer, &wire.InitProducerRequest{}, &ip)
	if ip.ErrorCode != wire.CodeNone || ip.ProducerID <= 0 {
		t.Fatalf("init producer: %+v", ip)
	}
	return ip.ProducerID
}

func createTopicRaw(t *testing.T, c *rawConn, name string, partitions int32) {
	t.Helper()
	var ct wire.CreateTopicResponse
	c.call(wire.CreateTopic, &wire.CreateTopicRequest{Name: name, Partitions: partitions}, &ct)
	if ct.ErrorCode != wire.CodeNone {
		t.Fatalf("create topic: %+v", ct)
	}
}

func fetchCount(t *testing.T, c *rawConn, topic string, p int32) int {
	t.Helper()
	var fr wire.FetchResponse
	c.call(wire.Fetch, &wire.FetchRequest{Topic: topic, Partition: p, Offset: 0}, &fr)
	if fr.ErrorCode != wire.CodeNone {
		t.Fatalf("fetch %s/%d: %+v", topic, p, fr)
	}
	return len(fr.Records)
}

// TestNegativeSequenceProduceIsRejectedAndClusterKeepsServing: a raw
// idempotent produce with sequence -1 to a partition the producer never
// wrote crashed every replica in Apply (and again on each restart); one
// whose sequence plus record count passes MaxInt32 was stored and then
// stored again when resent. The broker refuses both before Raft with
// CodeMalformed, and the cluster goes on serving.
func TestNegativeSequenceProduceIsRejectedAndClusterKeepsServing(t *testing.T) {
	cl := brokertest.NewCluster(t, 3)
	c := dialRaw(t, cl.Leader().Addr())
	createTopicRaw(t, c, "t", 2)
	pid := initProducerRaw(t, c)
	for _, req := range []wire.ProduceRequest{
		{Topic: "t", Partition: 1, Acks: wire.AcksAll, Records: records("x"), ProducerID: pid, Sequence: -1},
		{Topic: "t", Partition: 1, Acks: wire.AcksAll, Records: records("x", "y"), ProducerID: pid, Sequence: math.MaxInt32},
	} {
		if pr := produceRaw(t, c, &req); pr.ErrorCode != wire.CodeMalformed {
			t.Fatalf("sequence %d: %+v, want %v", req.Sequence, pr, wire.CodeMalformed)
		} else {
			t.Logf("sequence %d: %s", req.Sequence, pr.ErrorMessage)
		}
	}
	if pr := produceRaw(t, c, &wire.ProduceRequest{Topic: "t", Partition: 1, Acks: wire.AcksAll,
		Records: records("a"), ProducerID: pid, Sequence: 0}); pr.ErrorCode != wire.CodeNone || pr.BaseOffset != 0 {
		t.Fatalf("the producer's first batch: %+v", pr)
	}
	for i := range cl.Len() {
		if err := cl.Broker(i).Err(); err != nil {
			t.Fatalf("n%d stopped: %v", i+1, err)
		}
	}
	if n := fetchCount(t, c, "t", 1); n != 1 {
		t.Fatalf("%d records stored, want 1", n)
	}
	cl.VerifyReplicas()
}

// TestAcksLeaderProduceToUnknownPartitionIsAnError: acks=1 (and acks=0)
// acknowledged a write to a partition that does not exist, which Apply
// then refused. The leader checks its applied state before proposing.
func TestAcksLeaderProduceToUnknownPartitionIsAnError(t *testing.T) {
	b := brokertest.NewBroker(t)
	c := dialRaw(t, b.Addr())
	createTopicRaw(t, c, "t", 1)
	for _, acks := range []int8{wire.AcksLeader, wire.AcksNone, wire.AcksAll} {
		if pr := produceRaw(t, c, &wire.ProduceRequest{Topic: "t", Partition: 3, Acks: acks, Records: records("x")}); pr.ErrorCode != wire.CodeUnknownPartition {
			t.Errorf("acks=%d, unknown partition: %+v, want %v", acks, pr, wire.CodeUnknownPartition)
		}
		if pr := produceRaw(t, c, &wire.ProduceRequest{Topic: "nope", Acks: acks, Records: records("x")}); pr.ErrorCode != wire.CodeUnknownTopic {
			t.Errorf("acks=%d, unknown topic: %+v, want %v", acks, pr, wire.CodeUnknownTopic)
		}
	}
	if pr := produceRaw(t, c, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksLeader, Records: records("x")}); pr.ErrorCode != wire.CodeNone {
		t.Fatalf("acks=1 to an existing partition: %+v", pr)
	}
}

// TestIdempotentProduceWithoutAcksAllIsRefused: idempotence needs
// acks=all (as in Kafka): with acks=1 or 0 the producer never learns how
// Apply decided on its batch. Such a produce is refused before Raft and
// changes nothing: the producer's first batch with acks=all still starts
// at sequence 0.
func TestIdempotentProduceWithoutAcksAllIsRefused(t *testing.T) {
	b := brokertest.NewBroker(t)
	c := dialRaw(t, b.Addr())
	createTopicRaw(t, c, "t", 1)
	pid := initProducerRaw(t, c)
	for _, acks := range []int8{wire.AcksLeader, wire.AcksNone} {
		pr := produceRaw(t, c, &wire.ProduceRequest{Topic: "t", Acks: acks, Records: records("x"), ProducerID: pid, Sequence: 0})
		if pr.ErrorCode != wire.CodeMalformed {
			t.Fatalf("acks=%d: %+v, want %v", acks, pr, wire.CodeMalformed)
		}
		t.Logf("acks=%d: %s", acks, pr.ErrorMessage)
	}
	if n := fetchCount(t, c, "t", 0); n != 0 {
		t.Fatalf("%d records stored, want none", n)
	}
	if pr := produceRaw(t, c, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll, Records: records("a"),
		ProducerID: pid, Sequence: 0}); pr.ErrorCode != wire.CodeNone || pr.BaseOffset != 0 {
		t.Fatalf("acks=all: %+v", pr)
	}
}
