package broker

import (
	"bufio"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// flakyListener fails its first fails Accept calls with EMFILE (the
// process is out of file descriptors), then accepts from its listener.
type flakyListener struct {
	net.Listener
	fails  int32
	failed atomic.Int32 // Accept calls failed so far
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failed.Load() < l.fails {
		l.failed.Add(1)
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptRetriesAfterTransientErrors: the native listener keeps
// serving after Accept fails for a while (EMFILE), as the Kafka listener
// does; a failed Accept no longer closes the port for good.
func TestAcceptRetriesAfterTransientErrors(t *testing.T) {
	fl := &flakyListener{fails: 4}
	testWrapListener = func(ln net.Listener, name string) net.Listener {
		if name != listenerNative {
			return ln
		}
		fl.Listener = ln
		return fl
	}
	b, err := Start(Config{DataDir: t.TempDir(), DisableKafka: true})
	testWrapListener = nil
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	nc, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	frame, err := wire.EncodeRequest(nil, wire.RequestHeader{APIKey: wire.Metadata, CorrelationID: 1}, &wire.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	if _, err := wire.ReadFrame(bufio.NewReader(nc), wire.DefaultMaxFrame, nil); err != nil {
		t.Fatalf("no answer after %d failed Accepts: %v", fl.failed.Load(), err)
	}
	if n := fl.failed.Load(); n != fl.fails {
		t.Fatalf("%d Accepts failed; want %d", n, fl.fails)
	}
}
