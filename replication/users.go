package replication

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/minibroker/minibroker/internal/auth"
)

// ScramCred is a user's stored SCRAM credential for one mechanism (see
// auth.ScramCred): salt, iterations and the derived keys, never a password.
type ScramCred = auth.ScramCred

// User is a SCRAM user as the replicated state knows it. Creds holds at
// most one credential per mechanism, sorted by mechanism.
type User struct {
	Name      string      `msgpack:"n"`
	Superuser bool        `msgpack:"su,omitempty"`
	Creds     []ScramCred `msgpack:"c"`
}

// Cred returns the user's credential for a mechanism.
func (u *User) Cred(mech string) (ScramCred, bool) {
	for _, c := range u.Creds {
		if c.Mechanism == mech {
			return c, true
		}
	}
	return ScramCred{}, false
}

// Mechanisms lists the mechanisms the user has a credential for.
func (u *User) Mechanisms() []string {
	out := make([]string, 0, len(u.Creds))
	for _, c := range u.Creds {
		out = append(out, c.Mechanism)
	}
	return out
}

// PutUserCmd creates a user or changes one, in one step: the credentials
// of the mechanisms in Delete are removed (ErrUnknownUser if the user has
// none of one of them), then each of Creds replaces the user's credential
// of that mechanism; with Replace, every credential not in Creds is
// dropped too (a new password for the mechanisms given and no other).
// Superuser, when not nil, sets the flag (a new user without it is not a
// superuser; otherwise the flag stays). A user left without credentials is
// deleted. Create refuses an existing user (ErrUserExists); a new user
// past MaxUsers is refused (ErrTooManyUsers). Apply checks ValidatePutUser
// (ErrInvalidUser) and that a new user gets at least one credential. The
// broker derives the credentials (random salt) before proposing: the
// command is deterministic.
type PutUserCmd struct {
	Name      string      `msgpack:"n"`
	Creds     []ScramCred `msgpack:"c,omitempty"`
	Superuser *bool       `msgpack:"su,omitempty"`
	Create    bool        `msgpack:"cr,omitempty"`
	Replace   bool        `msgpack:"rp,omitempty"`
	Delete    []string    `msgpack:"dm,omitempty"`
}

// MaxUsers bounds the number of users in the state: Apply refuses to
// create one more (ErrTooManyUsers), and the broker checks it before
// deriving credentials.
const MaxUsers = 10000

// DeleteUserCmd deletes a user's credential for Mechanism, or the whole
// user when Mechanism is empty. A user left without credentials is
// deleted. Apply returns ErrUnknownUser when there is nothing to delete,
// ErrInvalidUser for a bad name or mechanism.
type DeleteUserCmd struct {
	Name      string `msgpack:"n"`
	Mechanism string `msgpack:"m,omitempty"`
}

// ValidatePutUser checks a PutUser command before it is proposed, and
// again in Apply. Errors wrap ErrInvalidUser.
func ValidatePutUser(c *PutUserCmd) error {
	if err := auth.ValidateUserName(c.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidUser, err)
	}
	seen := map[string]bool{}
	for _, cr := range c.Creds {
		if err := auth.ValidateCred(cr); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidUser, err)
		}
		if seen[cr.Mechanism] {
			return fmt.Errorf("%w: two %s credentials", ErrInvalidUser, cr.Mechanism)
		}
		seen[cr.Mechanism] = true
	}
	for _, m := range c.Delete {
		if _, err := auth.KeyLen(m); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidUser, err)
		}
		if seen[m] {
			return fmt.Errorf("%w: %s named twice", ErrInvalidUser, m)
		}
		seen[m] = true
	}
	switch {
	case len(c.Creds) == 0 && c.Superuser == nil && len(c.Delete) == 0:
		return fmt.Errorf("%w: nothing to change", ErrInvalidUser)
	case c.Replace && len(c.Creds) == 0:
		return fmt.Errorf("%w: replace without a credential", ErrInvalidUser)
	case len(c.Delete) > 0 && (c.Replace || c.Create):
		return fmt.Errorf("%w: delete with replace or create", ErrInvalidUser)
	}
	return nil
}

// ValidateDeleteUser checks a DeleteUser command. Errors wrap ErrInvalidUser.
func ValidateDeleteUser(c *DeleteUserCmd) error {
	if err := auth.ValidateUserName(c.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidUser, err)
	}
	if c.Mechanism != "" {
		if _, err := auth.KeyLen(c.Mechanism); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidUser, err)
		}
	}
	return nil
}

// findUser returns the index of name in the sorted list, and whether it is there.
func (m *metaState) findUser(name string) (int, bool) {
	i := sort.Search(len(m.Users), func(i int) bool { return m.Users[i].Name >= name })
	return i, i < len(m.Users) && m.Users[i].Name == name
}

func (f *FSM) applyPutUser(index uint64, body []byte) any {
	return applyMetaCmd(f, index, body, func(c *PutUserCmd) any {
		if err := ValidatePutUser(c); err != nil {
			return err
		}
		i, ok := f.meta.findUser(c.Name)
		switch {
		case ok && c.Create:
			return fmt.Errorf("%w: %q", ErrUserExists, c.Name)
		case !ok && len(c.Delete) > 0:
			return fmt.Errorf("%w: %q", ErrUnknownUser, c.Name)
		case !ok && len(c.Creds) == 0:
			return fmt.Errorf("%w: new user %q needs a credential", ErrInvalidUser, c.Name)
		case !ok && len(f.meta.Users) >= MaxUsers:
			return fmt.Errorf("%w: %d users, the limit is %d", ErrTooManyUsers, len(f.meta.Users), MaxUsers)
		}
		u := &User{Name: c.Name}
		if ok {
			old := f.meta.Users[i]
			for _, m := range c.Delete {
				if _, has := old.Cred(m); !has {
					return fmt.Errorf("%w: %q has no %s credential", ErrUnknownUser, c.Name, m)
				}
			}
			u.Superuser = old.Superuser
			if !c.Replace {
				for _, x := range old.Creds {
					if !slices.Contains(c.Delete, x.Mechanism) {
						u.Creds = append(u.Creds, x)
					}
				}
			}
		}
		if c.Superuser != nil {
			u.Superuser = *c.Superuser
		}
		for _, cr := range c.Creds {
			u.Creds = putCred(u.Creds, cr)
		}
		switch {
		case ok && len(u.Creds) == 0:
			f.meta.Users = slices.Delete(slices.Clone(f.meta.Users), i, i+1)
		case ok:
			f.meta.Users[i] = u // replaced, not changed: readers hold the old one
		default:
			f.meta.Users = append(f.meta.Users, nil)
			copy(f.meta.Users[i+1:], f.meta.Users[i:])
			f.meta.Users[i] = u
		}
		return nil
	})
}

// putCred returns creds with c in place of the credential of its
// mechanism, sorted by mechanism.
func putCred(creds []ScramCred, c ScramCred) []ScramCred {
	out := make([]ScramCred, 0, len(creds)+1)
	for _, x := range creds {
		if x.Mechanism != c.Mechanism {
			out = append(out, x)
		}
	}
	out = append(out, c)
	sort.Slice(out, func(i, j int) bool { return out[i].Mechanism < out[j].Mechanism })
	return out
}

func (f *FSM) applyDeleteUser(index uint64, body []byte) any {
	return applyMetaCmd(f, index, body, func(c *DeleteUserCmd) any {
		if err := ValidateDeleteUser(c); err != nil {
			return err
		}
		i, ok := f.meta.findUser(c.Name)
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownUser, c.Name)
		}
		old := f.meta.Users[i]
		if c.Mechanism != "" {
			if _, has := old.Cred(c.Mechanism); !has {
				return fmt.Errorf("%w: %q has no %s credential", ErrUnknownUser, c.Name, c.Mechanism)
			}
			u := &User{Name: old.Name, Superuser: old.Superuser}
			for _, x := range old.Creds {
				if x.Mechanism != c.Mechanism {
					u.Creds = append(u.Creds, x)
				}
			}
			if len(u.Creds) > 0 {
				f.meta.Users[i] = u
				return nil
			}
		}
		users := make([]*User, 0, len(f.meta.Users)-1)
		users = append(users, f.meta.Users[:i]...)
		f.meta.Users = append(users, f.meta.Users[i+1:]...)
		return nil
	})
}

// sanitizeUsers drops nil entries (only damaged input has them) and
// sorts by name, keeping the first of duplicate names.
func sanitizeUsers(us []*User) []*User {
	out := us[:0:0]
	for _, u := range us {
		if u != nil {
			out = append(out, u)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	j := 0
	for i, u := range out {
		if i > 0 && u.Name == out[j-1].Name {
			continue
		}
		out[j] = u
		j++
	}
	if j == 0 {
		return nil
	}
	return out[:j]
}

// User returns a copy of a user's record. Safe for concurrent use.
func (f *FSM) User(name string) (User, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	i, ok := f.meta.findUser(name)
	if !ok {
		return User{}, false
	}
	return copyUser(f.meta.Users[i]), true
}

// UserCount returns the number of users. Safe for concurrent use.
func (f *FSM) UserCount() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.meta.Users)
}

// Users returns copies of every user, sorted by name. Safe for concurrent use.
func (f *FSM) Users() []User {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]User, 0, len(f.meta.Users))
	for _, u := range f.meta.Users {
		out = append(out, copyUser(u))
	}
	return out
}

// copyUser deep-copies u: the caller may change anything in the copy.
func copyUser(u *User) User {
	c := *u
	c.Creds = make([]ScramCred, len(u.Creds))
	for i, cr := range u.Creds {
		cr.Salt = bytes.Clone(cr.Salt)
		cr.StoredKey = bytes.Clone(cr.StoredKey)
		cr.ServerKey = bytes.Clone(cr.ServerKey)
		c.Creds[i] = cr
	}
	return c
}

// User returns a user's record from the applied state (possibly stale on
// a follower). Safe for concurrent use.
func (s *Store) User(name string) (User, bool) { return s.fsm.User(name) }

// Cred returns the credential of user for the SCRAM mechanism mech from
// this node's applied state; false if there is no such user or
// credential. Safe for concurrent use.
func (s *Store) Cred(user, mech string) (ScramCred, bool) {
	u, ok := s.fsm.User(user)
	if !ok {
		return ScramCred{}, false
	}
	return u.Cred(mech)
}

// Principal is the principal of user, who has just authenticated: its
// superuser flag as this node has applied it. Safe for concurrent use.
func (s *Store) Principal(user string) auth.Principal {
	u, _ := s.fsm.User(user)
	return auth.Principal{User: user, Superuser: u.Superuser}
}

// Users returns every user, sorted by name. Safe for concurrent use.
func (s *Store) Users() []User { return s.fsm.Users() }

// UserCount returns the number of users this node has applied. Safe for
// concurrent use.
func (s *Store) UserCount() int { return s.fsm.UserCount() }

// PutUser creates or changes a user (see PutUserCmd) through Raft and
// blocks until it is applied here. Leader only. Safe for concurrent use.
// Errors: ErrInvalidUser (checked before proposing), ErrUserExists,
// ErrUnknownUser (Delete), ErrTooManyUsers, ErrNotLeader, and those of
// Append.
func (s *Store) PutUser(ctx context.Context, c PutUserCmd) error {
	if err := ValidatePutUser(&c); err != nil {
		return err
	}
	return s.applyMeta(ctx, CmdPutUser, &c)
}

// DeleteUser deletes a user's credential for mech, or the user when mech
// is empty (see DeleteUserCmd). Leader only; blocks until applied. Errors:
// ErrInvalidUser, ErrUnknownUser, ErrNotLeader, and those of Append.
func (s *Store) DeleteUser(ctx context.Context, name, mech string) error {
	c := DeleteUserCmd{Name: name, Mechanism: mech}
	if err := ValidateDeleteUser(&c); err != nil {
		return err
	}
	return s.applyMeta(ctx, CmdDeleteUser, &c)
}
