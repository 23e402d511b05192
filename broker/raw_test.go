package broker_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// rawConn speaks the wire protocol directly, one request at a time or
// pipelined, so tests can also send what a real client never would.
type rawConn struct {
	t    *testing.T
	nc   net.Conn
	br   *bufio.Reader
	corr uint32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// send writes a request and returns its correlation id.
func (c *rawConn) send(key wire.APIKey, version uint16, req any) uint32 {
	c.t.Helper()
	c.corr++
	frame, err := wire.EncodeRequest(nil, wire.RequestHeader{APIKey: key, APIVersion: version, CorrelationID: c.corr}, req)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(frame); err != nil {
		c.t.Fatal(err)
	}
	return c.corr
}

// recv reads one response into resp and returns its correlation id, or an
// error if the connection ended.
func (c *rawConn) recv(resp any) (uint32, error) {
	id, body, err := c.recvRaw()
	if err != nil {
		return 0, err
	}
	return id, wire.DecodeBody(body, resp)
}

// recvRaw reads one response and returns its correlation id and body.
func (c *rawConn) recvRaw() (uint32, []byte, error) {
	payload, err := wire.ReadFrame(c.br, wire.DefaultMaxFrame, nil)
	if err != nil {
		return 0, nil, err
	}
	h, body, err := wire.DecodeResponseHeader(payload)
	return h.CorrelationID, body, err
}

// call sends a request and reads its response.
func (c *rawConn) call(key wire.APIKey, req, resp any) {
	c.t.Helper()
	id := c.send(key, 0, req)
	got, err := c.recv(resp)
	if err != nil {
		c.t.Fatalf("%v: %v", key, err)
	}
	if got != id {
		c.t.Fatalf("%v: correlation id %d, want %d", key, got, id)
	}
}

// closed reports whether the broker closed the connection (reads EOF or a
// reset within a few seconds).
func (c *rawConn) closed() bool {
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var resp wire.ErrorResponse
	for {
		if _, err := c.recv(&resp); err != nil {
			ne, ok := err.(net.Error)
			return !(ok && ne.Timeout())
		}
	}
}

func records(vals ...string) []wire.Record {
	out := make([]wire.Record, len(vals))
	for i, v := range vals {
		out[i] = wire.Record{Value: []byte(v)}
	}
	return out
}
