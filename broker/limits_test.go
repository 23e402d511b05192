package broker_test

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/internal/wire"
)

// stillServes checks that the broker answers a fresh connection and that
// the record produced at the start of the test is intact.
func stillServes(t *testing.T, addr string) {
	t.Helper()
	c := dialRaw(t, addr)
	var fr wire.FetchResponse
	c.call(wire.Fetch, &wire.FetchRequest{Topic: "t", Offset: 0}, &fr)
	if fr.ErrorCode != wire.CodeNone || len(fr.Records) != 1 || string(fr.Records[0].Value) != "precious" {
		t.Fatalf("after bad input the broker serves %+v", fr)
	}
}

func limitsBroker(t *testing.T, mod func(*broker.Config)) *broker.Broker {
	t.Helper()
	cl := brokertest.NewCluster(t, 1, func(_ int, c *broker.Config) {
		if mod != nil {
			mod(c)
		}
	})
	b := cl.Broker(0)
	c := dialRaw(t, b.Addr())
	var ct wire.CreateTopicResponse
	c.call(wire.CreateTopic, &wire.CreateTopicRequest{Name: "t", Partitions: 1}, &ct)
	var pr wire.ProduceResponse
	c.call(wire.Produce, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll, Records: records("precious")}, &pr)
	if pr.ErrorCode != wire.CodeNone {
		t.Fatalf("setup produce: %+v", pr)
	}
	return b
}

func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	b := limitsBroker(t, nil)
	bystander := dialRaw(t, b.Addr())
	cases := []struct {
		name      string
		send      []byte
		wantCode  wire.Code // expected error response before the close (CodeNone: none expected)
		wantClose bool
	}{
		{"raw garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wire.CodeFrameTooLarge, true},
		{"huge length prefix", binary.BigEndian.AppendUint32(nil, 0xFFFFFFF0), wire.CodeFrameTooLarge, true},
		{"zero length frame", binary.BigEndian.AppendUint32(nil, 0), wire.CodeMalformed, true},
		{"header that is not msgpack", append(binary.BigEndian.AppendUint32(nil, 3), 0xc1, 0xc1, 0xc1), wire.CodeMalformed, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, b.Addr())
			if _, err := c.nc.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			var er wire.ErrorResponse
			if _, err := c.recv(&er); err != nil || er.ErrorCode != tc.wantCode {
				t.Fatalf("response %+v, %v; want code %v", er, err, tc.wantCode)
			}
			if !c.closed() {
				t.Fatal("connection stayed open")
			}
			stillServes(t, b.Addr())
		})
	}
	t.Run("truncated frame", func(t *testing.T) {
		c := dialRaw(t, b.Addr())
		frame, _ := wire.EncodeRequest(nil, wire.RequestHeader{APIKey: wire.Metadata, CorrelationID: 1}, &wire.MetadataRequest{})
		c.nc.Write(frame[:len(frame)-2])
		c.nc.(*net.TCPConn).CloseWrite()
		if !c.closed() {
			t.Fatal("connection stayed open")
		}
		stillServes(t, b.Addr())
	})
	t.Run("malformed body", func(t *testing.T) {
		c := dialRaw(t, b.Addr())
		c.send(wire.Produce, 0, &wire.MetadataRequest{Topics: []string{"not", "a", "produce"}})
		var er wire.ErrorResponse
		if _, err := c.recv(&er); err != nil || er.ErrorCode != wire.CodeMalformed {
			t.Fatalf("response %+v %v", er, err)
		}
		if !c.closed() {
			t.Fatal("connection stayed open")
		}
		stillServes(t, b.Addr())
	})
	// The bystander's connection was never disturbed.
	var md wire.MetadataResponse
	bystander.call(wire.Metadata, &wire.MetadataRequest{}, &md)
}

func TestUnknownAPIAndVersionKeepTheConnection(t *testing.T) {
	b := limitsBroker(t, nil)
	c := dialRaw(t, b.Addr())
	var er wire.ErrorResponse
	id := c.send(wire.APIKey(999), 0, &wire.MetadataRequest{})
	if got, err := c.recv(&er); err != nil || got != id || er.ErrorCode != wire.CodeUnknownAPI {
		t.Fatalf("unknown api: %+v %v", er, err)
	}
	id = c.send(wire.Fetch, 7, &wire.FetchRequest{Topic: "t"})
	if got, err := c.recv(&er); err != nil || got != id || er.ErrorCode != wire.CodeUnsupportedVersion {
		t.Fatalf("unsupported version: %+v %v", er, err)
	}
	var fr wire.FetchResponse
	c.call(wire.Fetch, &wire.FetchRequest{Topic: "t", Offset: 0}, &fr)
	if len(fr.Records) != 1 {
		t.Fatalf("connection unusable after version errors: %+v", fr)
	}
}

func TestOversizedMessageKeepsTheConnection(t *testing.T) {
	b := limitsBroker(t, func(c *broker.Config) { c.MaxMessageBytes = 1000 })
	c := dialRaw(t, b.Addr())
	var pr wire.ProduceResponse
	big := wire.Record{Value: []byte(strings.Repeat("x", 1001))}
	c.call(wire.Produce, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll, Records: []wire.Record{big}}, &pr)
	if pr.ErrorCode != wire.CodeMessageTooLarge {
		t.Fatalf("oversized message: %+v", pr)
	}
	c.call(wire.Produce, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll, Records: records("small")}, &pr)
	if pr.ErrorCode != wire.CodeNone || pr.BaseOffset != 1 {
		t.Fatalf("produce after an oversized one: %+v", pr)
	}
}

func TestOversizedFrameIsRefusedBeforeReading(t *testing.T) {
	b := limitsBroker(t, func(c *broker.Config) { c.MaxFrameBytes = 4096 })
	c := dialRaw(t, b.Addr())
	recs := []wire.Record{{Value: []byte(strings.Repeat("y", 5000))}}
	c.send(wire.Produce, 0, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll, Records: recs})
	var er wire.ErrorResponse
	if _, err := c.recv(&er); err != nil || er.ErrorCode != wire.CodeFrameTooLarge {
		t.Fatalf("oversized frame: %+v %v", er, err)
	}
	if !c.closed() {
		t.Fatal("connection stayed open")
	}
	stillServes(t, b.Addr())
}

func TestTooManyInFlight(t *testing.T) {
	b := limitsBroker(t, func(c *broker.Config) { c.MaxInFlight = 2 })
	c := dialRaw(t, b.Addr())
	// Two long polls fill the connection's slots; the third request is
	// refused, and answered at once.
	for i := 0; i < 2; i++ {
		c.send(wire.Fetch, 0, &wire.FetchRequest{Topic: "t", Offset: 1, MaxWaitMs: 3000})
	}
	id := c.send(wire.Metadata, 0, &wire.MetadataRequest{})
	var er wire.ErrorResponse
	got, err := c.recv(&er)
	if err != nil || got != id || er.ErrorCode != wire.CodeTooManyInFlight {
		t.Fatalf("third request: id %d %+v %v", got, er, err)
	}
}

func TestIdleConnectionIsClosed(t *testing.T) {
	b := limitsBroker(t, func(c *broker.Config) { c.IdleTimeout = 200 * time.Millisecond })
	c := dialRaw(t, b.Addr())
	var md wire.MetadataResponse
	c.call(wire.Metadata, &wire.MetadataRequest{}, &md)
	if !c.closed() {
		t.Fatal("idle connection stayed open")
	}
	stillServes(t, b.Addr())
}
