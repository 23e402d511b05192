package kafka_test

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func initProducerID(t *testing.T, k *kconn, txn *string) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.SetVersion(4)
	req.TransactionalID, req.TransactionTimeoutMillis = txn, 60000
	req.ProducerID, req.ProducerEpoch = -1, -1
	return k.do(req).(*kmsg.InitProducerIDResponse)
}

func TestProduceErrors(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "pe", 1)
	good := kafkaBatch(1, -1, -1, -1, "x")
	badCRC := slices.Clone(good)
	badCRC[len(badCRC)-1] ^= 1
	badCount := slices.Clone(good)
	binary.BigEndian.PutUint32(badCount[57:], 2)
	txn := kafkaBatch(1, 5, 0, 0, "x")
	binary.BigEndian.PutUint16(txn[21:], 0x10)
	binary.BigEndian.PutUint32(txn[17:], crc(txn[21:]))
	magic1 := slices.Clone(good)
	magic1[16] = 1
	cases := []struct {
		name      string
		version   int16
		topic     string
		partition int32
		batch     []byte
		want      int16
	}{
		{"unknown topic", 11, "nope", 0, good, 3},
		{"unknown partition", 11, "pe", 7, good, 3},
		{"bad crc", 11, "pe", 0, badCRC, 2},
		{"count against lastOffsetDelta", 11, "pe", 0, badCount, 2},
		{"magic 1", 11, "pe", 0, magic1, 2},
		{"truncated batch", 11, "pe", 0, good[:len(good)-1], 2},
		{"transactional batch", 11, "pe", 0, txn, 87},
		{"too large", 11, "pe", 0, kafkaBatch(1, -1, -1, -1, string(make([]byte, 1100000))), 10},
		{"v2", 2, "pe", 0, good, 35},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if p := produce(t, k, tc.version, tc.topic, tc.partition, tc.batch); p.ErrorCode != tc.want {
				t.Fatalf("error %d, want %d", p.ErrorCode, tc.want)
			}
		})
	}
	// Nothing of it was stored.
	if f := fetch(t, k, 12, "pe", 0, 0, 0, 0); f.HighWatermark != 0 {
		t.Fatalf("high watermark %d after refused produces", f.HighWatermark)
	}
	// acks 2 is refused.
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(11)
	req.Acks, req.TimeoutMillis = 2, 1000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "pe"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = good
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if got := k.do(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; got != 21 {
		t.Fatalf("acks 2: error %d, want 21 (INVALID_REQUIRED_ACKS)", got)
	}
}

// acks=0 gets no response: the next answer on the connection is the next
// request's; the records are stored.
func TestProduceAcksZero(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "a0", 1)
	for _, acks := range []int16{0, 1} {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks, req.TimeoutMillis = acks, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "a0"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = kafkaBatch(1, -1, -1, -1, "acks"+string(rune('0'+acks)))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		if acks == 0 {
			k.send(req)
			continue
		}
		if p := k.do(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 {
			t.Fatalf("acks=1: error %d", p.ErrorCode)
		}
	}
	var vals []string
	waitFor(t, "both records", func() bool {
		_, vals = decodeBatches(t, fetch(t, k, 12, "a0", 0, 0, 0, 0).RecordBatches)
		return len(vals) == 2
	})
	if !slices.Equal(vals, []string{"acks0", "acks1"}) {
		t.Fatalf("values %v", vals)
	}
}

// An acks=0 produce that is refused closes the connection, as Kafka does,
// so the client refreshes its metadata.
func TestProduceAcksZeroRefusedClosesConnection(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = 0, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "missing"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = kafkaBatch(1, -1, -1, -1, "x")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	k.send(req)
	k.expectClosed()
}

func TestIdempotentProduce(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "idem", 1)
	ip := initProducerID(t, k, nil)
	if ip.ErrorCode != 0 || ip.ProducerID <= 0 || ip.ProducerEpoch != 0 {
		t.Fatalf("InitProducerId: %+v", ip)
	}
	if again := initProducerID(t, k, nil); again.ProducerID == ip.ProducerID {
		t.Fatalf("a second InitProducerId gave the same id %d", again.ProducerID)
	}
	id := ip.ProducerID
	first := kafkaBatch(1, id, 0, 0, "a", "b")
	if p := produce(t, k, 11, "idem", 0, first); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("first: %d at %d", p.ErrorCode, p.BaseOffset)
	}
	if p := produce(t, k, 11, "idem", 0, kafkaBatch(1, id, 0, 2, "c")); p.ErrorCode != 0 || p.BaseOffset != 2 {
		t.Fatalf("second: %d at %d", p.ErrorCode, p.BaseOffset)
	}
	// A retry of the first batch is answered with its original offset and
	// not stored again.
	if p := produce(t, k, 11, "idem", 0, first); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("retry: %d at %d, want 0 at 0", p.ErrorCode, p.BaseOffset)
	}
	// A gap in the sequence.
	if p := produce(t, k, 11, "idem", 0, kafkaBatch(1, id, 0, 9, "z")); p.ErrorCode != 45 {
		t.Fatalf("gap: error %d, want 45 (OUT_OF_ORDER_SEQUENCE_NUMBER)", p.ErrorCode)
	}
	// An unknown producer id.
	if p := produce(t, k, 11, "idem", 0, kafkaBatch(1, id+1000, 0, 0, "u")); p.ErrorCode != 59 {
		t.Fatalf("unknown producer: error %d, want 59 (UNKNOWN_PRODUCER_ID)", p.ErrorCode)
	}
	if _, vals := decodeBatches(t, fetch(t, k, 12, "idem", 0, 0, 0, 0).RecordBatches); !slices.Equal(vals, []string{"a", "b", "c"}) {
		t.Fatalf("stored %v", vals)
	}
	// Transactions are not supported.
	if r := initProducerID(t, k, strp("txn-1")); r.ErrorCode != 35 {
		t.Fatalf("transactional id: error %d, want 35 (UNSUPPORTED_VERSION)", r.ErrorCode)
	}
}

// TestProduceAcksZeroRefusedForVersionOrTransactionIsNotAnswered: an
// acks=0 Produce refused as a whole (an old version, a transactional id)
// gets no response either (the client reads none, so one would be taken
// for the answer to its next request): the connection is closed. Before,
// both got a response.
func TestProduceAcksZeroRefusedForVersionOrTransactionIsNotAnswered(t *testing.T) {
	b := newBroker(t)
	createTopic(t, dial(t, b.KafkaAddr()), "t0", 1)
	for _, tc := range []struct {
		name    string
		version int16
		txn     *string
	}{{"v2", 2, nil}, {"transactional", 9, kmsg.StringPtr("tx")}} {
		t.Run(tc.name, func(t *testing.T) {
			k := dial(t, b.KafkaAddr())
			req := kmsg.NewPtrProduceRequest()
			req.SetVersion(tc.version)
			req.Acks, req.TimeoutMillis, req.TransactionID = 0, 5000, tc.txn
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = "t0"
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = kafkaBatch(1, -1, -1, -1, "x")
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			k.send(req)
			k.expectClosed()
		})
	}
}
