package kafka_test

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/broker"
)

// rawRequest is a request frame with a v1 header (no tags) and body.
func rawRequest(key, version int16, corr int32, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 1)
	b = append(b, 'x')
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// served is what every ApiVersions answer must list.
var served = map[int16][2]int16{
	0: {0, 11}, 1: {4, 12}, 2: {0, 7}, 3: {0, 12}, 18: {0, 3}, 19: {0, 5}, 20: {0, 5}, 22: {0, 4}, 32: {0, 4},
	// Consumer groups: every minimum 0 (librdkafka turns its group
	// consumer off otherwise).
	8: {0, 8}, 9: {0, 7}, 10: {0, 4}, 11: {0, 7}, 12: {0, 4}, 13: {0, 4}, 14: {0, 5}, 15: {0, 5}, 16: {0, 4}, 42: {0, 2}, 47: {0, 0},
	// ACLs: DescribeAcls, CreateAcls, DeleteAcls.
	29: {0, 3}, 30: {0, 3}, 31: {0, 3},
	// SASL (SaslHandshake v0 is advertised, as Kafka does, and answered
	// UNSUPPORTED_VERSION) and SCRAM credentials.
	17: {0, 1}, 36: {0, 2}, 50: {0, 0}, 51: {0, 0},
}

func checkKeys(t *testing.T, keys []kmsg.ApiVersionsResponseApiKey) {
	t.Helper()
	got := map[int16][2]int16{}
	for _, k := range keys {
		got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	if len(got) != len(served) {
		t.Fatalf("keys %v, want %v", got, served)
	}
	for k, v := range served {
		if got[k] != v {
			t.Fatalf("key %d: versions %v, want %v", k, got[k], v)
		}
	}
}

func TestApiVersions(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	for v := int16(0); v <= 3; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		if v >= 3 {
			req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1.0"
		}
		resp := k.do(req).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d: error %d", v, resp.ErrorCode)
		}
		checkKeys(t, resp.ApiKeys)
	}
}

// An ApiVersions version the broker does not serve gets a v0 answer with
// UNSUPPORTED_VERSION and the key list; the connection stays open.
func TestApiVersionsUnknownVersion(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	// v99 with a flexible-looking header and a body no version has.
	frame := rawRequest(18, 99, 7, []byte{0, 1, 2, 3, 0xff})
	if _, err := k.nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrApiVersionsRequest()
	resp.SetVersion(0)
	got := k.recv(resp, 7).(*kmsg.ApiVersionsResponse)
	if got.ErrorCode != 35 {
		t.Fatalf("error code %d, want 35 (UNSUPPORTED_VERSION)", got.ErrorCode)
	}
	checkKeys(t, got.ApiKeys)
	// The client retries at a served version on the same connection.
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	if r := k.do(req).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatalf("retry at v3: error %d", r.ErrorCode)
	}
}

// Bad input closes that connection only: the broker keeps serving others.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	b := newBroker(t)
	other := dial(t, b.KafkaAddr())
	ping := func() {
		t.Helper()
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(3)
		if r := other.do(req).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
			t.Fatalf("other connection: error %d", r.ErrorCode)
		}
	}
	ping()
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(12)
	metaFrame := kmsg.NewRequestFormatter().AppendRequest(nil, meta, 1)
	cases := []struct {
		name  string
		bytes []byte
		half  bool // close the write side after sending
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false},
		{"negative size", []byte{0xff, 0xff, 0xff, 0xf0, 1, 2, 3}, false},
		{"huge size", []byte{0x7f, 0xff, 0xff, 0xff, 0, 18, 0, 3}, false},
		{"size below a header", []byte{0, 0, 0, 3, 0, 18, 0}, false},
		{"truncated frame", metaFrame[:len(metaFrame)-3], true},
		{"truncated size", []byte{0, 0}, true},
		{"unknown api key", rawRequest(999, 0, 1, nil), false},
		{"api key not served", rawRequest(11, 2, 1, []byte{0, 1, 'g'}), false},
		{"version not served", rawRequest(1, 3, 1, nil), false},
		{"undecodable body", rawRequest(3, 1, 1, []byte{0x7f, 0xff, 0xff, 0xff}), false},
		{"bad client id length", []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0x7f, 0}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := dial(t, b.KafkaAddr())
			if _, err := k.nc.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			if tc.half {
				k.nc.(interface{ CloseWrite() error }).CloseWrite()
			}
			k.expectClosed()
			ping()
		})
	}
}

// Responses come back in request order even when a later request is
// answered first: a long-polling Fetch, then ApiVersions and Metadata, on
// one connection.
func TestResponsesInRequestOrder(t *testing.T) {
	b := newBroker(t)
	admin := dial(t, b.KafkaAddr())
	createTopic(t, admin, "order", 1)
	k := dial(t, b.KafkaAddr())
	freq := kmsg.NewPtrFetchRequest()
	freq.SetVersion(12)
	freq.MaxWaitMillis, freq.MinBytes, freq.MaxBytes, freq.SessionEpoch = 20000, 1, 1<<20, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "order"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	fcorr := k.send(freq)
	areq := kmsg.NewPtrApiVersionsRequest()
	areq.SetVersion(3)
	acorr := k.send(areq)
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.SetVersion(12)
	mcorr := k.send(mreq)
	// The quick answers are ready at once, but nothing may arrive while
	// the fetch ahead of them waits. (Checked for a bounded time: a
	// writer that answered out of order would send within milliseconds.)
	k.nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := k.br.Peek(1); err == nil {
		t.Fatal("an answer arrived while the first request (a long poll) was still waiting")
	}
	if p := produce(t, admin, 11, "order", 0, kafkaBatch(1, -1, -1, -1, "wake")); p.ErrorCode != 0 {
		t.Fatalf("produce: %d", p.ErrorCode)
	}
	f := k.recv(freq, fcorr).(*kmsg.FetchResponse)
	if _, vals := decodeBatches(t, f.Topics[0].Partitions[0].RecordBatches); !slices.Equal(vals, []string{"wake"}) {
		t.Fatalf("fetch: %v", vals)
	}
	k.recv(areq, acorr)
	k.recv(mreq, mcorr)
}

// waitFor polls cond until it holds or 20s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A Kafka listener can be turned off.
func TestDisableKafka(t *testing.T) {
	b := newBroker(t, func(_ int, cfg *broker.Config) { cfg.DisableKafka = true })
	if b.KafkaAddr() != "" {
		t.Fatalf("KafkaAddr %q with DisableKafka", b.KafkaAddr())
	}
}

// Closing the broker ends a long-polling Kafka fetch and its connection:
// Close does not wait for the poll's max wait.
func TestCloseEndsLongPoll(t *testing.T) {
	b := newBroker(t)
	k := dial(t, b.KafkaAddr())
	createTopic(t, k, "cl", 1)
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = 600000, 1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "cl"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	k.send(req)
	// Whether or not the broker has begun the poll, Close must end the
	// connection well within the poll's max wait (10 minutes).
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("close: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return while a fetch long-polled")
	}
	k.expectClosed()
}
