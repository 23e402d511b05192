package broker

import (
	"bufio"
	"errors"
	"fmt"
	"net"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/internal/wire"
)

// authenticatePeer logs a connection to another broker in with the admin
// credentials (Config.AdminUser/AdminPassword, SCRAM-SHA-512) when
// authentication is on; it does nothing when it is off or when the
// connection is mutual TLS (the node certificate authenticates). It blocks for the
// exchange (bounded by nc's deadline). Errors wrap wire.ErrSaslAuthentication
// when the peer refuses.
func (b *Broker) authenticatePeer(nc net.Conn, br *bufio.Reader) error {
	if !b.cfg.authOn() || b.peerTLS() {
		return nil // no login, or the node certificate authenticates us
	}
	if b.cfg.AdminUser == "" {
		return errors.New("broker: authentication is on but AdminUser is not set: cannot log in to peers")
	}
	return scramLogin(nc, br, auth.MechSCRAMSHA512, b.cfg.AdminUser, b.cfg.AdminPassword)
}

// scramLogin runs a SCRAM exchange over SaslAuthenticate requests.
func scramLogin(nc net.Conn, br *bufio.Reader, mech, user, password string) error {
	cl, err := auth.NewScramClient(mech, user, password)
	if err != nil {
		return err
	}
	msg, _, err := cl.Step(nil)
	if err != nil {
		return err
	}
	for corr := uint32(1); ; corr++ {
		frame, err := wire.EncodeRequest(nil, wire.RequestHeader{APIKey: wire.SaslAuthenticate, CorrelationID: corr},
			&wire.SaslAuthenticateRequest{Mechanism: mech, Bytes: msg})
		if err != nil {
			return err
		}
		if _, err := nc.Write(frame); err != nil {
			return fmt.Errorf("broker: authenticate: %w", err)
		}
		payload, err := wire.ReadFrame(br, wire.DefaultMaxFrame, nil)
		if err != nil {
			return fmt.Errorf("broker: authenticate: %w", err)
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
			return err
		}
		next, done, err := cl.Step(resp.Bytes)
		if err != nil {
			return fmt.Errorf("%w: the peer's proof: %w", wire.ErrSaslAuthentication, err)
		}
		if done != resp.Done {
			return fmt.Errorf("%w: exchange out of step", wire.ErrSaslAuthentication)
		}
		if done {
			return nil
		}
		msg = next
	}
}
