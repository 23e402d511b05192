package client

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/xdg-go/scram"

	"github.com/minibroker/minibroker/internal/wire"
)

// SASL SCRAM mechanisms for Config.Mechanism.
const (
	MechSCRAMSHA256 = "SCRAM-SHA-256"
	MechSCRAMSHA512 = "SCRAM-SHA-512"
)

// scramHash returns a mechanism's hash, or nil for an unknown one.
func scramHash(mech string) scram.HashGeneratorFcn {
	switch mech {
	case MechSCRAMSHA256:
		return scram.SHA256
	case MechSCRAMSHA512:
		return scram.SHA512
	}
	return nil
}

// login authenticates a fresh connection with the configured user (SASL
// SCRAM over SaslAuthenticate requests) before anything else is sent on
// it. It does nothing without Config.User. It blocks until the exchange
// ends, ctx ends or RequestTimeout passes. Errors: a *ServerError wrapping
// ErrSaslAuthentication when the broker refuses (wrong user or password;
// the broker then closes the connection), ErrSaslAuthentication when the
// broker's own proof is wrong, or a connection error wrapping
// ErrBrokerUnavailable.
func (cl *Client) login(ctx context.Context, nc net.Conn) error {
	if cl.cfg.User == "" {
		return nil
	}
	dl := time.Now().Add(cl.cfg.RequestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	nc.SetDeadline(dl)
	defer nc.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()

	mech := cl.cfg.Mechanism
	cl.scramOnce.Do(func() {
		cl.scram, cl.scramErr = scramHash(mech).NewClientUnprepped(cl.cfg.User, cl.cfg.Password, "")
		if cl.scramErr == nil {
			cl.scram = cl.scram.WithMinIterations(4096)
		}
	})
	if cl.scramErr != nil {
		return fmt.Errorf("minibroker: log in: %w", cl.scramErr)
	}
	conv := cl.scram.NewConversation()
	msg, err := conv.Step("")
	if err != nil {
		return fmt.Errorf("minibroker: log in: %w", err)
	}
	br := bufio.NewReader(nc)
	for corr := uint32(1); ; corr++ {
		frame, err := wire.EncodeRequest(nil, wire.RequestHeader{APIKey: wire.SaslAuthenticate, CorrelationID: corr},
			&wire.SaslAuthenticateRequest{Mechanism: mech, Bytes: []byte(msg)})
		if err != nil {
			return err
		}
		if _, err := nc.Write(frame); err != nil {
			return fmt.Errorf("%w: log in to %s: %v", ErrBrokerUnavailable, nc.RemoteAddr(), err)
		}
		payload, err := wire.ReadFrame(br, cl.cfg.MaxFrame, nil)
		if err != nil {
			return fmt.Errorf("%w: log in to %s: %v", ErrBrokerUnavailable, nc.RemoteAddr(), err)
		}
		_, body, err := wire.DecodeResponseHeader(payload)
		if err != nil {
			return err
		}
		var resp wire.SaslAuthenticateResponse
		if err := wire.DecodeBody(body, &resp); err != nil {
			return err
		}
		if err := resp.Err(); err != nil {
			return fmt.Errorf("minibroker: log in as %q: %w", cl.cfg.User, err)
		}
		next, err := conv.Step(string(resp.Bytes))
		if err != nil {
			return fmt.Errorf("minibroker: log in as %q: the broker's proof: %v: %w", cl.cfg.User, err, ErrSaslAuthentication)
		}
		if conv.Done() != resp.Done {
			return fmt.Errorf("minibroker: log in as %q: exchange out of step: %w", cl.cfg.User, ErrSaslAuthentication)
		}
		if resp.Done {
			if br.Buffered() > 0 {
				return fmt.Errorf("minibroker: log in: unexpected bytes after the exchange: %w", ErrMalformed)
			}
			return nil
		}
		msg = next
	}
}
