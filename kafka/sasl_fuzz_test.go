package kafka_test

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/broker/brokertest"
)

// FuzzSASLAuthenticate sends a SaslHandshake and then arbitrary
// SaslAuthenticate bodies (any version 0-2, two rounds) to a broker with
// authentication on. Whatever the bytes, the broker answers
// SASL_AUTHENTICATION_FAILED (or closes a body it cannot parse), never
// serves a request after a fuzzed login, and keeps serving others.
func FuzzSASLAuthenticate(f *testing.F) {
	b := brokertest.NewCluster(f, 1, brokertest.SCRAM("admin", "admin-pw")).Broker(0)
	addr := b.KafkaAddr()
	body := func(v int16, msg string) []byte {
		r := kmsg.NewPtrSASLAuthenticateRequest()
		r.SetVersion(v)
		r.SASLAuthBytes = []byte(msg)
		return r.AppendTo(nil)
	}
	f.Add(uint8(1), uint8(0), body(1, "n,,n=admin,r=abc"), body(1, "c=biws,r=abc,p=AAAA"))
	f.Add(uint8(2), uint8(1), body(2, "n,,n=admin,r=x"), body(2, "c=biws,r=xx,p=dGVzdA=="))
	f.Add(uint8(0), uint8(0), body(0, "garbage"), []byte{})
	f.Add(uint8(2), uint8(1), []byte{0xff, 0xff, 0xff}, []byte{0})
	f.Fuzz(func(t *testing.T, version, mech uint8, first, second []byte) {
		v := int16(version % 3)
		k := dial(t, addr)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.SetVersion(1)
		hs.Mechanism = []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}[mech%2]
		if r := k.do(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
			t.Fatalf("handshake: %+v", r)
		}
		for round, b := range [][]byte{first, second} {
			if !sendRaw(k, kmsg.SASLAuthenticate.Int16(), v, int32(round+1), b) {
				return
			}
			frame, err := k.readFrame()
			if err != nil {
				return // a body the broker could not parse: closed
			}
			resp := kmsg.NewPtrSASLAuthenticateResponse()
			resp.SetVersion(v)
			fb := frame[4:]
			if v >= 2 {
				fb = fb[1:]
			}
			if err := resp.ReadFrom(fb); err != nil {
				t.Fatalf("response: %v", err)
			}
			if resp.ErrorCode != 0 {
				if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
					t.Fatalf("error code %d", resp.ErrorCode)
				}
				if _, err := k.br.ReadByte(); !errors.Is(err, io.EOF) {
					t.Fatalf("not closed after a failure: %v", err)
				}
				return
			}
			if round == 1 {
				t.Fatalf("a fuzzed exchange succeeded: %q / %q", first, second)
			}
		}
	})
}

// sendRaw writes a request frame with an arbitrary body; false if the
// connection is gone.
func sendRaw(k *kconn, key, version int16, corr int32, body []byte) bool {
	hdr := binary.BigEndian.AppendUint16(nil, uint16(key))
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(version))
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(corr))
	hdr = append(hdr, 0xff, 0xff) // null client id
	if version >= 2 {
		hdr = append(hdr, 0) // no tagged fields
	}
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(hdr)+len(body)))
	k.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := k.nc.Write(append(append(frame, hdr...), body...))
	return err == nil
}
