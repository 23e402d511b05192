package auth

import (
	"testing"

	"github.com/xdg-go/scram"
)

// BenchmarkScramExchange: one whole SCRAM exchange, the server's side
// (ScramServer) against a client whose derived keys are cached (as the Go
// client's are after its first login), so the figure is the per-connection
// cost without PBKDF2: a few HMACs and hashes on each side. The baseline,
// derive, is the PBKDF2 a client does once per password (4096 iterations).
func BenchmarkScramExchange(b *testing.B) {
	for _, mech := range ScramMechanisms() {
		cred, _ := NewCred(mech, "pw")
		lookup := lookupOf("alice", cred)
		h, _ := hashOf(mech)
		cl, _ := h.NewClientUnprepped("alice", "pw", "")
		b.Run(mech, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				s, _ := NewScramServer(mech, lookup)
				conv := cl.NewConversation()
				msg, _ := conv.Step("")
				for {
					out, done, err := s.Step([]byte(msg))
					if err != nil {
						b.Fatal(err)
					}
					if msg, err = conv.Step(string(out)); err != nil {
						b.Fatal(err)
					}
					if done {
						break
					}
				}
			}
		})
		b.Run(mech+"/baseline-derive", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				c, _ := h.NewClientUnprepped("alice", "pw", "")
				if _, err := c.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(cred.Salt), Iters: cred.Iterations}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
