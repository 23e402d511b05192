package replication

import (
	"github.com/minibroker/minibroker/internal/auth"
)

var modelUsers = []string{"alice", "bob", "carol"}

// modelCred is a credential with fixed keys of the right length (deriving
// real ones would slow the model down for nothing: Apply checks only the
// shape), sometimes malformed.
func (g *modelGen) modelCred() ScramCred {
	mech := auth.ScramMechanisms()[g.pick(2)]
	n, _ := auth.KeyLen(mech)
	c := ScramCred{
		Mechanism:  mech,
		Iterations: auth.MinIterations + g.pick(3)*1000,
		Salt:       []byte{byte(g.pick(256)), 1, 2},
		StoredKey:  make([]byte, n),
		ServerKey:  make([]byte, n),
	}
	c.StoredKey[0] = byte(g.index)
	switch g.pick(20) {
	case 0:
		c.Iterations = 10 // too few
	case 1:
		c.StoredKey = c.StoredKey[:n-1]
	case 2:
		c.Mechanism = "SCRAM-SHA-1"
	}
	return c
}

func (g *modelGen) userName() string {
	if g.chance(0.03) {
		return "bad\nname"
	}
	return modelUsers[g.pick(len(modelUsers))]
}

// putUser upserts a user's credentials and/or superuser flag, sometimes
// with Create, Replace or mechanisms to delete, sometimes malformed.
func (g *modelGen) putUser() []byte {
	c := PutUserCmd{Name: g.userName(), Create: g.chance(0.2), Replace: g.chance(0.2)}
	for i := g.pick(3); i > 0; i-- {
		c.Creds = append(c.Creds, g.modelCred())
	}
	if g.chance(0.5) {
		su := g.chance(0.5)
		c.Superuser = &su
	}
	if g.chance(0.25) {
		c.Delete = append(c.Delete, []string{auth.MechSCRAMSHA256, auth.MechSCRAMSHA512, "MD5"}[g.pick(3)])
		if g.chance(0.2) {
			c.Delete = append(c.Delete, auth.ScramMechanisms()[g.pick(2)])
		}
	}
	return g.enc(CmdPutUser, &c)
}

// deleteUser deletes a user or one of its mechanisms.
func (g *modelGen) deleteUser() []byte {
	c := DeleteUserCmd{Name: g.userName()}
	switch g.pick(4) {
	case 0:
		c.Mechanism = auth.MechSCRAMSHA256
	case 1:
		c.Mechanism = auth.MechSCRAMSHA512
	case 2:
		if g.chance(0.2) {
			c.Mechanism = "MD5"
		}
	}
	return g.enc(CmdDeleteUser, &c)
}
