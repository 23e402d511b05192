package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

var kafkagoCodecs = map[string]kafkago.Compression{
	"none": 0, "gzip": kafkago.Gzip, "snappy": kafkago.Snappy, "lz4": kafkago.Lz4, "zstd": kafkago.Zstd,
}

// testKafkaGo: kafka-go's Client creates the topic; its Writer produces
// with every acks level and codec (kafka-go has no idempotent producer);
// its Reader reads back from the first offset and the middle; the Client
// lists offsets and deletes the topic.
func testKafkaGo(t *testing.T, c *cluster) {
	ctx := ctxFor(t)
	p := newPlan("kafkago", combos(false, allCodecs...))
	cl := &kafkago.Client{Addr: kafkago.TCP(c.kafka...), Timeout: 10 * time.Second}
	res, err := cl.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{
		{Topic: p.topic, NumPartitions: int(p.partitions()), ReplicationFactor: -1},
	}})
	if err == nil {
		err = res.Errors[p.topic]
	}
	if err != nil {
		t.Fatalf("kafka-go create topic: %v", err)
	}
	kadmin := newAdmin(t, c)
	waitTopic(t, c, p.topic, p.partitions())

	for i, cb := range p.combos {
		w := &kafkago.Writer{
			Addr:         kafkago.TCP(c.kafka...),
			Topic:        p.topic,
			Balancer:     kafkago.BalancerFunc(func(kafkago.Message, ...int) int { return i }),
			RequiredAcks: kafkago.RequiredAcks(cb.acks),
			Compression:  kafkagoCodecs[cb.codec],
			BatchSize:    perCombo,
			BatchTimeout: 10 * time.Millisecond,
		}
		msgs := make([]kafkago.Message, 0, perCombo)
		for _, r := range p.recs[i] {
			msgs = append(msgs, toKafkago(r))
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatalf("kafka-go write %v: %v", cb, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("kafka-go writer close %v: %v", cb, err)
		}
	}
	waitEndOffsets(t, kadmin, p)

	for _, start := range []int64{0, perCombo / 2} {
		for i, cb := range p.combos {
			r := kafkago.NewReader(kafkago.ReaderConfig{
				Brokers: c.kafka, Topic: p.topic, Partition: i, MaxWait: 100 * time.Millisecond,
			})
			if err := r.SetOffset(start); err != nil {
				t.Fatal(err)
			}
			var got []rec
			for len(got) < perCombo-int(start) {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("kafka-go read p%d from %d after %d records: %v", i, start, len(got), err)
				}
				got = append(got, fromKafkago(m))
			}
			r.Close()
			checkRecords(t, fmt.Sprintf("kafka-go read from %d, %v", start, cb), p.from(i, start), got)
		}
	}

	for i := range p.combos {
		k := (i*3 + 4) % perCombo
		ts := p.recs[i][k].Time
		for _, or := range []kafkago.OffsetRequest{kafkago.FirstOffsetOf(i), kafkago.LastOffsetOf(i), kafkago.TimeOffsetOf(i, ts)} {
			res, err := cl.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{p.topic: {or}}})
			if err != nil {
				t.Fatalf("kafka-go list offsets: %v", err)
			}
			po := res.Topics[p.topic]
			if len(po) != 1 || po[0].Error != nil {
				t.Errorf("kafka-go list offsets (%d) of p%d: %+v", or.Timestamp, i, po)
				continue
			}
			switch or.Timestamp {
			case kafkago.FirstOffset:
				if po[0].FirstOffset != 0 {
					t.Errorf("kafka-go first offset of p%d: %d, want 0", i, po[0].FirstOffset)
				}
			case kafkago.LastOffset:
				if po[0].LastOffset != perCombo {
					t.Errorf("kafka-go last offset of p%d: %d, want %d", i, po[0].LastOffset, perCombo)
				}
			default:
				if at, ok := po[0].Offsets[int64(k)]; !ok || at.UnixMilli() != ts.UnixMilli() {
					t.Errorf("kafka-go offset of p%d at time %d: %v, want offset %d", i, ts.UnixMilli(), po[0].Offsets, k)
				}
			}
		}
	}

	dres, err := cl.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: []string{p.topic}})
	if err == nil {
		err = dres.Errors[p.topic]
	}
	if err != nil {
		t.Fatalf("kafka-go delete topic: %v", err)
	}
	waitTopicGone(t, c, p.topic)
}

func toKafkago(r rec) kafkago.Message {
	m := kafkago.Message{Key: r.Key, Value: r.Value, Time: r.Time}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, kafkago.Header{Key: h.Key, Value: h.Value})
	}
	return m
}

func fromKafkago(m kafkago.Message) rec {
	r := rec{Partition: int32(m.Partition), Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, hdr{h.Key, h.Value})
	}
	return r
}

// testKafkaGoConn drives kafka-go's low-level Conn, which speaks old
// protocol versions (Metadata v1, ListOffsets v1, CreateTopics and
// DeleteTopics as it negotiates): topic creation on the controller
// (explicit replication factor: every node), ReadPartitions, a compressed
// write per codec on the partition leader, ReadFirstOffset, ReadLastOffset,
// ReadOffset by time, ReadBatch from an offset, DeleteTopics.
func testKafkaGoConn(t *testing.T, c *cluster) {
	ctx := ctxFor(t)
	p := newPlan("kafkagoconn", ackAll(combos(false, allCodecs...))) // acks=all: Conn writes with acks=all only
	conn, err := kafkago.DialContext(ctx, "tcp", c.kafka[len(c.kafka)-1])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		t.Fatalf("kafka-go Conn.Controller: %v", err)
	}
	cc, err := kafkago.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		t.Fatalf("dial controller %+v: %v", ctrl, err)
	}
	defer cc.Close()
	if err := cc.CreateTopics(kafkago.TopicConfig{Topic: p.topic, NumPartitions: int(p.partitions()), ReplicationFactor: c.nodes}); err != nil {
		t.Fatalf("kafka-go Conn.CreateTopics: %v", err)
	}
	waitTopic(t, c, p.topic, p.partitions())

	parts, err := conn.ReadPartitions(p.topic)
	if err != nil {
		t.Fatalf("kafka-go Conn.ReadPartitions: %v", err)
	}
	if len(parts) != int(p.partitions()) {
		t.Fatalf("kafka-go Conn.ReadPartitions: %d partitions, want %d: %+v", len(parts), p.partitions(), parts)
	}
	for _, pt := range parts {
		if pt.Leader.Port == 0 || len(pt.Replicas) != c.nodes || len(pt.Isr) != c.nodes {
			t.Errorf("kafka-go Conn.ReadPartitions: partition %d: leader %+v, %d replicas, %d in sync; want %d", pt.ID, pt.Leader, len(pt.Replicas), len(pt.Isr), c.nodes)
		}
	}

	for i, cb := range p.combos {
		lc := dialLeader(ctx, t, c, p.topic, i)
		msgs := make([]kafkago.Message, 0, perCombo)
		for _, r := range p.recs[i] {
			msgs = append(msgs, toKafkago(r))
		}
		codec := kafkagoCodecs[cb.codec].Codec() // nil for none
		// Batches of 7: several batches per partition.
		for len(msgs) > 0 {
			n := min(7, len(msgs))
			if _, err := lc.WriteCompressedMessages(codec, msgs[:n]...); err != nil {
				t.Fatalf("kafka-go Conn.WriteCompressedMessages %v: %v", cb, err)
			}
			msgs = msgs[n:]
		}

		first, err := lc.ReadFirstOffset()
		if err != nil || first != 0 {
			t.Errorf("kafka-go Conn.ReadFirstOffset p%d: %d, %v; want 0", i, first, err)
		}
		last, err := lc.ReadLastOffset()
		if err != nil || last != perCombo {
			t.Errorf("kafka-go Conn.ReadLastOffset p%d: %d, %v; want %d", i, last, err, perCombo)
		}
		k := (i*11 + 5) % perCombo
		at, err := lc.ReadOffset(p.recs[i][k].Time)
		if err != nil || at != int64(k) {
			t.Errorf("kafka-go Conn.ReadOffset(time of record %d) p%d: %d, %v", k, i, at, err)
		}

		for _, start := range []int64{0, perCombo / 2, perCombo - 1} {
			got := readBatches(t, lc, start, perCombo-int(start))
			for j := range got {
				got[j].Partition = int32(i) // Batch messages carry no partition
			}
			checkRecords(t, fmt.Sprintf("kafka-go Conn.ReadBatch from %d, %v", start, cb), p.from(i, start), got)
		}
		lc.Close()
	}

	if err := cc.DeleteTopics(p.topic); err != nil {
		t.Fatalf("kafka-go Conn.DeleteTopics: %v", err)
	}
	waitTopicGone(t, c, p.topic)
}

// dialLeader dials the leader of a partition (kafka-go looks it up with
// Metadata v1), retrying while metadata settles.
func dialLeader(ctx context.Context, t *testing.T, c *cluster, topic string, partition int) *kafkago.Conn {
	t.Helper()
	var lc *kafkago.Conn
	eventually(t, fmt.Sprintf("kafka-go DialLeader %s/%d", topic, partition), func() error {
		var err error
		lc, err = kafkago.DialLeader(ctx, "tcp", c.kafka[0], topic, partition)
		return err
	})
	return lc
}

// readBatches reads n messages from offset start with Conn.Seek and
// Conn.ReadBatch.
func readBatches(t *testing.T, lc *kafkago.Conn, start int64, n int) []rec {
	t.Helper()
	if _, err := lc.Seek(start, kafkago.SeekAbsolute); err != nil {
		t.Fatalf("kafka-go Conn.Seek(%d): %v", start, err)
	}
	var got []rec
	for len(got) < n {
		if err := lc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		b := lc.ReadBatch(1, 1<<20)
		for {
			m, err := b.ReadMessage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Close()
				t.Fatalf("kafka-go Batch.ReadMessage from %d after %d messages: %v", start, len(got), err)
			}
			got = append(got, fromKafkago(m))
		}
		if err := b.Close(); err != nil {
			t.Fatalf("kafka-go Batch.Close: %v", err)
		}
	}
	return got
}
