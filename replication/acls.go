package replication

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/minibroker/minibroker/internal/auth"
)

// Access control lists in the replicated state (issue 18). The state keeps
// metaState.ACLs sorted by auth.Compare and without duplicates; Apply
// replaces the slice, never changes it in place, so a reader may keep the
// slice it got (FSM.ACLs) without a lock.
//
// Deleting by filter: the leader resolves the filters against its applied
// state (Store.DeleteACLs, on the ready leader) to the exact ACLs, and the
// command carries those; Apply removes the ones still present. So Apply
// never evaluates a filter, and a command applied twice (replay) or after
// a concurrent change removes exactly what it names.

// CreateACLsCmd adds ACLs (Kafka's CreateAcls). Apply validates every one
// (auth.ValidateACL; one bad ACL rejects the command with ErrInvalidACL and
// nothing changes); adding an ACL that exists changes nothing.
type CreateACLsCmd struct {
	ACLs []auth.ACL `msgpack:"a"`
}

// DeleteACLsCmd removes the ACLs it names exactly; those not present are
// ignored. Apply's response is the []auth.ACL it removed, sorted.
type DeleteACLsCmd struct {
	ACLs []auth.ACL `msgpack:"a"`
}

// MaxACLs bounds the number of ACLs in the state (Apply refuses a create
// that would pass it with ErrInvalidACL), and so the cost of a check.
const MaxACLs = 10000

// MaxACLFilters bounds the filters of one Store.DeleteACLs (each is a scan
// of the ACLs on the leader).
const MaxACLFilters = 1000

// applyCreateACLs adds ACLs, keeping the list sorted and unique.
func (f *FSM) applyCreateACLs(index uint64, body []byte) any {
	return applyMetaCmd(f, index, body, func(c *CreateACLsCmd) any {
		for _, a := range c.ACLs {
			if err := auth.ValidateACL(a); err != nil {
				return err
			}
		}
		next := make([]auth.ACL, 0, len(f.meta.ACLs)+len(c.ACLs))
		next = append(append(next, f.meta.ACLs...), c.ACLs...)
		slices.SortFunc(next, auth.Compare)
		next = slices.Compact(next)
		if len(next) > MaxACLs {
			return fmt.Errorf("%w: %d ACLs, the limit is %d", ErrInvalidACL, len(next), MaxACLs)
		}
		f.meta.ACLs = next
		return nil
	})
}

// applyDeleteACLs removes the named ACLs that exist.
func (f *FSM) applyDeleteACLs(index uint64, body []byte) any {
	return applyMetaCmd(f, index, body, func(c *DeleteACLsCmd) any {
		named := make(map[auth.ACL]struct{}, len(c.ACLs))
		for _, a := range c.ACLs {
			named[a] = struct{}{}
		}
		var removed, kept []auth.ACL
		for _, a := range f.meta.ACLs { // the state's order: sorted
			if _, ok := named[a]; ok {
				removed = append(removed, a)
			} else {
				kept = append(kept, a)
			}
		}
		if len(removed) > 0 {
			f.meta.ACLs = kept
		}
		return removed
	})
}

// ACLs returns the replicated ACLs, sorted by auth.Compare. The slice is
// shared: callers must not modify it. Safe for concurrent use.
func (f *FSM) ACLs() []auth.ACL {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.meta.ACLs
}

// Authorize reports whether p may perform op on the resource (res, name)
// under the applied ACLs (auth.Authorize: superusers always may). It does
// not block on Apply beyond a read lock and is safe for concurrent use.
func (f *FSM) Authorize(p auth.Principal, op auth.Operation, res auth.ResourceType, name string) bool {
	if p.Superuser {
		return true
	}
	return auth.Authorize(f.aclsOn(res), p, op, res, name)
}

// aclsOn returns the applied ACLs on resources of type res: a sub-slice,
// since the list is sorted by auth.Compare, resource type first (stored
// ACLs name a concrete type), so that a check scans only its type's ACLs.
func (f *FSM) aclsOn(res auth.ResourceType) []auth.ACL {
	acls := f.ACLs()
	lo, _ := slices.BinarySearchFunc(acls, res, func(a auth.ACL, r auth.ResourceType) int { return cmp.Compare(a.Resource, r) })
	hi, _ := slices.BinarySearchFunc(acls, res+1, func(a auth.ACL, r auth.ResourceType) int { return cmp.Compare(a.Resource, r) })
	return acls[lo:hi]
}

// MatchACLs returns the applied ACLs that filter selects, sorted. Safe for
// concurrent use.
func (f *FSM) MatchACLs(filter auth.Filter) []auth.ACL {
	var out []auth.ACL
	for _, a := range f.ACLs() {
		if filter.Matches(a) {
			out = append(out, a)
		}
	}
	return out
}

// CreateACLs adds ACLs through Raft (see CreateACLsCmd) and blocks until
// they are applied. It validates them first (ErrInvalidACL, nothing
// proposed). Besides ErrInvalidACL it returns the errors of the Store's
// group operations (store_groups.go): *NotLeaderError, ErrOutcomeUnknown,
// ErrShutdown, ErrTimeout, ErrStopped and ctx's error. Safe for concurrent
// use.
func (s *Store) CreateACLs(ctx context.Context, acls []auth.ACL) error {
	if len(acls) == 0 {
		return nil
	}
	if len(acls) > MaxACLs {
		return fmt.Errorf("%w: %d ACLs in one request, the limit is %d", ErrInvalidACL, len(acls), MaxACLs)
	}
	for _, a := range acls {
		if err := auth.ValidateACL(a); err != nil {
			return err
		}
	}
	if n := newACLs(s.fsm.ACLs(), acls); len(s.fsm.ACLs())+n > MaxACLs {
		return fmt.Errorf("%w: %d ACLs and %d new, the limit is %d", ErrInvalidACL, len(s.fsm.ACLs()), n, MaxACLs)
	}
	_, err := s.applyReady(ctx, CmdCreateACLs, func() any { return &CreateACLsCmd{ACLs: acls} })
	return err
}

// newACLs counts the distinct ACLs of acls that state (sorted) lacks.
func newACLs(state, acls []auth.ACL) int {
	if len(state)+len(acls) <= MaxACLs {
		return len(acls) // an upper bound is enough
	}
	seen := make(map[auth.ACL]struct{}, len(acls))
	for _, a := range acls {
		if _, found := slices.BinarySearchFunc(state, a, auth.Compare); !found {
			seen[a] = struct{}{}
		}
	}
	return len(seen)
}

// DeleteACLs removes the ACLs each filter selects: the ready leader
// resolves the filters against its applied state, proposes the exact list
// (DeleteACLsCmd) and blocks until it is applied. It returns, per filter,
// the ACLs it selected that this command removed (one removed by a
// concurrent delete in between is not listed). Errors: ErrInvalidACL (a
// bad filter, or more than MaxACLFilters: nothing proposed), and those of
// CreateACLs. Safe for concurrent use.
func (s *Store) DeleteACLs(ctx context.Context, filters []auth.Filter) ([][]auth.ACL, error) {
	if len(filters) > MaxACLFilters {
		return nil, fmt.Errorf("%w: %d filters, the limit is %d", ErrInvalidACL, len(filters), MaxACLFilters)
	}
	for _, fl := range filters {
		if err := auth.ValidateFilter(fl); err != nil {
			return nil, err
		}
	}
	var matched [][]auth.ACL
	resp, err := s.applyReady(ctx, CmdDeleteACLs, func() any {
		matched = make([][]auth.ACL, len(filters))
		var all []auth.ACL
		for i, fl := range filters {
			matched[i] = s.fsm.MatchACLs(fl)
			all = append(all, matched[i]...)
		}
		slices.SortFunc(all, auth.Compare)
		return &DeleteACLsCmd{ACLs: slices.Compact(all)}
	})
	if err != nil {
		return nil, err
	}
	removed, ok := resp.([]auth.ACL)
	if resp != nil && !ok {
		return nil, fmt.Errorf("replication: delete ACLs: unexpected response %T", resp)
	}
	return removedPerFilter(matched, removed), nil
}

// removedPerFilter returns, per filter, the ACLs it matched that were
// removed, in the order matched: linear in the ACLs matched.
func removedPerFilter(matched [][]auth.ACL, removed []auth.ACL) [][]auth.ACL {
	gone := make(map[auth.ACL]struct{}, len(removed))
	for _, a := range removed {
		gone[a] = struct{}{}
	}
	out := make([][]auth.ACL, len(matched))
	for i, m := range matched {
		for _, a := range m {
			if _, ok := gone[a]; ok {
				out[i] = append(out[i], a)
			}
		}
	}
	return out
}

// AuthorizeAny reports whether p may perform op on at least one resource
// of type res (auth.AuthorizeAny). Safe for concurrent use.
func (f *FSM) AuthorizeAny(p auth.Principal, op auth.Operation, res auth.ResourceType) bool {
	if p.Superuser {
		return true
	}
	return auth.AuthorizeAny(f.aclsOn(res), p, op, res)
}
