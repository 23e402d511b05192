package brokertest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
)

// VerifyReplicas ends a multi-node test: it waits until every running node
// holds the same replicated state at one Raft index (client.VerifyCluster),
// and fails the test naming the nodes and partitions that differ, or the
// nodes that never answered. Nodes that are down (killed or shut down) are
// left out. It returns the last report.
func (c *Cluster) VerifyReplicas() client.VerifyReport {
	c.t.Helper()
	var down []string
	for i, b := range c.brokers {
		if b == nil {
			down = append(down, c.cfgs[i].ID)
		}
	}
	return verifyAddrs(c.t, client.Config{Brokers: c.Addrs(), User: c.cfgs[0].AdminUser, Password: c.cfgs[0].AdminPassword}, down...)
}

// VerifyAddrs is VerifyReplicas for any cluster (child processes too),
// reached through the seed addresses addrs. Nodes named in down may be
// unreachable. It retries (for up to 20s) while the leader changes or
// nodes are still catching up; replicas that differ fail it after two
// rounds in a row.
func VerifyAddrs(t testing.TB, addrs []string, down ...string) client.VerifyReport {
	t.Helper()
	return verifyAddrs(t, client.Config{Brokers: addrs}, down...)
}

// verifyAddrs is VerifyAddrs with a client configuration (credentials).
func verifyAddrs(t testing.TB, cfg client.Config, down ...string) client.VerifyReport {
	t.Helper()
	cfg.RequestTimeout, cfg.DialTimeout = 5*time.Second, time.Second
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatalf("brokertest: verify: %v", err)
	}
	defer cl.Close()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		r, err := cl.VerifyCluster(ctx)
		cancel()
		differ, problem := false, ""
		if err != nil {
			problem = err.Error()
		} else {
			differ, problem = verifyProblem(r, down)
		}
		if problem == "" {
			return r
		}
		if differ {
			// Digests are taken at one applied index on every node: there
			// is nothing to wait for, they must agree.
			t.Fatalf("brokertest: replicas diverged: %s\n%s", problem, FormatReport(r))
		}
		if time.Now().After(deadline) {
			t.Fatalf("brokertest: replicas not verified within %v: %s\n%s", waitTimeout, problem, FormatReport(r))
		}
		<-tick.C
	}
}

// verifyProblem says what keeps r from passing ("" if nothing): nodes that
// differ (differ is then true), or one not in down that gave no digest.
func verifyProblem(r client.VerifyReport, down []string) (differ bool, problem string) {
	var differs, missing []string
	for _, n := range r.Nodes {
		switch {
		case len(n.Differs) > 0:
			differs = append(differs, fmt.Sprintf("%s in %s", n.ID, strings.Join(n.Differs, ", ")))
		case n.Err != nil && !slices.Contains(down, n.ID):
			missing = append(missing, fmt.Sprintf("%s: %v", n.ID, n.Err))
		}
	}
	switch {
	case len(differs) > 0:
		return true, fmt.Sprintf("at index %d: %s", r.Index, strings.Join(differs, "; "))
	case len(missing) > 0:
		return false, fmt.Sprintf("no digest at index %d from %s", r.Index, strings.Join(missing, "; "))
	}
	return false, ""
}

// FormatReport renders a report for a test failure, one line per node.
func FormatReport(r client.VerifyReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "digests at index %d (leader %s):\n", r.Index, r.LeaderID)
	for _, n := range r.Nodes {
		if n.Err != nil {
			fmt.Fprintf(&b, "  %s %s: %v\n", n.ID, n.Addr, n.Err)
			continue
		}
		fmt.Fprintf(&b, "  %s %s: meta %.12s", n.ID, n.Addr, n.Meta)
		for _, p := range n.Partitions {
			fmt.Fprintf(&b, " %s/%d[%d,%d)=%.8s", p.Topic, p.Partition, p.StartOffset, p.NextOffset, p.Sum)
		}
		if len(n.Differs) > 0 {
			fmt.Fprintf(&b, "  DIFFERS in %s", strings.Join(n.Differs, ", "))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
