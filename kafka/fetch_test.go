package kafka_test

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A Fetch at the end waits for new data and returns as soon as it comes.
func TestFetchLongPoll(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "lp", 1)
	done := make(chan kmsg.FetchResponseTopicPartition, 1)
	fk := dial(t, b.KafkaAddr())
	go func() {
		// 30s max wait: only the produce below can end it in time.
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(11)
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = 30000, 1, 1<<20, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "lp"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		corr := int32(1)
		fk.nc.Write(fk.fmt.AppendRequest(nil, req, corr))
		fb, err := fk.readFrame()
		if err != nil {
			close(done)
			return
		}
		resp := req.ResponseKind()
		if err := resp.ReadFrom(fb[4:]); err != nil {
			close(done)
			return
		}
		done <- resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]
	}()
	if p := produce(t, k, 11, "lp", 0, kafkaBatch(1, -1, -1, -1, "late")); p.ErrorCode != 0 {
		t.Fatalf("produce: %d", p.ErrorCode)
	}
	f, ok := <-done
	if !ok {
		t.Fatal("fetch failed")
	}
	if _, vals := decodeBatches(t, f.RecordBatches); !slices.Equal(vals, []string{"late"}) || f.HighWatermark != 1 {
		t.Fatalf("fetch: %v, high watermark %d", vals, f.HighWatermark)
	}
	// A short max wait with nothing new: an empty, non-null answer.
	e := fetch(t, k, 12, "lp", 0, 1, 50, 1)
	if e.ErrorCode != 0 || e.RecordBatches == nil || len(e.RecordBatches) != 0 {
		t.Fatalf("empty fetch: %+v", e)
	}
}

func TestFetchErrors(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "fe", 1)
	produce(t, k, 11, "fe", 0, kafkaBatch(1, -1, -1, -1, "a", "b"))
	if f := fetch(t, k, 12, "fe", 0, 3, 0, 0); f.ErrorCode != 1 || f.HighWatermark != 2 || f.LogStartOffset != 0 {
		t.Fatalf("past the end: %+v", f)
	}
	if f := fetch(t, k, 12, "fe", 0, -1, 0, 0); f.ErrorCode != 1 {
		t.Fatalf("negative offset: error %d", f.ErrorCode)
	}
	if f := fetch(t, k, 12, "nope", 0, 0, 0, 0); f.ErrorCode != 3 {
		t.Fatalf("unknown topic: error %d", f.ErrorCode)
	}
	// A fetch session is declined: session id 0, full answers.
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.SessionID, req.SessionEpoch = 0, 0
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "fe"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if r := k.do(req).(*kmsg.FetchResponse); r.ErrorCode != 0 || r.SessionID != 0 || len(r.Topics) != 1 {
		t.Fatalf("session: %+v", r)
	}
	req.SessionID, req.SessionEpoch = 42, 1
	if r := k.do(req).(*kmsg.FetchResponse); r.ErrorCode != 70 {
		t.Fatalf("unknown session: error %d, want 70 (FETCH_SESSION_ID_NOT_FOUND)", r.ErrorCode)
	}
}

// A partition's max bytes limits the answer, but at least one whole batch
// comes back.
func TestFetchMaxBytes(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "mb", 1)
	for i := range 3 {
		produce(t, k, 11, "mb", 0, kafkaBatch(1, -1, -1, -1, string(rune('a'+i))+string(make([]byte, 300))))
	}
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxBytes, req.SessionEpoch = 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "mb"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 10
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	f := k.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if offs, _ := decodeBatches(t, f.RecordBatches); !slices.Equal(offs, []int64{0}) {
		t.Fatalf("offsets %v, want just the first batch", offs)
	}
}

func listOffset(t *testing.T, k *kconn, version int16, topic string, ts int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(version)
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp, rp.MaxNumOffsets = ts, 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return k.do(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
}

func TestListOffsets(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "lo", 1)
	produce(t, k, 11, "lo", 0, kafkaBatch(1000, -1, -1, -1, "a", "b", "c")) // timestamps 1000-1002, offsets 0-2
	produce(t, k, 11, "lo", 0, kafkaBatch(5000, -1, -1, -1, "d", "e"))      // 5000-5001, offsets 3-4
	produce(t, k, 11, "lo", 0, kafkaBatch(2000, -1, -1, -1, "f"))           // 2000, offset 5
	for _, v := range []int16{1, 4, 7} {
		cases := []struct {
			ts, off, gotTs int64
		}{
			{-2, 0, -1}, {-1, 6, -1}, {0, 0, 1000}, {1001, 1, 1001}, {1003, 3, 5000}, {5001, 4, 5001}, {9999, -1, -1},
		}
		if v >= 7 {
			cases = append(cases, struct{ ts, off, gotTs int64 }{-3, 4, 5001})
		}
		for _, c := range cases {
			p := listOffset(t, k, v, "lo", c.ts)
			if p.ErrorCode != 0 || p.Offset != c.off || p.Timestamp != c.gotTs {
				t.Errorf("v%d timestamp %d: error %d, offset %d at %d; want %d at %d", v, c.ts, p.ErrorCode, p.Offset, p.Timestamp, c.off, c.gotTs)
			}
		}
	}
	// v0 answers in the old-style offsets array.
	if p := listOffset(t, k, 0, "lo", -1); p.ErrorCode != 0 || !slices.Equal(p.OldStyleOffsets, []int64{6}) {
		t.Fatalf("v0 latest: %+v", p)
	}
	if p := listOffset(t, k, 0, "lo", -2); !slices.Equal(p.OldStyleOffsets, []int64{0}) {
		t.Fatalf("v0 earliest: %+v", p)
	}
	if p := listOffset(t, k, 7, "nope", -1); p.ErrorCode != 3 {
		t.Fatalf("unknown topic: error %d", p.ErrorCode)
	}
}
