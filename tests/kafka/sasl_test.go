package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
)

const (
	saslAdmin   = "admin"
	saslAdminPw = "admin-secret"
)

// newSASLCluster starts a minibroker cluster with SCRAM authentication on
// (skipped against kfake, whose SASL setup differs).
func newSASLCluster(t *testing.T, nodes int) *brokertest.Cluster {
	t.Helper()
	if target(t) == "kfake" {
		t.Skip("SASL tests run against minibroker only")
	}
	c := brokertest.NewCluster(t, nodes, brokertest.SCRAM(saslAdmin, saslAdminPw), func(_ int, cfg *broker.Config) {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
	})
	c.WaitLeader()
	return c
}

func scramMech(sha512 bool, user, pw string) sasl.Mechanism {
	a := scram.Auth{User: user, Pass: pw}
	if sha512 {
		return a.AsSha512Mechanism()
	}
	return a.AsSha256Mechanism()
}

func saslClient(t *testing.T, addrs []string, m sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.SASL(m),
		kgo.MetadataMinAge(50 * time.Millisecond), kgo.RetryTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestSASLFranz: franz-go with SCRAM-SHA-256 and SCRAM-SHA-512 against a
// three-node cluster (idempotent producers ask any node for a producer
// id: a follower forwards it to the leader, logged in with the admin
// credentials); kadm creates a user with AlterUserScramCredentials,
// describes it, the user logs in, its password is changed and the old one
// refused; wrong passwords are refused.
func TestSASLFranz(t *testing.T) {
	c := newSASLCluster(t, 3)
	ctx := ctxFor(t)
	adminCl := saslClient(t, c.KafkaAddrs(), scramMech(true, saslAdmin, saslAdminPw))
	admin := kadm.NewClient(adminCl)
	if _, err := admin.CreateTopic(ctx, 3, 1, nil, "sasl"); err != nil {
		t.Fatal(err)
	}

	// A new user through AlterUserScramCredentials (kadm salts the
	// password), both mechanisms.
	alt, err := admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "alice-pw"},
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "bob-pw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alt.Sorted() {
		if a.Err != nil {
			t.Fatalf("alter %s: %v %s", a.User, a.Err, a.ErrMessage)
		}
	}
	// ACLs are enforced with authentication on: alice and bob may write
	// the topic.
	acls, err := admin.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice", "User:bob").Topics("sasl").Operations(kadm.OpWrite))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range acls {
		if r.Err != nil {
			t.Fatalf("create ACL %+v: %v", r, r.Err)
		}
	}
	waitACLsApplied(t, ctx, adminCl, 3, 2)
	// Describe is answered by any node, from what it has applied.
	eventually(t, "describe alice, bob and admin", func() error {
		desc, err := admin.DescribeUserSCRAMs(ctx)
		if err != nil {
			return err
		}
		if d := desc["alice"]; len(d.CredInfos) != 1 || d.CredInfos[0].Mechanism != kadm.ScramSha256 || d.CredInfos[0].Iterations != 4096 {
			return fmt.Errorf("alice: %+v", d)
		}
		if d := desc["bob"]; len(d.CredInfos) != 1 || d.CredInfos[0].Mechanism != kadm.ScramSha512 || d.CredInfos[0].Iterations != 8192 {
			return fmt.Errorf("bob: %+v", d)
		}
		if d := desc[saslAdmin]; len(d.CredInfos) != 2 {
			return fmt.Errorf("admin: %+v", d)
		}
		return nil
	})
	if d, err := admin.DescribeUserSCRAMs(ctx, "nobody"); err != nil || !errors.Is(d["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe nobody: %+v %v", d, err)
	}

	// Produce with one mechanism, consume with the other (the admin has both).
	for i, who := range []struct {
		user, pw string
		sha512   bool
	}{{"alice", "alice-pw", false}, {"bob", "bob-pw", true}, {saslAdmin, saslAdminPw, false}} {
		p := saslClient(t, c.KafkaAddrs(), scramMech(who.sha512, who.user, who.pw), kgo.DefaultProduceTopic("sasl"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		val := "from-" + who.user
		if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(val), Partition: int32(i)}).FirstErr(); err != nil {
			t.Fatalf("%s produce: %v", who.user, err)
		}
		cons := saslClient(t, c.KafkaAddrs(), scramMech(!who.sha512, saslAdmin, saslAdminPw),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"sasl": {int32(i): kgo.NewOffset().AtStart()}}))
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != val {
			t.Fatalf("consumed %v, want %q", recs, val)
		}
	}

	// Wrong passwords and unknown users: refused with
	// SASL_AUTHENTICATION_FAILED.
	for _, m := range []sasl.Mechanism{
		scramMech(false, "alice", "wrong"), scramMech(true, "bob", "wrong"), scramMech(true, "alice", "alice-pw"), // alice has no SHA-512
		scramMech(true, "nobody", "x"),
	} {
		cl := saslClient(t, c.KafkaAddrs(), m, kgo.RetryTimeout(time.Second))
		err := cl.Ping(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("%s: ping %v, want SASL_AUTHENTICATION_FAILED", m.Name(), err)
		}
	}

	// alice's password changed: the old one refused, the new one served.
	if alt, err := admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "new-pw"}}); err != nil || alt["alice"].Err != nil {
		t.Fatalf("change password: %v %+v", err, alt)
	}
	// Every node logs in against what it has applied: a follower may
	// take a moment to learn the new password. Each node in turn.
	for _, addr := range c.KafkaAddrs() {
		eventually(t, "old password refused at "+addr, func() error {
			err := saslClient(t, []string{addr}, scramMech(false, "alice", "alice-pw"), kgo.RetryTimeout(time.Second)).Ping(ctx)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				return fmt.Errorf("ping: %v", err)
			}
			return nil
		})
		if err := saslClient(t, []string{addr}, scramMech(false, "alice", "new-pw")).Ping(ctx); err != nil {
			t.Fatalf("new password at %s: %v", addr, err)
		}
	}

	// A user who is not a superuser may not alter or describe credentials.
	bobAdm := kadm.NewClient(saslClient(t, c.KafkaAddrs(), scramMech(true, "bob", "bob-pw")))
	if _, err := bobAdm.DescribeUserSCRAMs(ctx); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("bob describes: %v", err)
	}
	alt, err = bobAdm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: saslAdmin, Mechanism: kadm.ScramSha256}}, nil)
	if !errors.Is(err, kerr.ClusterAuthorizationFailed) && !errors.Is(alt[saslAdmin].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("bob deletes the admin's credential: %v %+v", err, alt)
	}
	// Bad credentials are refused per user; deleting a missing one too.
	alt, err = admin.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha256}},
		[]kadm.UpsertSCRAM{{User: "carol", Mechanism: kadm.ScramSha256, Iterations: 4096, Salt: []byte("s"), SaltedPassword: []byte("short")}})
	if err != nil || !errors.Is(alt["bob"].Err, kerr.ResourceNotFound) || !errors.Is(alt["carol"].Err, kerr.UnacceptableCredential) {
		t.Fatalf("bad alterations: %v %+v", err, alt)
	}
	// Deletion: bob's only credential, then bob cannot log in.
	alt, err = admin.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha512}}, nil)
	if err != nil || alt["bob"].Err != nil {
		t.Fatalf("delete bob: %v %+v", err, alt)
	}
	for _, addr := range c.KafkaAddrs() {
		eventually(t, "deleted bob refused at "+addr, func() error {
			err := saslClient(t, []string{addr}, scramMech(true, "bob", "bob-pw"), kgo.RetryTimeout(time.Second)).Ping(ctx)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				return fmt.Errorf("ping: %v", err)
			}
			return nil
		})
	}
	// Negative control: without SASL a client gets nothing.
	plain, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaAddrs()...), kgo.RetryTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := plain.Ping(pctx); err == nil {
		t.Fatal("a client without SASL was served")
	}
}

// rawKafka writes one request (v as given) on nc and reads the answer
// into resp; it returns the read error (io.EOF once the broker closed).
func rawKafka(t *testing.T, nc net.Conn, br *bufio.Reader, corr int32, req kmsg.Request, resp kmsg.Response) error {
	t.Helper()
	body := req.AppendTo(nil)
	hdr := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(req.GetVersion()))
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(corr))
	hdr = append(hdr, 0xFF, 0xFF) // null client id
	if req.IsFlexible() {
		hdr = append(hdr, 0)
	}
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(hdr)+len(body)))
	frame = append(append(frame, hdr...), body...)
	if _, err := nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(br, size[:]); err != nil {
		return err
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(br, buf); err != nil {
		return err
	}
	buf = buf[4:] // correlation id
	if resp.IsFlexible() && resp.Key() != kmsg.ApiVersions.Int16() {
		buf = buf[1:]
	}
	resp.SetVersion(req.GetVersion())
	return resp.ReadFrom(buf)
}

// TestSASLRawRefusals: a request before authentication, a bad SCRAM
// message and a SaslHandshake v0 each close the connection (the next read
// is EOF), after a SASL_AUTHENTICATION_FAILED answer where there is one.
func TestSASLRawRefusals(t *testing.T) {
	c := newSASLCluster(t, 1)
	addr := c.KafkaAddrs()[0]
	dial := func() (net.Conn, *bufio.Reader) {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		return nc, bufio.NewReader(nc)
	}
	eof := func(what string, br *bufio.Reader) {
		t.Helper()
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("%s: next read %v, want EOF", what, err)
		}
	}

	// ApiVersions is served before authentication; Metadata closes.
	nc, br := dial()
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(0)
	if err := rawKafka(t, nc, br, 1, av, kmsg.NewPtrApiVersionsResponse()); err != nil {
		t.Fatalf("ApiVersions before auth: %v", err)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(1)
	if err := rawKafka(t, nc, br, 2, md, kmsg.NewPtrMetadataResponse()); !errors.Is(err, io.EOF) {
		t.Fatalf("Metadata before auth: %v, want EOF", err)
	}

	// PLAIN is not offered without TLS.
	nc, br = dial()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "PLAIN"
	hsr := kmsg.NewPtrSASLHandshakeResponse()
	if err := rawKafka(t, nc, br, 1, hs, hsr); err != nil {
		t.Fatal(err)
	}
	if hsr.ErrorCode != kerr.UnsupportedSaslMechanism.Code || strings.Contains(strings.Join(hsr.SupportedMechanisms, ","), "PLAIN") {
		t.Fatalf("PLAIN handshake: %+v", hsr)
	}
	eof("PLAIN without TLS", br)

	// A garbage client-first message.
	nc, br = dial()
	hs.Mechanism = "SCRAM-SHA-256"
	if err := rawKafka(t, nc, br, 1, hs, hsr); err != nil || hsr.ErrorCode != 0 {
		t.Fatalf("handshake: %v %+v", err, hsr)
	}
	sa := kmsg.NewPtrSASLAuthenticateRequest()
	sa.SetVersion(1)
	sa.SASLAuthBytes = []byte("garbage")
	sar := kmsg.NewPtrSASLAuthenticateResponse()
	if err := rawKafka(t, nc, br, 2, sa, sar); err != nil {
		t.Fatal(err)
	}
	if sar.ErrorCode != kerr.SaslAuthenticationFailed.Code || sar.ErrorMessage == nil {
		t.Fatalf("garbage SCRAM: %+v", sar)
	}
	eof("garbage SCRAM", br)

	// SaslHandshake v0 (raw framing) is refused clearly.
	nc, br = dial()
	hs0 := kmsg.NewPtrSASLHandshakeRequest()
	hs0.SetVersion(0)
	hs0.Mechanism = "SCRAM-SHA-256"
	if err := rawKafka(t, nc, br, 1, hs0, hsr); err != nil || hsr.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("handshake v0: %v %+v", err, hsr)
	}
	eof("handshake v0", br)
}

// TestSASLKcat: kcat (librdkafka) produces and consumes with
// SASL_PLAINTEXT and SCRAM-SHA-256; a wrong password fails.
func TestSASLKcat(t *testing.T) {
	kcat := needTool(t, "kcat", kcatInstall)
	c := newSASLCluster(t, 1)
	ctx := ctxFor(t)
	admin := kadm.NewClient(saslClient(t, c.KafkaAddrs(), scramMech(true, saslAdmin, saslAdminPw)))
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "kcat-sasl"); err != nil {
		t.Fatal(err)
	}
	args := func(pw string, more ...string) []string {
		return append([]string{"-b", c.KafkaAddrs()[0], "-X", "security.protocol=SASL_PLAINTEXT",
			"-X", "sasl.mechanisms=SCRAM-SHA-256", "-X", "sasl.username=" + saslAdmin, "-X", "sasl.password=" + pw}, more...)
	}
	kcatRun(t, kcat, []byte("one\ntwo\n"), args(saslAdminPw, "-P", "-t", "kcat-sasl", "-p", "0")...)
	out := kcatRun(t, kcat, nil, args(saslAdminPw, "-C", "-t", "kcat-sasl", "-p", "0", "-o", "beginning", "-c", "2", "-e", "-f", "%s\n")...)
	if got := string(out); got != "one\ntwo\n" {
		t.Fatalf("kcat consumed %q", got)
	}
	kctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(kctx, kcat, args("wrong", "-L", "-m", "5")...)
	outb, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(strings.ToLower(string(outb)), "authentication") {
		t.Fatalf("kcat with a wrong password: %v\n%s", err, outb)
	}
}
