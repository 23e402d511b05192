package wire

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// The record benchmarks encode and decode a ProduceRequest of 1000 records
// with 100-byte values (and ~8-byte keys), the hot path of produce and
// fetch. Baselines measured in the same run: copying the encoded bytes
// (the floor), and msgpack's reflection codec on an identical struct
// without the hand-written codec.
//
//	go test -run='^$' -bench=Records -benchmem ./internal/wire

const (
	benchRecords   = 1000
	benchValueSize = 100
)

func benchRequest() *ProduceRequest {
	return &ProduceRequest{Topic: "orders", Partition: 3, Acks: AcksAll, TimeoutMs: 5000,
		Records: testRecords(benchRecords, benchValueSize)}
}

func reportPerRecord(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRecords, "ns/record")
}

func BenchmarkRecordsEncode(b *testing.B) {
	req := benchRequest()
	h := RequestHeader{APIKey: Produce, CorrelationID: 1}
	dst, err := EncodeRequest(nil, h, req)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(dst)))
	b.ReportAllocs()
	for b.Loop() {
		if dst, err = EncodeRequest(dst[:0], h, req); err != nil {
			b.Fatal(err)
		}
	}
	reportPerRecord(b)
}

func BenchmarkRecordsDecode(b *testing.B) {
	body := marshal(benchRequest())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var req ProduceRequest
		if err := DecodeBody(body, &req); err != nil {
			b.Fatal(err)
		}
	}
	reportPerRecord(b)
}

func BenchmarkRecordsEncodeDecode(b *testing.B) {
	req := benchRequest()
	h := RequestHeader{APIKey: Produce, CorrelationID: 1}
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = EncodeRequest(dst[:0], h, req); err != nil {
			b.Fatal(err)
		}
		_, body, err := DecodeRequestHeader(dst[FrameHeaderSize:])
		if err != nil {
			b.Fatal(err)
		}
		var got ProduceRequest
		if err := DecodeBody(body, &got); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(dst)))
	reportPerRecord(b)
}

// BenchmarkBaselineCopy copies the encoded request: the floor for any codec.
func BenchmarkBaselineCopy(b *testing.B) {
	body := marshal(benchRequest())
	dst := make([]byte, len(body))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		copy(dst, body)
	}
	reportPerRecord(b)
}

// reflectRecord and reflectProduce mirror Record and ProduceRequest with
// no custom codec, so msgpack uses reflection (the same wire bytes).
type reflectRecord struct {
	_msgpack  struct{} `msgpack:",as_array"`
	Offset    int64
	Timestamp int64
	Key       []byte
	Value     []byte
	Headers   []reflectHeader
}

type reflectHeader struct {
	_msgpack struct{} `msgpack:",as_array"`
	Key      string
	Value    []byte
}

type reflectProduce struct {
	_msgpack  struct{} `msgpack:",as_array"`
	Topic     string
	Partition int32
	Acks      int8
	TimeoutMs int32
	Records   []reflectRecord
}

func reflectRequest() *reflectProduce {
	req := benchRequest()
	out := &reflectProduce{Topic: req.Topic, Partition: req.Partition, Acks: req.Acks, TimeoutMs: req.TimeoutMs}
	for _, r := range req.Records {
		out.Records = append(out.Records, reflectRecord{Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value})
	}
	return out
}

func BenchmarkBaselineReflectEncode(b *testing.B) {
	req := reflectRequest()
	enc := msgpack.NewEncoder(nil)
	w := new(appendWriter)
	enc.Reset(w)
	enc.UseCompactInts(true)
	b.ReportAllocs()
	for b.Loop() {
		w.b = w.b[:0]
		if err := enc.Encode(req); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(w.b)))
	reportPerRecord(b)
}

func BenchmarkBaselineReflectDecode(b *testing.B) {
	body := marshal(benchRequest())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var req reflectProduce
		if err := msgpack.Unmarshal(body, &req); err != nil {
			b.Fatal(err)
		}
	}
	reportPerRecord(b)
}
