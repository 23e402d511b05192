package tests

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/tests/internal/testutil"
)

// caConfig is a client TLS configuration trusting the CA in file (no
// client certificate: the client has to log in).
func caConfig(t *testing.T, file string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// TestCLISecureCluster runs a three-node cluster of `serve` processes with
// TLS (certificates from `certs create`) and --auth scram, the first
// superuser from MINIBROKER_ADMIN_USER/PASSWORD. The admin creates user
// alice; alice's produce is refused until `acl add` grants it; she then
// produces and consumes in a group with the CLI (--tls-ca, --user,
// MINIBROKER_PASSWORD), but not in a group without an ACL, nor add ACLs;
// the admin reads `cluster status`. Then, with alice's Go client producing (acks=all), the leader is
// killed with SIGKILL and restarted: it rejoins over mutual TLS and catches
// up, the replicas agree, every acknowledged message is there, and the
// restarted node serves alice.
func TestCLISecureCluster(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	mustCLI(t, "", "certs", "create", "--dir", certs, "--nodes", "n1,n2,n3")
	ca := filepath.Join(certs, "ca.crt")
	ports := testutil.FreeAddrs(t, 6)
	adminEnv := []string{"MINIBROKER_ADMIN_USER=admin", "MINIBROKER_ADMIN_PASSWORD=admin-pw"}
	nodes := make([]*cliNode, 3)
	var addrs []string
	for i := range nodes {
		n := &cliNode{id: fmt.Sprintf("n%d", i+1), addr: ports[2*i]}
		n.args = []string{"serve", "--auth", "scram", "--http-addr", "", "--kafka-addr", "127.0.0.1:0", "--id", n.id,
			"--data", filepath.Join(dir, n.id), "--addr", n.addr, "--raft-addr", ports[2*i+1],
			"--tls-cert", filepath.Join(certs, "node-"+n.id+".crt"), "--tls-key", filepath.Join(certs, "node-"+n.id+".key"), "--tls-ca", ca}
		if i == 0 {
			n.args = append(n.args, "--bootstrap")
		} else {
			n.args = append(n.args, "--join", nodes[0].addr)
		}
		nodes[i] = n
		addrs = append(addrs, n.addr)
	}
	start := func(n *cliNode) {
		t.Helper()
		n.p = startProcEnv(t, n.id, adminEnv, n.args...)
		if m := n.p.waitStdout(servingLine); m[1] != n.id || m[2] != n.addr {
			t.Fatalf("%s: serving line %q", n.id, m[0])
		}
	}
	for _, n := range nodes {
		start(n)
	}
	brokers := "--brokers=" + strings.Join(addrs, ",")
	admin := []string{"MINIBROKER_USER=admin", "MINIBROKER_PASSWORD=admin-pw", "MINIBROKER_TLS_CA=" + ca}
	aliceEnv := []string{"MINIBROKER_PASSWORD=alice-pw"}
	alice := func(args ...string) []string { return append(args, brokers, "--tls-ca", ca, "--user", "alice") }

	// The admin's login without TLS is refused (the control of --tls-ca).
	if code, _, errs := runCLIEnv(t, []string{"MINIBROKER_USER=admin", "MINIBROKER_PASSWORD=admin-pw"}, "", "topic", "list", brokers); code == 0 {
		t.Fatalf("plaintext tools against the TLS cluster: exit 0: %s", errs)
	}
	waitUntil(t, "the admin creates a topic", func() bool { // the leader creates the admin user once elected
		code, _, _ := runCLIEnv(t, admin, "", "topic", "create", "orders", "--partitions", "3", brokers)
		return code == 0
	})
	mustCLIEnv(t, admin, "alice-pw\n", "user", "create", "alice", brokers)

	// No ACL yet: alice logs in but may not produce.
	input := numberedLines(0, 30)
	if code, _, errs := runCLIEnv(t, aliceEnv, input, alice("produce", "orders")...); code == 0 || !strings.Contains(errs, "permission denied") {
		t.Fatalf("alice produces without an ACL: exit %d: %s", code, errs)
	}
	// The group's ACL first: a node that has applied the topic's has both.
	mustCLIEnv(t, admin, "", "acl", "add", "--principal", "alice", "--group", "g", "--op", "read", brokers)
	mustCLIEnv(t, admin, "", "acl", "add", "--principal", "alice", "--topic", "orders", "--op", "read,write", brokers)
	waitUntil(t, "alice produces", func() bool { // a refusal writes nothing; the node asked may lag a moment
		code, _, _ := runCLIEnv(t, aliceEnv, input, alice("produce", "orders", "--acks", "all")...)
		return code == 0
	})
	out := mustCLIEnv(t, aliceEnv, "", alice("consume", "orders", "--group", "g", "--from-beginning", "--max", "30")...)
	if got, want := sortedLines(out), sortedLines(input); !slices.Equal(got, want) {
		t.Fatalf("alice consumed in g:\n%v\nwant\n%v", got, want)
	}
	// A group she has no ACL for.
	if code, _, errs := runCLIEnv(t, aliceEnv, "", alice("consume", "orders", "--group", "g2", "--from-beginning", "--max", "1")...); code == 0 || !strings.Contains(errs, "permission denied") {
		t.Fatalf("alice consumes in g2: exit %d: %s", code, errs)
	}
	// alice may not grant herself more (acl needs the cluster Alter the
	// admin has as superuser).
	if code, _, errs := runCLIEnv(t, aliceEnv, "", alice("acl", "add", "--principal", "alice", "--group", "g2", "--op", "read")...); code == 0 || !strings.Contains(errs, "not authorized") {
		t.Fatalf("alice adds an ACL: exit %d: %s", code, errs)
	}
	// cluster status (DescribeCluster needs no permission: clients find
	// the leader with it) as the admin.
	var st cliCluster
	if err := json.Unmarshal([]byte(mustCLIEnv(t, admin, "", "cluster", "status", "--format", "json", brokers)), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Nodes) != 3 || st.Leader == "" {
		t.Fatalf("cluster status: %+v", st)
	}

	// The Go client, as alice over TLS, produces while the leader is
	// killed and restarted.
	tcfg := caConfig(t, ca)
	cl, err := client.New(client.Config{Brokers: addrs, TLS: tcfg, User: "alice", Password: "alice-pw", RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adminCl, err := client.New(client.Config{Brokers: addrs, TLS: tcfg, User: "admin", Password: "admin-pw", RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer adminCl.Close()
	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll})
	defer p.Close()
	acked := map[string]bool{}
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			v := fmt.Sprintf("go-%d", i)
			// An error is an unknown outcome: send again until acknowledged
			// (a duplicate is allowed, a loss is not).
			waitUntil(t, "ack of "+v, func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, err := p.Produce(ctx, client.Message{Topic: "orders", Value: []byte(v)})
				return err == nil
			})
			acked[v] = true
		}
	}
	produce(0, 20)
	st1, err := adminCl.ClusterStatus(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var leader *cliNode
	for _, n := range nodes {
		if n.id == st1.LeaderID {
			leader = n
		}
	}
	if leader == nil {
		t.Fatalf("leader %q is none of the nodes", st1.LeaderID)
	}
	leader.p.kill()
	t.Logf("killed the leader %s", leader.id)
	produce(20, 40)
	start(leader)
	produce(40, 60)

	// The restarted node rejoins: it knows a leader and has applied what
	// the cluster committed after the last ack.
	st2, err := adminCl.ClusterStatus(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, leader.id+" caught up", func() bool {
		ns, err := adminCl.NodeStatus(ctxT(t), leader.addr)
		return err == nil && ns.LeaderID != "" && ns.AppliedIndex >= st2.CommitIndex
	})
	waitUntil(t, "the replicas agree", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		r, err := adminCl.VerifyCluster(ctx)
		return err == nil && r.OK()
	})

	// Every acknowledged message is there, read through the restarted
	// node by alice.
	solo, err := client.New(client.Config{Brokers: []string{leader.addr}, TLS: tcfg, User: "alice", Password: "alice-pw"})
	if err != nil {
		t.Fatalf("the restarted node does not serve alice: %v", err)
	}
	defer solo.Close()
	seen := map[string]int{}
	for part := range int32(3) {
		for _, r := range readAll(t, solo, "orders", part) {
			seen[string(r.Value)]++
		}
	}
	dups := 0
	for v := range acked {
		switch seen[v] {
		case 0:
			t.Fatalf("acknowledged %s is missing", v)
		case 1:
		default:
			dups += seen[v] - 1
		}
	}
	t.Logf("%d acknowledged messages all there, %d duplicates", len(acked), dups)
	// And the CLI through the restarted node only.
	out = mustCLIEnv(t, aliceEnv, "", "consume", "orders", "--from-beginning", "--max", "1",
		"--brokers="+leader.addr, "--tls-ca", ca, "--user", "alice")
	if !strings.HasPrefix(out, "line-") && !strings.HasPrefix(out, "go-") {
		t.Fatalf("consume through the restarted node: %q", out)
	}
}

// sortedLines returns the lines of s, sorted.
func sortedLines(s string) []string {
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(l)
	return l
}
