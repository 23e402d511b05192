package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// TestSecureACLsRealUsers: on a three-node TLS + SCRAM cluster the admin
// creates users alice and bob (AlterUserScramCredentials) and grants with
// CreateACLs: alice Write on topic t, bob Read on t and Read on group g.
// alice produces but may not read t (TOPIC_AUTHORIZATION_FAILED) and sees
// only t in Metadata; bob consumes t in group g and commits, may not
// produce (TOPIC_AUTHORIZATION_FAILED) nor join g2
// (GROUP_AUTHORIZATION_FAILED); once alice's ACL is deleted her produce is
// refused. Each refusal has its control: the same request by the user who
// holds the permission is served.
func TestSecureACLsRealUsers(t *testing.T) {
	c := newSecureCluster(t, 3)
	ctx := ctxFor(t)
	adminCl := c.client(t, c.KafkaAddrs(), scramMech(true, saslAdmin, saslAdminPw))
	admin := kadm.NewClient(adminCl)
	for _, topic := range []string{"t", "other"} {
		if _, err := admin.CreateTopic(ctx, 2, 3, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	alt, err := admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "alice-pw"},
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bob-pw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alt.Sorted() {
		if a.Err != nil {
			t.Fatalf("create user %s: %v", a.User, a.Err)
		}
	}
	for _, b := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:alice").Topics("t").Operations(kadm.OpWrite),
		kadm.NewACLs().Allow("User:bob").Topics("t").Groups("g").Operations(kadm.OpRead),
	} {
		res, err := admin.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("create ACL %+v: %v", r, r.Err)
			}
		}
	}
	waitACLsApplied(t, ctx, adminCl, 3, 3)
	alice := scramMech(false, "alice", "alice-pw")
	bob := scramMech(true, "bob", "bob-pw")
	// Each node logs in and authorizes against what it has applied.
	for _, addr := range c.KafkaAddrs() {
		eventually(t, "alice and bob log in at "+addr, func() error {
			for _, m := range []struct{ user, pw string }{{"alice", "alice-pw"}, {"bob", "bob-pw"}} {
				cl := c.client(t, []string{addr}, scramMech(m.user == "bob", m.user, m.pw), kgo.RetryTimeout(time.Second))
				err := cl.Ping(ctx)
				cl.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", m.user, err)
				}
			}
			return nil
		})
	}

	// alice writes t.
	const n = 6
	ap := c.client(t, c.KafkaAddrs(), alice, kgo.DefaultProduceTopic("t"), kgo.RecordRetries(1))
	for i := range n {
		if err := ap.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "a%d", i)}).FirstErr(); err != nil {
			t.Fatalf("alice produces to t: %v", err)
		}
	}
	// alice may not write other (the ACL is on t only).
	if err := ap.ProduceSync(ctx, &kgo.Record{Topic: "other", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produces to other: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	// alice may not read t; the admin reads what she wrote (the control).
	if recs, err := readPartitions(ctx, t, c, alice, "t", n); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice reads t: %d records, %v; want TOPIC_AUTHORIZATION_FAILED", len(recs), err)
	}
	if recs, err := readPartitions(ctx, t, c, scramMech(false, saslAdmin, saslAdminPw), "t", n); err != nil || len(recs) != n {
		t.Fatalf("admin reads t: %d records, %v; want %d", len(recs), err, n)
	}

	// Metadata for all topics: alice sees t only, the admin both.
	for _, who := range []struct {
		name string
		cl   *kgo.Client
		want []string
	}{{"alice", ap, []string{"t"}}, {"admin", adminCl, []string{"other", "t"}}} {
		md, err := kadm.NewClient(who.cl).Metadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := md.Topics.Names(); !slices.Equal(got, who.want) {
			t.Fatalf("%s's metadata lists %v, want %v", who.name, got, who.want)
		}
	}

	// bob consumes t in group g and commits.
	bc := c.client(t, c.KafkaAddrs(), bob, kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	for got := 0; got < n; {
		fs := bc.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("bob consumes t in g: %v", err)
		}
		got += fs.NumRecords()
	}
	if err := bc.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("bob commits in g: %v", err)
	}
	offs, err := admin.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed != n {
		t.Fatalf("g committed %d records, want %d", committed, n)
	}
	bc.Close()

	// bob may not write t: the Produce itself is refused; an idempotent
	// producer is stopped a step before, at InitProducerId (which needs
	// Write on some topic, as in Kafka).
	bp := c.client(t, c.KafkaAddrs(), bob, kgo.DefaultProduceTopic("t"), kgo.RecordRetries(1), kgo.DisableIdempotentWrite())
	if err := bp.ProduceSync(ctx, &kgo.Record{Value: []byte("b")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob produces to t: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	bip := c.client(t, c.KafkaAddrs(), bob, kgo.DefaultProduceTopic("t"), kgo.RecordRetries(1))
	if err := bip.ProduceSync(ctx, &kgo.Record{Value: []byte("b")}).FirstErr(); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("bob produces to t idempotently: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
	}

	// bob may not join g2; g is the control (JoinGroup v4+ first asks for
	// a member id: MEMBER_ID_REQUIRED means it got past authorization).
	for _, g := range []struct {
		group string
		want  error
	}{{"g", kerr.MemberIDRequired}, {"g2", kerr.GroupAuthorizationFailed}} {
		if err := joinGroup(ctx, bp, g.group); !errors.Is(err, g.want) {
			t.Fatalf("bob joins %s: %v, want %v", g.group, err, g.want)
		}
	}
	gc := c.client(t, c.KafkaAddrs(), bob, kgo.ConsumerGroup("g2"), kgo.ConsumeTopics("t"))
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := gc.PollFetches(pctx).Err0(); !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Fatalf("bob's group consumer in g2: %v, want GROUP_AUTHORIZATION_FAILED", err)
	}

	// Revoking alice's Write: her produce is refused once the deletion
	// has reached the node that leads the partition.
	del, err := admin.DeleteACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("t").Operations(kadm.OpWrite))
	if err != nil {
		t.Fatal(err)
	}
	if len(del) != 1 || del[0].Err != nil || len(del[0].Deleted) != 1 {
		t.Fatalf("delete alice's ACL: %+v", del)
	}
	eventually(t, "alice's produce refused", func() error {
		err := ap.ProduceSync(ctx, &kgo.Record{Value: []byte("late")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			return fmt.Errorf("produce: %v", err)
		}
		return nil
	})
}

// readPartitions reads topic from the start of each partition as the user
// of m until it has want records or a fetch fails (a failure's error is
// returned with the records read so far).
func readPartitions(ctx context.Context, t *testing.T, c *secureCluster, m sasl.Mechanism, topic string, want int) ([]*kgo.Record, error) {
	cl := c.client(t, c.KafkaAddrs(), m, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RetryTimeout(5*time.Second))
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return out, err
		}
		out = append(out, fs.Records()...)
	}
	return out, nil
}

// joinGroup sends one JoinGroup (v5, a consumer with no member id yet) for
// group and returns the answer's error: MEMBER_ID_REQUIRED when the
// coordinator took it.
func joinGroup(ctx context.Context, cl *kgo.Client, group string) error {
	req := kmsg.NewPtrJoinGroupRequest()
	req.SetVersion(5)
	req.Group, req.ProtocolType = group, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 6000, 6000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", (&kmsg.ConsumerMemberMetadata{Topics: []string{"t"}}).AppendTo(nil)
	req.Protocols = append(req.Protocols, p)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

// waitACLsApplied waits until every node the metadata names describes
// exactly want ACLs (DescribeAcls reads the node's applied state): then a
// grant or revocation holds whichever node a client asks (InitProducerId
// and Metadata go to any node). adminCl logs in as a superuser.
func waitACLsApplied(t *testing.T, ctx context.Context, adminCl *kgo.Client, nodes, want int) {
	t.Helper()
	for _, b := range waitBrokers(t, ctx, adminCl, nodes).Brokers {
		eventually(t, fmt.Sprintf("node %d describes %d ACLs", b.NodeID, want), func() error {
			req := kmsg.NewPtrDescribeACLsRequest()
			req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
			req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			resp, err := req.RequestWith(ctx, adminCl.Broker(int(b.NodeID)))
			if err != nil {
				return err
			}
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				return err
			}
			n := 0
			for _, r := range resp.Resources {
				n += len(r.ACLs)
			}
			if n != want {
				return fmt.Errorf("%d ACLs", n)
			}
			return nil
		})
	}
}
