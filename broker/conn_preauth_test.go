package broker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/internal/wire"
)

// startSCRAM starts a single-node broker that requires SCRAM logins.
func startSCRAM(t *testing.T) *Broker {
	t.Helper()
	b, err := Start(Config{DataDir: t.TempDir(), DisableKafka: true, Auth: AuthSCRAM,
		AdminUser: "admin", AdminPassword: "admin-pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// readUntilClosed reads nc until EOF and returns the frames' payloads; a
// read error other than EOF (a timeout: the broker left it open) fails t.
func readUntilClosed(t *testing.T, nc net.Conn) [][]byte {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(15 * time.Second))
	br := bufio.NewReader(nc)
	var frames [][]byte
	for {
		f, err := wire.ReadFrame(br, wire.DefaultMaxFrame, nil)
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			return frames
		}
		if err != nil {
			t.Fatalf("connection not closed by the broker: %v", err)
		}
		frames = append(frames, f)
	}
}

// Before login, a frame announcing more than auth.MaxPreAuthFrame bytes is
// refused with a frame-size error and the connection closed, without the
// broker waiting for (and buffering) the announced megabytes.
func TestPreAuthFrameLimit(t *testing.T) {
	b := startSCRAM(t)
	nc, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 1<<20) // 1 MiB: under MaxFrameBytes
	if _, err := nc.Write(append(hdr[:], make([]byte, 1024)...)); err != nil {
		t.Fatal(err)
	}
	frames := readUntilClosed(t, nc)
	if len(frames) != 1 {
		t.Fatalf("got %d answers before the close; want 1 (a frame-size error)", len(frames))
	}
	_, body, err := wire.DecodeResponseHeader(frames[0])
	if err != nil {
		t.Fatal(err)
	}
	var er wire.ErrorResponse
	if err := wire.DecodeBody(body, &er); err != nil {
		t.Fatal(err)
	}
	if er.ErrorCode != codeOf(&wire.FrameSizeError{}) {
		t.Fatalf("answer %v %q; want a frame-size error", er.ErrorCode, er.ErrorMessage)
	}
}

// After login the configured MaxFrameBytes applies again: a frame over
// MaxPreAuthFrame is read and answered.
func TestPreAuthFrameLimitLiftedAfterLogin(t *testing.T) {
	b := startSCRAM(t)
	rc := rawPlain(t, b.Addr())
	if !rc.login(auth.MechSCRAMSHA256, "admin", "admin-pw") {
		t.Fatal("login refused")
	}
	// call fails the test if the connection closes instead of answering;
	// the answer itself (topic "t" does not exist) does not matter.
	var pr wire.ProduceResponse
	rc.call(wire.Produce, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll,
		Records: []wire.Record{{Value: make([]byte, 2*auth.MaxPreAuthFrame)}}}, &pr)
}

// A connection that does not log in within loginTimeout is closed, even
// though the idle timeout is far off.
func TestLoginTimeoutClosesAnonymousConnection(t *testing.T) {
	old := loginTimeout
	loginTimeout = 300 * time.Millisecond
	t.Cleanup(func() { loginTimeout = old })
	b := startSCRAM(t)
	nc, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if frames := readUntilClosed(t, nc); len(frames) != 0 {
		t.Fatalf("%d unexpected answers", len(frames))
	}
}

// rawPlain dials addr and returns a raw native connection that has not
// logged in.
func rawPlain(t *testing.T, addr string) *pipeConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &pipeConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// login runs a SCRAM exchange and reports whether it succeeded.
func (c *pipeConn) login(mech, user, password string) bool {
	c.t.Helper()
	cl, err := auth.NewScramClient(mech, user, password)
	if err != nil {
		c.t.Fatal(err)
	}
	msg, _, err := cl.Step(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	for {
		var resp wire.SaslAuthenticateResponse
		if err := c.call(wire.SaslAuthenticate, &wire.SaslAuthenticateRequest{Mechanism: mech, Bytes: msg}, &resp); err != nil {
			return false
		}
		if resp.Done {
			return true
		}
		if msg, _, err = cl.Step(resp.Bytes); err != nil {
			c.t.Fatalf("server-first refused by the client: %v", err)
		}
	}
}
