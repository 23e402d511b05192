package kafka_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// createTopic creates a topic over Kafka and fails the test on an error.
func createTopic(t *testing.T, k *kconn, name string, partitions int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(5)
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, -1
	req.Topics = append(req.Topics, rt)
	resp := k.do(req).(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic %s: %+v", name, resp.Topics)
	}
}

// produce sends one batch with acks -1 and returns the partition answer.
func produce(t *testing.T, k *kconn, version int16, topic string, partition int32, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(version)
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := k.do(req).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0]
}

// fetch fetches one partition from offset.
func fetch(t *testing.T, k *kconn, version int16, topic string, partition int32, offset int64, waitMs, minBytes int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(version)
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = waitMs, minBytes, 1<<20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := k.do(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || resp.SessionID != 0 {
		t.Fatalf("fetch: error %d, session %d", resp.ErrorCode, resp.SessionID)
	}
	return resp.Topics[0].Partitions[0]
}

func TestProduceFetchRoundTrip(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "t1", 2)
	p := produce(t, k, 9, "t1", 1, kafkaBatch(1000, -1, -1, -1, "a", "b", "c"))
	if p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("produce: code %d, base offset %d", p.ErrorCode, p.BaseOffset)
	}
	p = produce(t, k, 11, "t1", 1, kafkaBatch(2000, -1, -1, -1, "d"))
	if p.ErrorCode != 0 || p.BaseOffset != 3 {
		t.Fatalf("second produce: code %d, base offset %d", p.ErrorCode, p.BaseOffset)
	}
	for _, v := range []int16{4, 11, 12} {
		f := fetch(t, k, v, "t1", 1, 1, 0, 0)
		if f.ErrorCode != 0 || f.HighWatermark != 4 || f.LastStableOffset != 4 || (v >= 5 && f.LogStartOffset != 0) {
			t.Fatalf("fetch v%d: %+v", v, f)
		}
		offs, vals := decodeBatches(t, f.RecordBatches)
		if len(vals) != 4 || vals[0] != "a" || vals[3] != "d" || offs[3] != 3 {
			t.Fatalf("fetch v%d: offsets %v values %v", v, offs, vals)
		}
	}
	// An empty partition: zero-length, non-null records.
	f := fetch(t, k, 12, "t1", 0, 0, 0, 0)
	if f.ErrorCode != 0 || f.RecordBatches == nil || len(f.RecordBatches) != 0 {
		t.Fatalf("empty partition: code %d, records %v", f.ErrorCode, f.RecordBatches)
	}
}
