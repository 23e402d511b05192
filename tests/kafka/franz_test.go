package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// franzCodecs maps codec names to kgo's.
var franzCodecs = map[string]kgo.CompressionCodec{
	"none":   kgo.NoCompression(),
	"gzip":   kgo.GzipCompression(),
	"snappy": kgo.SnappyCompression(),
	"lz4":    kgo.Lz4Compression(),
	"zstd":   kgo.ZstdCompression(),
}

// testFranz: kadm creates the topic; kgo produces with every acks level and
// codec (acks=all idempotent, kgo's default), reads back from the first
// offset and from the middle; kadm lists earliest, latest and by-time
// offsets and deletes the topic.
func testFranz(t *testing.T, c *cluster) {
	ctx := ctxFor(t)
	adm := newAdmin(t, c)
	p := newPlan("franz", combos(true, allCodecs...))
	createTopic(t, c, adm, p.topic, p.partitions())

	for i, cb := range p.combos {
		franzProduce(t, c, p.topic, cb, p.recs[i])
	}
	waitEndOffsets(t, adm, p)

	for _, start := range []int64{0, perCombo / 2} {
		got := franzConsume(t, c, p.topic, p.partitions(), start, perCombo-int(start))
		for i, cb := range p.combos {
			checkRecords(t, fmt.Sprintf("franz-go read from %d, %v", start, cb), p.from(i, start), got[int32(i)])
		}
	}

	checkFranzOffsets(ctx, t, adm, p)
	deleteTopic(t, c, adm, p.topic)
}

// newAdmin returns a kadm client for the cluster, closed when the test ends.
func newAdmin(t *testing.T, c *cluster) *kadm.Client {
	t.Helper()
	// A short metadata cache: after a topic is created, deleted or its
	// leader moves, the next request asks again.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka...), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// waitEndOffsets waits until every partition of the plan's topic ends at
// perCombo (acks=0 produces return before the broker has the records).
func waitEndOffsets(t *testing.T, adm *kadm.Client, p *plan) {
	t.Helper()
	ctx := ctxFor(t)
	eventually(t, "end offsets of "+p.topic, func() error {
		offs, err := adm.ListEndOffsets(ctx, p.topic)
		if err != nil {
			return err
		}
		for i := range p.combos {
			o, ok := offs.Lookup(p.topic, int32(i))
			if !ok || o.Err != nil || o.Offset != perCombo {
				return fmt.Errorf("partition %d (%v): end %d, %v (listed: %v), want %d", i, p.combos[i], o.Offset, o.Err, ok, perCombo)
			}
		}
		return nil
	})
}

// franzProduce produces recs (all to their partition) with kgo and the
// combo's settings, and checks that every record is acknowledged (and,
// with acks=all, at its expected offset).
func franzProduce(t *testing.T, c *cluster, topic string, cb combo, recs []rec) {
	t.Helper()
	acks := map[int]kgo.Acks{0: kgo.NoAck(), 1: kgo.LeaderAck(), -1: kgo.AllISRAcks()}[cb.acks]
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.kafka...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(acks),
		kgo.ProducerBatchCompression(franzCodecs[cb.codec]),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	if !cb.idem {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = toKgo(topic, r)
	}
	for i, res := range cl.ProduceSync(ctxFor(t), krs...) {
		if res.Err != nil {
			t.Fatalf("franz-go produce %v, record %d: %v", cb, i, res.Err)
		}
		if cb.acks == -1 && res.Record.Offset != recs[i].Offset {
			t.Errorf("franz-go produce %v, record %d: offset %d, want %d", cb, i, res.Record.Offset, recs[i].Offset)
		}
	}
}

func toKgo(topic string, r rec) *kgo.Record {
	kr := &kgo.Record{Topic: topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Time}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return kr
}

func fromKgo(kr *kgo.Record) rec {
	r := rec{Partition: kr.Partition, Offset: kr.Offset, Key: kr.Key, Value: kr.Value, Time: kr.Timestamp}
	for _, h := range kr.Headers {
		r.Headers = append(r.Headers, hdr{h.Key, h.Value})
	}
	return r
}

// franzConsume reads want records from each of partitions 0..n-1 of topic,
// starting at offset start, with a kgo direct (groupless) consumer.
func franzConsume(t *testing.T, c *cluster, topic string, n int32, start int64, want int) map[int32][]rec {
	t.Helper()
	starts := make(map[int32]int64)
	for p := range n {
		starts[p] = start
	}
	return franzConsumeParts(t, c, topic, starts, want)
}

// franzConsumeParts reads want records from each partition of starts, from
// its start offset, with a kgo direct (groupless) consumer.
func franzConsumeParts(t *testing.T, c *cluster, topic string, starts map[int32]int64, want int) map[int32][]rec {
	t.Helper()
	parts := make(map[int32]kgo.Offset)
	for p, start := range starts {
		parts[p] = kgo.NewOffset().At(start)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := ctxFor(t)
	got := make(map[int32][]rec)
	for total := 0; total < want*len(starts); {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("franz-go consume %s from %v: %d of %d records read: %v", topic, starts, total, want*len(starts), err)
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("franz-go consume %s p%d: %v", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(kr *kgo.Record) {
			got[kr.Partition] = append(got[kr.Partition], fromKgo(kr))
			total++
		})
	}
	return got
}

// checkFranzOffsets lists earliest, latest and by-time offsets with kadm.
func checkFranzOffsets(ctx context.Context, t *testing.T, adm *kadm.Client, p *plan) {
	t.Helper()
	start, err := adm.ListStartOffsets(ctx, p.topic)
	if err != nil {
		t.Fatalf("kadm list start offsets: %v", err)
	}
	end, err := adm.ListEndOffsets(ctx, p.topic)
	if err != nil {
		t.Fatalf("kadm list end offsets: %v", err)
	}
	for i := range p.combos {
		if o, _ := start.Lookup(p.topic, int32(i)); o.Err != nil || o.Offset != 0 {
			t.Errorf("kadm earliest offset of p%d: %d, %v; want 0", i, o.Offset, o.Err)
		}
		if o, _ := end.Lookup(p.topic, int32(i)); o.Err != nil || o.Offset != perCombo {
			t.Errorf("kadm latest offset of p%d: %d, %v; want %d", i, o.Offset, o.Err, perCombo)
		}
	}
	// By time: each partition's records have their own minute, so a time
	// inside partition i's range finds that record there.
	for i := range p.combos {
		k := (i*7 + 1) % perCombo
		r := p.recs[i][k]
		offs, err := adm.ListOffsetsAfterMilli(ctx, r.Time.UnixMilli(), p.topic)
		if err != nil {
			t.Fatalf("kadm list offsets after %d: %v", r.Time.UnixMilli(), err)
		}
		if o, _ := offs.Lookup(p.topic, int32(i)); o.Err != nil || o.Offset != int64(k) || o.Timestamp != r.Time.UnixMilli() {
			t.Errorf("kadm offset of p%d after %d: offset %d time %d, %v; want %d at %d", i, r.Time.UnixMilli(), o.Offset, o.Timestamp, o.Err, k, r.Time.UnixMilli())
		}
	}
	// After every record: the end offset (kadm asks again with -1).
	last := p.recs[len(p.recs)-1]
	offs, err := adm.ListOffsetsAfterMilli(ctx, last[len(last)-1].Time.UnixMilli()+1, p.topic)
	if err != nil {
		t.Fatalf("kadm list offsets after the last record: %v", err)
	}
	for i := range p.combos {
		if o, _ := offs.Lookup(p.topic, int32(i)); o.Err != nil || o.Offset != perCombo {
			t.Errorf("kadm offset of p%d after every record: %d, %v; want %d", i, o.Offset, o.Err, perCombo)
		}
	}
}
