package broker_test

import (
	"testing"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/internal/wire"
)

func TestIdempotentProduceOverTheWire(t *testing.T) {
	b := brokertest.NewBroker(t)
	c := dialRaw(t, b.Addr())
	var ct wire.CreateTopicResponse
	c.call(wire.CreateTopic, &wire.CreateTopicRequest{Name: "t", Partitions: 1}, &ct)
	var ip wire.InitProducerResponse
	c.call(wire.InitProducer, &wire.InitProducerRequest{}, &ip)
	if ip.ErrorCode != wire.CodeNone || ip.ProducerID <= 0 {
		t.Fatalf("init producer: %+v", ip)
	}
	produce := func(seq int32, vals ...string) wire.ProduceResponse {
		t.Helper()
		id := c.send(wire.Produce, 1, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll, Records: records(vals...),
			ProducerID: ip.ProducerID, Sequence: seq})
		var pr wire.ProduceResponse
		if got, err := c.recv(&pr); err != nil || got != id {
			t.Fatalf("produce: %v (id %d, want %d)", err, got, id)
		}
		return pr
	}
	if pr := produce(0, "a", "b"); pr.ErrorCode != wire.CodeNone || pr.BaseOffset != 0 {
		t.Fatalf("first: %+v", pr)
	}
	if pr := produce(0, "a", "b"); pr.ErrorCode != wire.CodeNone || pr.BaseOffset != 0 {
		t.Fatalf("retry: %+v, want the original offset", pr)
	}
	if pr := produce(5, "x"); pr.ErrorCode != wire.CodeOutOfOrderSequence {
		t.Fatalf("gap: %+v", pr)
	}
	if pr := produce(2, "c"); pr.ErrorCode != wire.CodeNone || pr.BaseOffset != 2 {
		t.Fatalf("next: %+v", pr)
	}
	var fr wire.FetchResponse
	c.call(wire.Fetch, &wire.FetchRequest{Topic: "t", Offset: 0}, &fr)
	if len(fr.Records) != 3 {
		t.Fatalf("stored %d records, want 3 (no duplicate)", len(fr.Records))
	}

	// A restarted producer asks again and gets a new id; its sequence 0 is
	// new data, not a duplicate of the first producer's.
	var ip2 wire.InitProducerResponse
	c.call(wire.InitProducer, &wire.InitProducerRequest{}, &ip2)
	if ip2.ProducerID <= 0 || ip2.ProducerID == ip.ProducerID {
		t.Fatalf("second producer id %d, first %d", ip2.ProducerID, ip.ProducerID)
	}
	ip.ProducerID = ip2.ProducerID
	if pr := produce(0, "a", "b"); pr.ErrorCode != wire.CodeNone || pr.BaseOffset != 3 {
		t.Fatalf("new producer's first batch: %+v", pr)
	}
	id := c.send(wire.Produce, 1, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll, Records: records("z"), ProducerID: 999999})
	var pr wire.ProduceResponse
	if got, err := c.recv(&pr); err != nil || got != id || pr.ErrorCode != wire.CodeUnknownProducer {
		t.Fatalf("unknown producer: %+v %v", pr, err)
	}
}
