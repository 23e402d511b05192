package kafka

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

var saramaCodecs = map[string]sarama.CompressionCodec{
	"none":   sarama.CompressionNone,
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

// saramaConfig is the base configuration: a recent protocol version (record
// batches, headers, zstd) and short retry backoffs.
func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_9_0_0
	cfg.ClientID = "minibroker-tests"
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	return cfg
}

// testSarama: the ClusterAdmin creates the topic; a SyncProducer produces
// with every acks level and codec (acks=all idempotent); a
// PartitionConsumer reads back from the first offset and the middle;
// Client.GetOffset lists earliest, latest and by-time offsets; the admin
// deletes the topic.
func testSarama(t *testing.T, c *cluster) {
	p := newPlan("sarama", combos(true, allCodecs...))
	adm, err := sarama.NewClusterAdmin(c.kafka, saramaConfig())
	if err != nil {
		t.Fatalf("sarama cluster admin: %v", err)
	}
	defer adm.Close()
	if err := adm.CreateTopic(p.topic, &sarama.TopicDetail{NumPartitions: p.partitions(), ReplicationFactor: -1}, false); err != nil {
		t.Fatalf("sarama create topic: %v", err)
	}
	kadmin := newAdmin(t, c)
	waitTopic(t, c, p.topic, p.partitions())

	for i, cb := range p.combos {
		saramaProduce(t, c, p.topic, cb, p.recs[i])
	}
	waitEndOffsets(t, kadmin, p)

	cl, err := sarama.NewClient(c.kafka, saramaConfig())
	if err != nil {
		t.Fatalf("sarama client: %v", err)
	}
	defer cl.Close()
	for _, start := range []int64{0, perCombo / 2} {
		got := saramaConsume(t, cl, p.topic, p.partitions(), start, perCombo-int(start))
		for i, cb := range p.combos {
			checkRecords(t, fmt.Sprintf("sarama read from %d, %v", start, cb), p.from(i, start), got[i])
		}
	}

	for i := range p.combos {
		k := (i*5 + 2) % perCombo
		want := map[int64]int64{sarama.OffsetOldest: 0, sarama.OffsetNewest: perCombo, p.recs[i][k].Time.UnixMilli(): int64(k)}
		for ts, off := range want {
			got, err := cl.GetOffset(p.topic, int32(i), ts)
			if err != nil || got != off {
				t.Errorf("sarama GetOffset(p%d, %d) = %d, %v; want %d", i, ts, got, err, off)
			}
		}
	}

	if err := adm.DeleteTopic(p.topic); err != nil {
		t.Fatalf("sarama delete topic: %v", err)
	}
	waitTopicGone(t, c, p.topic)
	topics, err := adm.ListTopics()
	if err != nil {
		t.Fatalf("sarama list topics: %v", err)
	}
	if _, ok := topics[p.topic]; ok {
		t.Errorf("sarama lists topic %s after deleting it", p.topic)
	}
}

func saramaProduce(t *testing.T, c *cluster, topic string, cb combo, recs []rec) {
	t.Helper()
	cfg := saramaConfig()
	cfg.Producer.Return.Successes = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = saramaCodecs[cb.codec]
	cfg.Producer.RequiredAcks = sarama.RequiredAcks(cb.acks)
	if cb.idem {
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
	}
	prod, err := sarama.NewSyncProducer(c.kafka, cfg)
	if err != nil {
		t.Fatalf("sarama producer %v: %v", cb, err)
	}
	defer prod.Close()
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Partition: r.Partition, Value: sarama.ByteEncoder(r.Value), Timestamp: r.Time}
		if r.Key != nil {
			m.Key = sarama.ByteEncoder(r.Key)
		}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		msgs[i] = m
	}
	if err := prod.SendMessages(msgs); err != nil {
		var pe sarama.ProducerErrors
		if errors.As(err, &pe) && len(pe) > 0 {
			t.Fatalf("sarama produce %v: %d failed, first: %v", cb, len(pe), pe[0].Err)
		}
		t.Fatalf("sarama produce %v: %v", cb, err)
	}
	if cb.acks == -1 {
		for i, m := range msgs {
			if m.Offset != recs[i].Offset {
				t.Errorf("sarama produce %v, record %d: offset %d, want %d", cb, i, m.Offset, recs[i].Offset)
			}
		}
	}
}

// saramaConsume reads n records of each partition 0..parts-1 from offset
// start, with a PartitionConsumer for each (they fetch together).
func saramaConsume(t *testing.T, cl sarama.Client, topic string, parts int32, start int64, n int) [][]rec {
	t.Helper()
	cons, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer cons.Close()
	pcs := make([]sarama.PartitionConsumer, parts)
	for p := range parts {
		if pcs[p], err = cons.ConsumePartition(topic, p, start); err != nil {
			t.Fatalf("sarama consume p%d from %d: %v", p, start, err)
		}
		defer pcs[p].AsyncClose()
	}
	timeout := time.After(waitTimeout)
	got := make([][]rec, parts)
	for p, pc := range pcs {
		for len(got[p]) < n {
			select {
			case m := <-pc.Messages():
				r := rec{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Timestamp}
				for _, h := range m.Headers {
					r.Headers = append(r.Headers, hdr{string(h.Key), h.Value})
				}
				got[p] = append(got[p], r)
			case err := <-pc.Errors():
				t.Fatalf("sarama consume p%d: %v", p, err)
			case <-timeout:
				t.Fatalf("sarama consume p%d from %d: %d of %d records after %v", p, start, len(got[p]), n, waitTimeout)
			}
		}
	}
	return got
}
