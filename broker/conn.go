package broker

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/internal/wire"
)

// conn serves one client connection. Its reader goroutine (serve) owns
// reading; responses are written by whichever goroutine finishes a
// request, under wmu.
type conn struct {
	b  *Broker
	nc net.Conn

	ctx    context.Context // ends when the connection closes
	cancel context.CancelFunc

	wmu sync.Mutex    // guards bw and serializes response frames
	bw  *bufio.Writer // buffered writer over nc; nil until the first response

	inflight atomic.Int32   // requests read and not yet answered
	handlers sync.WaitGroup // request goroutines

	// principal is who the connection is authenticated as (the zero value:
	// not authenticated; the anonymous superuser when authentication is
	// off). Set by the reader goroutine (from a verified TLS client
	// certificate in handshake, or by SaslAuthenticate) before it
	// dispatches anything the principal matters to; read by request
	// goroutines it starts after.
	principal auth.Principal
	// reqHdr is the header of the request being dispatched; owned by the
	// reader goroutine (see serve in dispatch.go).
	reqHdr wire.RequestHeader
	// sasl and saslMech are the SASL exchange in progress, owned by the
	// reader goroutine (auth.go).
	sasl     *auth.ScramServer
	saslMech string
}

func newConn(b *Broker, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(b.ctx)
	c := &conn{b: b, nc: nc, ctx: ctx, cancel: cancel}
	if !b.cfg.authOn() {
		c.principal = anonymous
	}
	return c
}

// serve reads requests until the connection fails, is closed, turns out
// malformed, or idles out, or the broker drains (Shutdown). It blocks; it
// closes the connection before it returns and waits for the connection's
// request goroutines. When draining, it lets them answer before it closes
// the connection (Close cuts that short by cancelling c.ctx).
func (c *conn) serve() {
	defer func() {
		if c.b.isDraining() {
			c.handlers.Wait()
		}
		c.cancel()
		c.nc.Close()
		c.handlers.Wait()
	}()
	if !c.handshake() {
		return
	}
	br := bufio.NewReaderSize(c.nc, 64<<10)
	log := c.b.logger.With("remote", c.nc.RemoteAddr().String())
	// A connection that must log in gets loginTimeout from the accept to
	// do so, and small frames until it has.
	loginBy := time.Now().Add(loginTimeout)
	for {
		deadline, maxFrame := time.Now().Add(c.b.cfg.IdleTimeout), c.b.cfg.MaxFrameBytes
		if !c.principal.Authenticated() {
			maxFrame = min(maxFrame, auth.MaxPreAuthFrame)
			if loginBy.Before(deadline) {
				deadline = loginBy
			}
		}
		c.nc.SetReadDeadline(deadline)
		// Checked after setting the deadline: Shutdown closes draining
		// before it sets a past deadline, so one of the two stops us.
		if c.b.isDraining() {
			return
		}
		frame, err := wire.ReadFrame(br, maxFrame, nil)
		if err != nil {
			var fse *wire.FrameSizeError
			switch {
			case c.b.isDraining():
				return
			case errors.Is(err, os.ErrDeadlineExceeded):
				if c.ctx.Err() != nil {
					return
				}
				if !c.principal.Authenticated() {
					log.Info("closing connection that did not log in", "within", loginTimeout)
					return
				}
				if c.inflight.Load() > 0 {
					continue // a long poll is in flight: not idle
				}
				log.Info("closing idle connection", "idle", c.b.cfg.IdleTimeout)
				return
			case errors.As(err, &fse), errors.Is(err, wire.ErrMalformed):
				log.Warn("bad frame, closing connection", "error", err)
				c.respondErr(0, noAPI, err)
				return
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), c.ctx.Err() != nil:
				return
			default:
				log.Info("connection read failed", "error", err)
				return
			}
		}
		hdr, body, err := wire.DecodeRequestHeader(frame)
		if err != nil {
			log.Warn("malformed request header, closing connection", "error", err)
			c.respondErr(0, noAPI, err)
			return
		}
		if err := wire.CheckVersion(hdr.APIKey, hdr.APIVersion); err != nil {
			c.respondErr(hdr.CorrelationID, hdr.APIKey, err)
			continue
		}
		if hdr.APIKey == wire.SaslAuthenticate {
			if !c.saslAuthenticate(hdr.CorrelationID, body) {
				return
			}
			continue
		}
		if !c.principal.Authenticated() {
			c.refuseUnauthenticated(hdr)
			return
		}
		if int(c.inflight.Load()) >= c.b.cfg.MaxInFlight {
			c.respondErr(hdr.CorrelationID, hdr.APIKey, wire.Err(wire.CodeTooManyInFlight, "too many requests in flight on this connection"))
			continue
		}
		if err := c.dispatch(hdr, body); err != nil {
			log.Warn("malformed request, closing connection", "api", hdr.APIKey, "error", err)
			c.respondErr(hdr.CorrelationID, hdr.APIKey, err)
			return
		}
	}
}

// loginTimeout is auth.LoginTimeout; a variable so tests can shorten it
// (before they start a broker).
var loginTimeout = auth.LoginTimeout

// async runs fn in a request goroutine, counting it in flight.
func (c *conn) async(fn func()) {
	c.inflight.Add(1)
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		defer c.inflight.Add(-1)
		fn()
	}()
}

// framePool recycles encoded response frames.
var framePool = sync.Pool{New: func() any { return new([]byte) }}

// respond writes one response frame. Errors mean the connection is gone;
// the reader notices.
func (c *conn) respond(corr uint32, body any) {
	fp := framePool.Get().(*[]byte)
	frame, err := wire.EncodeResponse((*fp)[:0], wire.ResponseHeader{CorrelationID: corr}, body)
	if err != nil {
		c.b.logger.Error("encoding response", "error", err)
		frame, _ = wire.EncodeResponse((*fp)[:0], wire.ResponseHeader{CorrelationID: corr},
			wire.ErrorResponse{ErrorCode: wire.CodeUnknown, ErrorMessage: "broker could not encode the response"})
	}
	c.wmu.Lock()
	if c.bw == nil {
		c.bw = bufio.NewWriterSize(c.nc, 64<<10)
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.b.cfg.IdleTimeout))
	if _, err := c.bw.Write(frame); err == nil {
		c.bw.Flush()
	}
	c.wmu.Unlock()
	if cap(frame) <= 16<<20 {
		*fp = frame
		framePool.Put(fp)
	}
}

// noAPI labels errors answered before a request header was decoded.
const noAPI = wire.APIKey(0xFFFF)

// reply writes a response whose code is code, counting it in the request
// error metrics unless it is a success. Produce and Fetch count their own
// (see metrics.produced and fetched) and use respond.
func (c *conn) reply(corr uint32, api wire.APIKey, code wire.Code, body any) {
	c.b.metrics.requestError(api, code)
	c.respond(corr, body)
}

// respondErr answers with an ErrorResponse, which every response type
// decodes (its first two fields are code and message).
func (c *conn) respondErr(corr uint32, api wire.APIKey, err error) {
	code := codeOf(err)
	c.reply(corr, api, code, wire.ErrorResponse{ErrorCode: code, ErrorMessage: err.Error()})
}
