package kafka

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// owners tracks which member owns each partition, from the clients'
// assignment callbacks, per generation: a partition assigned to a member
// while another owns it is an error, and each generation's assignments
// must be disjoint. It is safe for concurrent use.
type owners struct {
	mu    sync.Mutex                   // guards the fields below
	owner map[int32]string             // partition -> member
	gens  map[int32]map[string][]int32 // generation -> member -> its partitions in it
	errs  []string
}

func newOwners() *owners {
	return &owners{owner: make(map[int32]string), gens: make(map[int32]map[string][]int32)}
}

func (o *owners) lock()   { o.mu.Lock() }
func (o *owners) unlock() { o.mu.Unlock() }

// assign notes that member got ps in generation gen; owned is everything
// it owns in that generation.
func (o *owners) assign(member string, gen int32, ps []int32) {
	o.lock()
	defer o.unlock()
	for _, p := range ps {
		if cur, ok := o.owner[p]; ok && cur != member {
			o.errs = append(o.errs, fmt.Sprintf("generation %d: p%d assigned to %s while %s owns it", gen, p, member, cur))
		}
		o.owner[p] = member
	}
	var owned []int32
	for p, m := range o.owner {
		if m == member {
			owned = append(owned, p)
		}
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i] < owned[j] })
	if o.gens[gen] == nil {
		o.gens[gen] = make(map[string][]int32)
	}
	o.gens[gen][member] = owned
}

// release notes that member gave up ps (revoked or lost).
func (o *owners) release(member string, ps []int32) {
	o.lock()
	defer o.unlock()
	for _, p := range ps {
		if o.owner[p] == member {
			delete(o.owner, p)
		}
	}
}

// of returns the partitions member owns now.
func (o *owners) of(member string) []int32 {
	o.lock()
	defer o.unlock()
	var out []int32
	for p, m := range o.owner {
		if m == member {
			out = append(out, p)
		}
	}
	return out
}

// settled reports whether all n partitions are owned, spread over exactly
// members members.
func (o *owners) settled(n, members int) bool {
	o.lock()
	defer o.unlock()
	distinct := make(map[string]bool)
	for _, m := range o.owner {
		distinct[m] = true
	}
	return len(o.owner) == n && len(distinct) == members
}

// check fails the test if a partition was ever owned twice at once or
// twice in a generation, and logs the assignments per generation.
func (o *owners) check(t *testing.T) {
	t.Helper()
	o.lock()
	defer o.unlock()
	var gens []int32
	for g := range o.gens {
		gens = append(gens, g)
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i] < gens[j] })
	var log []string
	for _, g := range gens {
		seen := make(map[int32]string)
		for m, ps := range o.gens[g] {
			for _, p := range ps {
				if other, ok := seen[p]; ok {
					o.errs = append(o.errs, fmt.Sprintf("generation %d: p%d owned by %s and %s", g, p, other, m))
				}
				seen[p] = m
			}
		}
		log = append(log, fmt.Sprintf("gen %d: %v", g, o.gens[g]))
	}
	for _, e := range o.errs {
		t.Error(e)
	}
	t.Logf("assignments: %s", strings.Join(log, "; "))
}

// franzHooks returns kgo options feeding member's callbacks to o.
func (o *owners) franzHooks(member string) []kgo.Opt {
	flat := func(m map[string][]int32) []int32 {
		var ps []int32
		for _, v := range m {
			ps = append(ps, v...)
		}
		return ps
	}
	assigned := func(_ context.Context, cl *kgo.Client, m map[string][]int32) {
		_, gen := cl.GroupMetadata()
		o.assign(member, gen, flat(m))
	}
	gone := func(_ context.Context, _ *kgo.Client, m map[string][]int32) { o.release(member, flat(m)) }
	return []kgo.Opt{kgo.OnPartitionsAssigned(assigned), kgo.OnPartitionsRevoked(gone), kgo.OnPartitionsLost(gone)}
}
