package kafka_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
)

// kconn is a raw Kafka connection for tests: kmsg messages over TCP.
type kconn struct {
	t    testing.TB
	nc   net.Conn
	br   *bufio.Reader
	corr int32
	fmt  *kmsg.RequestFormatter
}

func dial(t testing.TB, addr string) *kconn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &kconn{t: t, nc: nc, br: bufio.NewReader(nc), fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("test"))}
}

// send writes req at its version and returns its correlation id.
func (k *kconn) send(req kmsg.Request) int32 {
	k.t.Helper()
	k.corr++
	if _, err := k.nc.Write(k.fmt.AppendRequest(nil, req, k.corr)); err != nil {
		k.t.Fatal(err)
	}
	return k.corr
}

// readFrame reads one response frame.
func (k *kconn) readFrame() ([]byte, error) {
	k.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	var p [4]byte
	if _, err := io.ReadFull(k.br, p[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(p[:]))
	_, err := io.ReadFull(k.br, b)
	return b, err
}

// recv reads the response to req (sent with correlation id corr).
func (k *kconn) recv(req kmsg.Request, corr int32) kmsg.Response {
	k.t.Helper()
	b, err := k.readFrame()
	if err != nil {
		k.t.Fatalf("reading response to %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	if got := int32(binary.BigEndian.Uint32(b)); got != corr {
		k.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	b = b[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		if len(b) == 0 || b[0] != 0 {
			k.t.Fatalf("response header tags: %x", b[:min(len(b), 1)])
		}
		b = b[1:]
	}
	if err := resp.ReadFrom(b); err != nil {
		k.t.Fatalf("decoding %s v%d response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// do sends req and reads its response.
func (k *kconn) do(req kmsg.Request) kmsg.Response {
	k.t.Helper()
	return k.recv(req, k.send(req))
}

// expectClosed checks that the server closes the connection.
func (k *kconn) expectClosed() {
	k.t.Helper()
	k.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := k.br.ReadByte()
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		var ne *net.OpError
		if !errors.As(err, &ne) || ne.Timeout() {
			k.t.Fatalf("connection not closed: read returned %v", err)
		}
	}
}

// newBroker starts a one-node broker with Kafka on.
func newBroker(t *testing.T, mod ...func(i int, cfg *broker.Config)) *broker.Broker {
	t.Helper()
	return brokertest.NewCluster(t, 1, mod...).Broker(0)
}

// kafkaBatch encodes an uncompressed Kafka RecordBatch v2 with values
// (keys k0, k1, ...), timestamps from ts on, and producer fields.
func kafkaBatch(ts int64, producerID int64, epoch int16, seq int32, values ...string) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Key: []byte("k" + string(rune('0'+i%10))), Value: []byte(v),
			Headers: []kmsg.Header{{Key: "h", Value: []byte("hv")}}}
		body := r.AppendTo(nil)
		r.Length = int32(len(body) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.RecordBatch{Magic: 2, LastOffsetDelta: int32(len(values) - 1), FirstTimestamp: ts, MaxTimestamp: ts + int64(len(values)-1),
		ProducerID: producerID, ProducerEpoch: epoch, FirstSequence: seq, NumRecords: int32(len(values)), Records: recs}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

// decodeBatches decodes the Kafka batches of a fetch into their records'
// offsets and values.
func decodeBatches(t testing.TB, b []byte) (offsets []int64, values []string) {
	t.Helper()
	for len(b) > 0 {
		var rb kmsg.RecordBatch
		n := 12 + int(int32(binary.BigEndian.Uint32(b[8:])))
		if err := rb.ReadFrom(b[:n]); err != nil {
			t.Fatalf("batch: %v", err)
		}
		if got := crc32.Checksum(b[21:n], crc32.MakeTable(crc32.Castagnoli)); got != uint32(rb.CRC) {
			t.Fatalf("batch crc %08x, header %08x", got, uint32(rb.CRC))
		}
		b = b[n:]
		recs := rb.Records
		for i := 0; i < int(rb.NumRecords); i++ {
			l, k := binary.Varint(recs)
			var r kmsg.Record
			if err := r.ReadFrom(recs[:k+int(l)]); err != nil {
				t.Fatalf("record: %v", err)
			}
			recs = recs[k+int(l):]
			offsets = append(offsets, rb.FirstOffset+int64(r.OffsetDelta))
			values = append(values, string(r.Value))
		}
	}
	return offsets, values
}

func strp(s string) *string { return &s }

func crc(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }
