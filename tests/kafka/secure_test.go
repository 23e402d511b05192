package kafka

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
)

// The security layers together: TLS on every link (clients, Raft and the
// broker-to-broker calls, mutual TLS with the node certificates), SCRAM
// authentication and ACLs enforced, on one cluster, with real clients.

// secureCluster is a minibroker cluster with TLS on every link and
// authentication on (auth scram: ACLs enforced), saslAdmin its superuser.
type secureCluster struct {
	*brokertest.Cluster
	dir string // the certificates: ca.crt, node-n1.crt ...
}

// newSecureCluster starts a secure cluster of nodes nodes (skipped against
// kfake) and waits until the admin can log in at every node (a follower
// learns the admin user by replication).
func newSecureCluster(t *testing.T, nodes int) *secureCluster {
	t.Helper()
	if target(t) == "kfake" {
		t.Skip("the security tests run against minibroker only")
	}
	dir := t.TempDir()
	c := brokertest.NewCluster(t, nodes, brokertest.TLS(t, dir), brokertest.SCRAM(saslAdmin, saslAdminPw),
		func(_ int, cfg *broker.Config) {
			cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
		})
	c.WaitLeader()
	s := &secureCluster{Cluster: c, dir: dir}
	ctx := ctxFor(t)
	for _, addr := range c.KafkaAddrs() {
		eventually(t, "admin logs in at "+addr, func() error {
			cl := s.client(t, []string{addr}, scramMech(true, saslAdmin, saslAdminPw), kgo.RetryTimeout(time.Second))
			defer cl.Close()
			return cl.Ping(ctx)
		})
	}
	return s
}

// tls returns a client TLS configuration that trusts the cluster's CA and
// presents no certificate: a connection has to log in with SASL (a client
// certificate would authenticate it by itself).
func (s *secureCluster) tls(t *testing.T) *tls.Config {
	return brokertest.ClientTLS(t, s.dir, "")
}

// client is a franz-go client over TLS logging in with m.
func (s *secureCluster) client(t *testing.T, addrs []string, m sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return saslClient(t, addrs, m, append([]kgo.Opt{kgo.DialTLSConfig(s.tls(t))}, opts...)...)
}

func plainMech(user, pw string) sasl.Mechanism {
	return plain.Auth{User: user, Pass: pw}.AsMechanism()
}

// TestSecureKcat: kcat (librdkafka) with security.protocol=SASL_SSL on a
// three-node TLS + SCRAM cluster produces and consumes with SCRAM-SHA-256,
// SCRAM-SHA-512 and PLAIN (offered over TLS); a wrong password makes kcat
// fail with an authentication error, with each mechanism.
func TestSecureKcat(t *testing.T) {
	kcat := needTool(t, "kcat", kcatInstall)
	c := newSecureCluster(t, 3)
	ctx := ctxFor(t)
	admin := kadm.NewClient(c.client(t, c.KafkaAddrs(), scramMech(true, saslAdmin, saslAdminPw)))
	if _, err := admin.CreateTopic(ctx, 3, 3, nil, "kcat-secure"); err != nil {
		t.Fatal(err)
	}
	args := func(mech, pw string, more ...string) []string {
		return append([]string{"-b", strings.Join(c.KafkaAddrs(), ","), "-X", "security.protocol=SASL_SSL",
			"-X", "ssl.ca.location=" + filepath.Join(c.dir, "ca.crt"),
			"-X", "sasl.mechanisms=" + mech, "-X", "sasl.username=" + saslAdmin, "-X", "sasl.password=" + pw}, more...)
	}
	for i, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"} {
		p := fmt.Sprint(i)
		in := fmt.Sprintf("%s-one\n%s-two\n", mech, mech)
		kcatRun(t, kcat, []byte(in), args(mech, saslAdminPw, "-P", "-X", "acks=-1", "-t", "kcat-secure", "-p", p)...)
		out := kcatRun(t, kcat, nil, args(mech, saslAdminPw, "-C", "-t", "kcat-secure", "-p", p, "-o", "beginning", "-c", "2", "-e", "-f", "%s\n")...)
		if string(out) != in {
			t.Fatalf("kcat %s consumed %q, want %q", mech, out, in)
		}
	}
	// The refusals, side by side (kcat gives up when its metadata timeout
	// of -m seconds ends).
	type refusal struct {
		out      []byte
		err      error
		timedOut bool
	}
	mechs := []string{"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"}
	res := make([]refusal, len(mechs))
	var wg sync.WaitGroup
	for i, mech := range mechs {
		wg.Go(func() {
			kctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			res[i].out, res[i].err = exec.CommandContext(kctx, kcat, args(mech, "wrong", "-L", "-m", "2")...).CombinedOutput()
			res[i].timedOut = kctx.Err() != nil
		})
	}
	wg.Wait()
	for i, r := range res {
		if r.err == nil || r.timedOut || !strings.Contains(string(r.out), "SASL authentication error") {
			t.Fatalf("kcat %s with a wrong password: %v\n%s", mechs[i], r.err, r.out)
		}
	}
}

// TestSecurePlainOverTLSRawRefusal: on a TLS connection PLAIN is offered;
// the right password is served (Metadata answered: the control), a wrong
// one answered SASL_AUTHENTICATION_FAILED and the connection closed.
func TestSecurePlainOverTLSRawRefusal(t *testing.T) {
	c := newSecureCluster(t, 1)
	login := func(pw string) (*kmsg.SASLAuthenticateResponse, *tls.Conn, *bufio.Reader) {
		nc, err := tls.Dial("tcp", c.KafkaAddrs()[0], c.tls(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(nc)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.SetVersion(1)
		hs.Mechanism = "PLAIN"
		hsr := kmsg.NewPtrSASLHandshakeResponse()
		if err := rawKafka(t, nc, br, 1, hs, hsr); err != nil || hsr.ErrorCode != 0 {
			t.Fatalf("PLAIN handshake over TLS: %v %+v", err, hsr)
		}
		sa := kmsg.NewPtrSASLAuthenticateRequest()
		sa.SetVersion(1)
		sa.SASLAuthBytes = []byte("\x00" + saslAdmin + "\x00" + pw)
		sar := kmsg.NewPtrSASLAuthenticateResponse()
		if err := rawKafka(t, nc, br, 2, sa, sar); err != nil {
			t.Fatal(err)
		}
		return sar, nc, br
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(1)
	sar, nc, br := login(saslAdminPw)
	if sar.ErrorCode != 0 {
		t.Fatalf("PLAIN with the right password: %+v", sar)
	}
	if err := rawKafka(t, nc, br, 3, md, kmsg.NewPtrMetadataResponse()); err != nil {
		t.Fatalf("Metadata after a PLAIN login: %v", err)
	}
	sar, nc, br = login("wrong")
	if sar.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("PLAIN with a wrong password: %+v", sar)
	}
	if err := rawKafka(t, nc, br, 3, md, kmsg.NewPtrMetadataResponse()); !errors.Is(err, io.EOF) {
		t.Fatalf("after a failed PLAIN login: %v, want EOF (connection closed)", err)
	}
}

// TestSecurePlainRefusedWithoutTLS: with authentication on and a plaintext
// Kafka listener, PLAIN is not offered: franz-go and kcat with PLAIN are
// refused; SCRAM on the same listener is served (the control).
func TestSecurePlainRefusedWithoutTLS(t *testing.T) {
	c := newSASLCluster(t, 1)
	ctx := ctxFor(t)
	if err := saslClient(t, c.KafkaAddrs(), scramMech(false, saslAdmin, saslAdminPw)).Ping(ctx); err != nil {
		t.Fatalf("SCRAM without TLS (the control): %v", err)
	}
	err := saslClient(t, c.KafkaAddrs(), plainMech(saslAdmin, saslAdminPw), kgo.RetryTimeout(time.Second)).Ping(ctx)
	if !errors.Is(err, kerr.UnsupportedSaslMechanism) {
		t.Fatalf("franz-go PLAIN without TLS: %v, want UNSUPPORTED_SASL_MECHANISM", err)
	}
	kcat := needTool(t, "kcat", kcatInstall)
	kctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(kctx, kcat, "-b", c.KafkaAddrs()[0], "-X", "security.protocol=SASL_PLAINTEXT",
		"-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username="+saslAdmin, "-X", "sasl.password="+saslAdminPw,
		"-L", "-m", "2").CombinedOutput()
	offered := regexp.MustCompile(`supported mechanisms: (\S+)`).FindSubmatch(out)
	if err == nil || kctx.Err() != nil || !strings.Contains(string(out), "Unsupported SASL mechanism") ||
		offered == nil || strings.Contains(string(offered[1]), "PLAIN") {
		t.Fatalf("kcat PLAIN without TLS: %v\n%s", err, out)
	}
}

// TestSecureFranzThroughEveryNode: franz-go over TLS with SCRAM-SHA-256,
// SCRAM-SHA-512 and PLAIN, each client seeded with one node only, on a
// three-node cluster: every node answers InitProducerId (a follower
// forwards it to the leader over mutual TLS, with its node certificate),
// idempotent produce and group consume work from every seed, and the
// group's commits are there.
func TestSecureFranzThroughEveryNode(t *testing.T) {
	c := newSecureCluster(t, 3)
	ctx := ctxFor(t)
	adminCl := c.client(t, c.KafkaAddrs(), scramMech(false, saslAdmin, saslAdminPw))
	admin := kadm.NewClient(adminCl)
	if _, err := admin.CreateTopic(ctx, 3, 3, nil, "secure"); err != nil {
		t.Fatal(err)
	}

	// InitProducerId asked of each node in turn: distinct producer ids.
	md := waitBrokers(t, ctx, adminCl, 3)
	ids := map[int64]bool{}
	for _, b := range md.Brokers {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.ProducerID, req.ProducerEpoch = -1, -1
		resp, err := adminCl.Broker(int(b.NodeID)).Request(ctx, req)
		if err != nil {
			t.Fatalf("InitProducerId at node %d: %v", b.NodeID, err)
		}
		r := resp.(*kmsg.InitProducerIDResponse)
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil || r.ProducerID < 0 || ids[r.ProducerID] {
			t.Fatalf("InitProducerId at node %d (leader %d): %v %+v", b.NodeID, md.ControllerID, err, r)
		}
		ids[r.ProducerID] = true
	}

	mechs := []struct {
		name string
		m    sasl.Mechanism
	}{
		{"scram-sha-256", scramMech(false, saslAdmin, saslAdminPw)},
		{"scram-sha-512", scramMech(true, saslAdmin, saslAdminPw)},
		{"plain", plainMech(saslAdmin, saslAdminPw)},
	}
	const perClient = 10
	want := map[string]bool{}
	for i, addr := range c.KafkaAddrs() {
		for _, m := range mechs {
			p := c.client(t, []string{addr}, m.m, kgo.DefaultProduceTopic("secure"), kgo.RequiredAcks(kgo.AllISRAcks()))
			for j := range perClient {
				v := fmt.Sprintf("n%d-%s-%d", i+1, m.name, j)
				want[v] = true
				if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
					t.Fatalf("produce %s through %s: %v", m.name, addr, err)
				}
			}
			p.Close()
		}
	}
	// One group consumer per node, each with another mechanism, each
	// reading everything from the start under its own group and committing.
	for i, addr := range c.KafkaAddrs() {
		m := mechs[i%len(mechs)]
		group := fmt.Sprintf("secure-g%d", i+1)
		cons := c.client(t, []string{addr}, m.m, kgo.ConsumerGroup(group), kgo.ConsumeTopics("secure"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		seen := map[string]bool{}
		for len(seen) < len(want) {
			fs := cons.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("consume %s through %s: %v", m.name, addr, err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if !want[string(r.Value)] {
					t.Fatalf("consumed %q, never produced", r.Value)
				}
				seen[string(r.Value)] = true
			})
		}
		if err := cons.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit %s through %s: %v", group, addr, err)
		}
		cons.Close()
		offs, err := admin.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		var committed int64
		offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
		if committed != int64(len(want)) {
			t.Fatalf("group %s committed %d records in all, want %d", group, committed, len(want))
		}
	}
}
