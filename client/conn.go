package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// handler receives the answer to one request: the response body (valid
// only during the call: decode it before returning) or the error that
// ended the wait (errors wrapping ErrConnectionLost or ErrTimeout). A
// handler is called exactly once, from the connection's reader goroutine,
// a timer goroutine or the goroutine that closes the connection; it must
// not block.
type handler func(body []byte, err error)

// pendingCall is a request awaiting its response.
type pendingCall struct {
	fn    handler
	timer *time.Timer // fires the request's timeout; nil without one
}

// conn is one pipelined connection to a broker: requests are written under
// one lock, and one reader goroutine routes responses to their handlers by
// correlation ID, in whatever order they arrive. A failure of the
// connection fails every pending call; a failed conn is never reused (the
// Client dials a new one). Safe for concurrent use.
type conn struct {
	addr         string
	nc           net.Conn
	maxFrame     int
	writeTimeout time.Duration
	log          *slog.Logger

	nextID atomic.Uint32
	dead   atomic.Bool // set once err is set: a cheap check for the pool

	wmu  sync.Mutex // serialises frame writes on nc; guards wbuf
	wbuf []byte     // reused encoding buffer

	mu      sync.Mutex             // guards pending and err
	pending map[uint32]pendingCall // requests written (or being written) and not yet answered
	err     error                  // why the conn failed; final once set

	done chan struct{} // closed when readLoop has returned
}

// maxKeptBuf is the largest buffer a conn keeps for reuse between frames.
const maxKeptBuf = 1 << 20

// readBufSize is the size of a conn's read buffer. Bodies larger than it
// are read straight into the frame.
const readBufSize = 16 << 10

// newConn wraps nc; the caller must run readLoop in a goroutine.
func newConn(nc net.Conn, addr string, maxFrame int, writeTimeout time.Duration, log *slog.Logger) *conn {
	return &conn{
		addr:         addr,
		nc:           nc,
		maxFrame:     maxFrame,
		writeTimeout: writeTimeout,
		log:          log,
		pending:      make(map[uint32]pendingCall),
		done:         make(chan struct{}),
	}
}

// send is sendVersion for version 0 of key.
func (c *conn) send(key wire.APIKey, body any, timeout time.Duration, fn handler) (id uint32, written bool, err error) {
	return c.sendVersion(key, 0, body, timeout, fn)
}

// sendVersion writes a request of the given API version and registers fn
// for its answer. It blocks until the request is written (or the write
// fails or times out).
//
// If send returns an error, fn is never called: the connection had
// already failed (an error wrapping ErrConnectionLost, or ErrClosed), or
// the request could not be encoded or exceeds MaxFrame (ErrFrameTooLarge).
// Otherwise fn is called exactly once, and written reports whether the
// whole request reached the socket (false: the write failed, and fn gets
// ErrConnectionLost). timeout > 0 fails the call with ErrTimeout and
// closes the connection if no answer has come by then.
func (c *conn) sendVersion(key wire.APIKey, version uint16, body any, timeout time.Duration, fn handler) (id uint32, written bool, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead.Load() {
		return 0, false, c.failure()
	}
	id = c.nextID.Add(1)
	frame, err := wire.EncodeRequest(c.wbuf[:0], wire.RequestHeader{APIKey: key, APIVersion: version, CorrelationID: id}, body)
	if err != nil {
		return 0, false, fmt.Errorf("minibroker: encoding %v request: %w", key, err)
	}
	if n := len(frame) - wire.FrameHeaderSize; n > c.maxFrame {
		c.keep(frame)
		return 0, false, fmt.Errorf("minibroker: %v request: %w", key,
			&wire.FrameSizeError{Size: uint64(n), Max: uint64(c.maxFrame)})
	}

	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		c.keep(frame)
		return 0, false, err
	}
	pc := pendingCall{fn: fn}
	if timeout > 0 {
		pc.timer = time.AfterFunc(timeout, func() { c.expire(id, key, timeout) })
	}
	c.pending[id] = pc
	c.mu.Unlock()

	if c.writeTimeout > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	_, werr := c.nc.Write(frame)
	c.keep(frame)
	if werr != nil {
		c.fail(fmt.Errorf("%w: writing to %s: %v", ErrConnectionLost, c.addr, werr))
		return id, false, nil
	}
	return id, true, nil
}

// keep retains buf for reuse unless it grew too large. Called with wmu held.
func (c *conn) keep(buf []byte) {
	if cap(buf) <= maxKeptBuf {
		c.wbuf = buf[:0]
	} else {
		c.wbuf = nil
	}
}

// forget unregisters call id, reporting whether it was still pending. If
// it was, its handler will never be called and a late response is
// dropped; if not, the handler has been or is being called.
func (c *conn) forget(id uint32) bool {
	c.mu.Lock()
	pc, ok := c.pending[id]
	if ok {
		delete(c.pending, id)
	}
	c.mu.Unlock()
	if ok && pc.timer != nil {
		pc.timer.Stop()
	}
	return ok
}

// expire fails call id with ErrTimeout if it is still pending, then closes
// the connection: a broker that leaves a request unanswered past its
// timeout is presumed stuck, and a fresh connection is the way out.
func (c *conn) expire(id uint32, key wire.APIKey, timeout time.Duration) {
	c.mu.Lock()
	pc, ok := c.pending[id]
	if ok {
		delete(c.pending, id)
	}
	c.mu.Unlock()
	if !ok {
		return
	}
	err := fmt.Errorf("minibroker: no answer to %v from %s within %v: %w", key, c.addr, timeout, ErrTimeout)
	pc.fn(nil, err)
	c.fail(fmt.Errorf("%w: %s: a request timed out", ErrConnectionLost, c.addr))
}

// roundTrip sends req and decodes the answer into resp (a pointer to the
// wire response type of key). It blocks until the answer arrives, the
// call times out (timeout > 0), the connection fails or ctx ends; in the
// last case the call is forgotten and its late answer dropped. Errors:
// those of send, ErrConnectionLost, ErrTimeout, an ErrMalformed decode
// error, or ctx's error. resp's own error code is not checked.
func (c *conn) roundTrip(ctx context.Context, key wire.APIKey, req, resp any, timeout time.Duration) error {
	ch := make(chan error, 1)
	id, _, err := c.send(key, req, timeout, func(body []byte, err error) {
		if err == nil {
			if derr := wire.DecodeBody(body, resp); derr != nil {
				err = fmt.Errorf("minibroker: %v response from %s: %w", key, c.addr, derr)
			}
		}
		ch <- err
	})
	if err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		if c.forget(id) {
			return ctx.Err()
		}
		return <-ch // the handler is running or has run
	}
}

// readLoop reads responses until the connection fails and hands each to
// the handler of its correlation ID. Responses to forgotten calls are
// dropped.
func (c *conn) readLoop() {
	defer close(c.done)
	var buf []byte
	// Buffered: a frame's length and body (and often the frames after it)
	// come in one read system call instead of two per frame.
	br := bufio.NewReaderSize(c.nc, readBufSize)
	for {
		payload, err := wire.ReadFrame(br, c.maxFrame, buf)
		if err != nil {
			c.fail(fmt.Errorf("%w: reading from %s: %v", ErrConnectionLost, c.addr, err))
			return
		}
		hdr, body, err := wire.DecodeResponseHeader(payload)
		if err != nil {
			c.fail(fmt.Errorf("%w: %s sent a bad response header: %v", ErrConnectionLost, c.addr, err))
			return
		}
		c.mu.Lock()
		pc, ok := c.pending[hdr.CorrelationID]
		if ok {
			delete(c.pending, hdr.CorrelationID)
		}
		c.mu.Unlock()
		if ok {
			if pc.timer != nil {
				pc.timer.Stop()
			}
			pc.fn(body, nil)
		} else {
			c.log.Debug("minibroker: dropping response to a forgotten request",
				"addr", c.addr, "correlation_id", hdr.CorrelationID)
		}
		if cap(payload) <= maxKeptBuf {
			buf = payload[:0]
		} else {
			buf = nil
		}
	}
}

// fail marks the connection failed with err (first call wins), closes the
// socket and calls every pending handler with err.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	c.dead.Store(true)
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()

	_ = c.nc.Close()
	if !errors.Is(err, ErrClosed) {
		c.log.Info("minibroker: connection lost", "addr", c.addr, "err", err, "pending", len(pending))
	}
	for _, pc := range pending {
		if pc.timer != nil {
			pc.timer.Stop()
		}
		pc.fn(nil, err)
	}
}

// failure returns the error the connection failed with.
func (c *conn) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// close fails the connection with an error wrapping ErrClosed and
// ErrConnectionLost (pending writes have an unknown outcome) and waits for
// the reader goroutine to return. Idempotent.
func (c *conn) close() {
	c.fail(fmt.Errorf("%w: %w: %s", ErrClosed, ErrConnectionLost, c.addr))
	<-c.done
}
