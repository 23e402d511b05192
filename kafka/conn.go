package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/internal/wire"
)

// conn serves one Kafka connection. The reader goroutine (serve) reads and
// dispatches requests in order, queueing a slot per request; the writer
// goroutine writes each slot's response once its handler has filled it, in
// queue order.
type conn struct {
	s   *Server
	nc  net.Conn
	log *slog.Logger

	ctx    context.Context // ends when the connection closes
	cancel context.CancelFunc

	// slots holds the requests read and not yet answered, in request
	// order. Only serve sends (and closes); only the writer receives.
	slots    chan *slot
	inflight atomic.Int32   // len of slots plus the one being written
	handlers sync.WaitGroup // goroutines started by async

	// principal is who the connection is authenticated as (the zero value:
	// not authenticated; the anonymous superuser when authentication is
	// off). Set by the reader goroutine (from a verified TLS client
	// certificate in handshake, or by SASL in sasl.go) before it dispatches
	// anything the principal matters to; read by the handlers it starts
	// after.
	principal auth.Principal
	// saslMech, sasl and authFailed are the SASL exchange's state, owned
	// by the reader goroutine.
	saslMech   string
	sasl       *auth.ScramServer
	authFailed bool
}

// slot is one request's place in the response order. The handler calls
// finish exactly once.
type slot struct {
	hdr  requestHeader
	done chan struct{} // closed by finish
	resp kmsg.Response // set before done is closed; nil: send nothing
	// closeConn closes the connection once the answers before this slot
	// are written (an acks=0 Produce that failed). Set before done closes.
	closeConn bool
	// closeAfter closes the connection once this slot's answer is written
	// (a failed authentication). Set before done closes.
	closeAfter bool
}

// finish sets the response (nil: no response, acks=0) and releases the
// slot to the writer.
func (sl *slot) finish(resp kmsg.Response) {
	sl.resp = resp
	close(sl.done)
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	c := &conn{s: s, nc: nc, ctx: ctx, cancel: cancel,
		log:   s.logger.With("remote", nc.RemoteAddr().String()),
		slots: make(chan *slot, s.cfg.MaxInFlight)}
	if !s.cfg.RequireAuth {
		c.principal = anonymous
	}
	return c
}

// serve runs the connection until it fails, closes, sends something bad,
// idles out, or the server closes. It blocks, and returns after closing the
// connection and waiting for its goroutines.
func (c *conn) serve() {
	if !c.handshake() {
		c.cancel()
		c.nc.Close()
		return
	}
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		c.writeLoop()
	}()
	err := c.readLoop()
	authClose := errors.Is(err, errAuthClose)
	if authClose {
		// Let the writer send the refusal (the last slot), then close.
		c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		close(c.slots)
		<-wdone
	} else if errors.Is(err, errUnauthenticated) {
		if ok, suppressed := c.s.authLog.Allow(time.Now()); ok {
			c.log.Warn("closing kafka connection", "error", err, "suppressed_since_last", suppressed)
		}
	} else if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && c.ctx.Err() == nil {
		c.log.Warn("closing kafka connection", "error", err)
	}
	c.cancel()
	c.nc.Close()
	if !authClose {
		close(c.slots)
	}
	<-wdone
	c.handlers.Wait()
}

// readLoop reads and dispatches requests until an error.
func (c *conn) readLoop() error {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	// A connection that must log in gets loginTimeout from the accept to
	// do so, and small frames until it has.
	loginBy := time.Now().Add(loginTimeout)
	for {
		// Wait for a frame's first byte under the idle deadline: a timeout
		// before it loses nothing, so the connection stays open while a
		// long poll is in flight.
		deadline, maxFrame := time.Now().Add(c.s.cfg.IdleTimeout), c.s.cfg.MaxFrameBytes
		preAuth := !c.principal.Authenticated()
		if preAuth {
			maxFrame = min(maxFrame, auth.MaxPreAuthFrame)
			if loginBy.Before(deadline) {
				deadline = loginBy
			}
		}
		c.nc.SetReadDeadline(deadline)
		if _, err := br.Peek(1); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && preAuth {
				return fmt.Errorf("%w: no login within %v", errUnauthenticated, loginTimeout)
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && c.inflight.Load() > 0 && c.ctx.Err() == nil {
				continue // not idle
			}
			return err
		}
		if !preAuth {
			c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		}
		// The native protocol's framing is Kafka's too (a 4-byte size, then
		// the payload): the size is checked before anything is allocated,
		// and the buffer grows as bytes arrive. A new buffer per frame:
		// kmsg's byte fields point into it.
		frame, err := wire.ReadFrame(br, maxFrame, nil)
		if err != nil {
			return fmt.Errorf("%w: %v", errMalformed, err)
		}
		if err := c.dispatch(frame); err != nil {
			return err
		}
	}
}

// loginTimeout is auth.LoginTimeout; a variable so tests can shorten it
// (before they start a server).
var loginTimeout = auth.LoginTimeout

// dispatch parses one request and hands it to its handler, in a new slot.
// An error closes the connection.
func (c *conn) dispatch(frame []byte) error {
	start, err := parseHeaderStart(frame)
	if err != nil {
		return err
	}
	api, ok := apis[start.Key]
	if !ok {
		return fmt.Errorf("%w: api key %d is not served", errMalformed, start.Key)
	}
	if start.Version < api.min || start.Version > api.max {
		if start.Key != kmsg.ApiVersions.Int16() {
			return fmt.Errorf("%w: %s v%d is not served (v%d-%d)", errMalformed, kmsg.NameForKey(start.Key), start.Version, api.min, api.max)
		}
		// Answer at v0 with UNSUPPORTED_VERSION and the key list, whatever
		// the header and body look like (a client asking a newer version
		// than ours must learn what we have).
		sl, err := c.newSlot(start)
		if err != nil {
			return err
		}
		sl.finish(unsupportedApiVersions())
		return nil
	}
	if !c.principal.Authenticated() && !preAuthAPI(start.Key) {
		return fmt.Errorf("%w: %s (the listener requires SASL)", errUnauthenticated, kmsg.NameForKey(start.Key))
	}
	req := kmsg.RequestForKey(start.Key)
	req.SetVersion(start.Version)
	hdr, body, err := parseHeader(frame, req.IsFlexible())
	if err != nil {
		return err
	}
	if err := req.ReadFrom(body); err != nil {
		return fmt.Errorf("%w: %s v%d body: %v", errMalformed, kmsg.NameForKey(hdr.Key), hdr.Version, err)
	}
	sl, err := c.newSlot(hdr)
	if err != nil {
		return err
	}
	api.handle(c, sl, req)
	if c.authFailed {
		return errAuthClose
	}
	return nil
}

// newSlot queues a slot for a request, waiting while MaxInFlight requests
// are unanswered.
func (c *conn) newSlot(hdr requestHeader) (*slot, error) {
	sl := &slot{hdr: hdr, done: make(chan struct{})}
	c.inflight.Add(1)
	select {
	case c.slots <- sl:
		return sl, nil
	case <-c.ctx.Done():
		c.inflight.Add(-1)
		return nil, c.ctx.Err()
	}
}

// async runs fn in a goroutine of the connection (a handler that blocks:
// Raft, long polls).
func (c *conn) async(fn func()) {
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		fn()
	}()
}

// writeLoop writes responses in request order until slots is closed or a
// write fails. It flushes before it waits for anything.
func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	var buf []byte
	for {
		var sl *slot
		select {
		case sl = <-c.slots:
		default:
			if bw.Flush() != nil {
				c.fail()
				return
			}
			sl = <-c.slots
		}
		if sl == nil {
			return // closed: the reader is done
		}
		select {
		case <-sl.done:
		default:
			if bw.Flush() != nil {
				c.fail()
				return
			}
			select {
			case <-sl.done:
			case <-c.ctx.Done():
				return
			}
		}
		c.inflight.Add(-1)
		if sl.closeConn {
			bw.Flush()
			c.log.Info("closing kafka connection after a refused acks=0 produce")
			c.fail()
			return
		}
		if sl.resp == nil {
			continue
		}
		buf = appendResponse(buf[:0], sl.hdr, sl.resp)
		if _, err := bw.Write(buf); err != nil {
			c.fail()
			return
		}
		if sl.closeAfter {
			bw.Flush()
			c.fail()
			return
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not keep a large fetch's buffer
		}
	}
}

// fail ends the connection after a write error.
func (c *conn) fail() {
	c.cancel()
	c.nc.Close()
}

// appendResponse encodes a response frame: size, correlation id, the
// response header's tagged fields when flexible (never for ApiVersions),
// and the body at the response's version (the request's, set by
// ResponseKind; v0 for an unsupported ApiVersions).
func appendResponse(dst []byte, hdr requestHeader, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(hdr.Corr))
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		dst = append(dst, 0) // no tagged fields
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
