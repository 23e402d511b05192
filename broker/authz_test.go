package broker

import (
	"bufio"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/internal/wire"
)

// Authorization of the native protocol. Nothing authenticates on this
// branch yet: a test serves a connection as a given principal (serveAs)
// and switches enforcement on by hand; once authentication lands,
// end-to-end tests use real users.

// startEnforcing starts a single-node broker that enforces ACLs.
func startEnforcing(t *testing.T) *Broker {
	t.Helper()
	b, err := Start(Config{DataDir: t.TempDir(), DisableKafka: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.authz.enforce.Store(true)
	return b
}

// serveAs serves nc as a connection authenticated as p, registered as the
// accept loop registers connections (so Close ends it).
func (b *Broker) serveAs(nc net.Conn, p auth.Principal) {
	c := newConn(b, nc)
	c.principal = p
	b.mu.Lock()
	if b.ctx.Err() != nil || b.isDraining() {
		b.mu.Unlock()
		nc.Close()
		return
	}
	b.conns[c] = struct{}{}
	b.cwg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.cwg.Done()
		c.serve()
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
	}()
}

// clientAs returns a Go client whose every connection is served as p.
func clientAs(t *testing.T, b *Broker, p auth.Principal) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{
		Brokers: []string{b.Addr()},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			cli, srv := net.Pipe()
			b.serveAs(srv, p)
			return cli, nil
		},
		RequestTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func userACL(user string, res client.ACLResource, name string, op client.ACLOperation) client.ACL {
	return client.ACL{Principal: "User:" + user, Resource: res, Name: name, Operation: op}
}

// pipeConn is a raw native connection served as a principal.
type pipeConn struct {
	t    *testing.T
	nc   net.Conn
	br   *bufio.Reader
	corr uint32
}

func rawAs(t *testing.T, b *Broker, p auth.Principal) *pipeConn {
	cli, srv := net.Pipe()
	b.serveAs(srv, p)
	t.Cleanup(func() { cli.Close() })
	cli.SetDeadline(time.Now().Add(30 * time.Second))
	return &pipeConn{t: t, nc: cli, br: bufio.NewReader(cli)}
}

// call sends req and decodes the answer into resp; it returns the
// answer's error (wire.ResponseError).
func (c *pipeConn) call(key wire.APIKey, req any, resp interface{ Err() error }) error {
	c.t.Helper()
	c.corr++
	frame, err := wire.EncodeRequest(nil, wire.RequestHeader{APIKey: key, CorrelationID: c.corr}, req)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(frame); err != nil {
		c.t.Fatal(err)
	}
	payload, err := wire.ReadFrame(c.br, wire.DefaultMaxFrame, nil)
	if err != nil {
		c.t.Fatalf("%v: %v", key, err)
	}
	h, body, err := wire.DecodeResponseHeader(payload)
	if err != nil || h.CorrelationID != c.corr {
		c.t.Fatalf("%v: header %+v, %v", key, h, err)
	}
	if err := wire.DecodeBody(body, resp); err != nil {
		c.t.Fatalf("%v: %v", key, err)
	}
	return resp.Err()
}

func (c *pipeConn) produce(topic string) error {
	return c.call(wire.Produce, &wire.ProduceRequest{Topic: topic, Acks: wire.AcksAll,
		Records: []wire.Record{{Value: []byte("v")}}}, new(wire.ProduceResponse))
}

func (c *pipeConn) fetch(topic string) (*wire.FetchResponse, error) {
	resp := new(wire.FetchResponse)
	err := c.call(wire.Fetch, &wire.FetchRequest{Topic: topic, MaxBytes: 1 << 20}, resp)
	return resp, err
}

func (c *pipeConn) commit(group, topic string) error {
	return c.call(wire.CommitOffsets, &wire.CommitOffsetsRequest{Group: group, Generation: -1,
		Offsets: []wire.OffsetCommit{{Topic: topic, Offset: 0}}}, new(wire.CommitOffsetsResponse))
}

func TestNativeProduceFetchNeedWriteRead(t *testing.T) {
	b := startEnforcing(t)
	ctx := testCtx(t)
	root := clientAs(t, b, auth.Principal{User: "root", Superuser: true})
	if err := root.CreateTopic(ctx, "orders", client.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	alice := rawAs(t, b, auth.Principal{User: "alice"})
	if err := alice.produce("orders"); !errors.Is(err, client.ErrTopicAuthorization) {
		t.Fatalf("produce without Write: %v, want ErrTopicAuthorization", err)
	}
	if _, hw, _ := b.store.FSM().Offsets("orders", 0); hw != 0 {
		t.Fatal("a refused produce was stored")
	}
	if _, err := alice.fetch("orders"); !errors.Is(err, client.ErrTopicAuthorization) {
		t.Fatalf("fetch without Read: %v, want ErrTopicAuthorization", err)
	}
	if err := root.CreateACLs(ctx, userACL("alice", client.ACLTopic, "orders", client.ACLWrite),
		userACL("alice", client.ACLTopic, "orders", client.ACLRead)); err != nil {
		t.Fatal(err)
	}
	if err := alice.produce("orders"); err != nil {
		t.Fatalf("produce with Write: %v", err)
	}
	if resp, err := alice.fetch("orders"); err != nil || len(resp.Records) != 1 {
		t.Fatalf("fetch with Read: %+v, %v", resp, err)
	}
	// A deny wins over the allow.
	if err := root.CreateACLs(ctx, client.ACL{Principal: "User:alice", Resource: client.ACLTopic, Name: "ord",
		Prefixed: true, Operation: client.ACLWrite, Deny: true}); err != nil {
		t.Fatal(err)
	}
	if err := alice.produce("orders"); !errors.Is(err, client.ErrTopicAuthorization) {
		t.Fatalf("produce under a prefixed deny: %v", err)
	}
	// InitProducer: Write on some topic is enough; bob has none.
	if err := rawAs(t, b, auth.Principal{User: "bob"}).call(wire.InitProducer, &wire.InitProducerRequest{},
		new(wire.InitProducerResponse)); !errors.Is(err, client.ErrClusterAuthorization) {
		t.Fatalf("bob's InitProducer: %v", err)
	}
}

func TestNativeMetadataAndGroupsFiltered(t *testing.T) {
	b := startEnforcing(t)
	ctx := testCtx(t)
	root := clientAs(t, b, auth.Principal{User: "root", Superuser: true})
	for _, n := range []string{"visible", "hidden"} {
		if err := root.CreateTopic(ctx, n, client.TopicConfig{Partitions: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := root.CreateACLs(ctx, userACL("alice", client.ACLTopic, "visible", client.ACLRead)); err != nil {
		t.Fatal(err)
	}
	alice := rawAs(t, b, auth.Principal{User: "alice"})
	var md wire.MetadataResponse
	if err := alice.call(wire.Metadata, &wire.MetadataRequest{}, &md); err != nil {
		t.Fatal(err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Name != "visible" {
		t.Fatalf("alice sees %+v", md.Topics)
	}
	md = wire.MetadataResponse{}
	if err := alice.call(wire.Metadata, &wire.MetadataRequest{Topics: []string{"hidden"}}, &md); err != nil {
		t.Fatal(err)
	}
	if len(md.Topics) != 1 || md.Topics[0].ErrorCode != wire.CodeTopicAuthorization || len(md.Topics[0].Partitions) != 0 {
		t.Fatalf("named hidden topic: %+v", md.Topics)
	}

	// Group operations need the group's Read; a commit also the topic's.
	if err := alice.commit("g", "visible"); !errors.Is(err, client.ErrGroupAuthorization) {
		t.Fatalf("commit without group Read: %v", err)
	}
	if err := root.CreateACLs(ctx, userACL("alice", client.ACLGroup, "g", client.ACLRead)); err != nil {
		t.Fatal(err)
	}
	if err := alice.commit("g", "hidden"); !errors.Is(err, client.ErrTopicAuthorization) {
		t.Fatalf("commit without topic Read: %v", err)
	}
	if err := alice.commit("g", "visible"); err != nil {
		t.Fatalf("commit with group and topic Read: %v", err)
	}
	if err := rawAs(t, b, auth.Principal{User: "root", Superuser: true}).commit("other", "hidden"); err != nil {
		t.Fatal(err)
	}
	// Alice commits to g in "visible"; root to g in "hidden": alice's
	// FetchOffsets of everything shows only "visible".
	if err := rawAs(t, b, auth.Principal{User: "root", Superuser: true}).commit("g", "hidden"); err != nil {
		t.Fatal(err)
	}
	var fo wire.FetchOffsetsResponse
	if err := alice.call(wire.FetchOffsets, &wire.FetchOffsetsRequest{Group: "g"}, &fo); err != nil ||
		len(fo.Offsets) != 1 || fo.Offsets[0].Topic != "visible" {
		t.Fatalf("alice's offsets of g: %+v, %v", fo.Offsets, err)
	}
	var lg wire.ListGroupsResponse
	if err := alice.call(wire.ListGroups, &wire.ListGroupsRequest{}, &lg); err != nil || len(lg.Groups) != 1 || lg.Groups[0].Group != "g" {
		t.Fatalf("alice lists %+v, %v", lg.Groups, err)
	}
	if err := alice.call(wire.DeleteGroup, &wire.DeleteGroupRequest{Group: "g"}, new(wire.DeleteGroupResponse)); !errors.Is(err, client.ErrGroupAuthorization) {
		t.Fatalf("delete group without Delete: %v", err)
	}
	if err := alice.call(wire.JoinGroup, &wire.JoinGroupRequest{Group: "h", Topics: []string{"visible"}},
		new(wire.JoinGroupResponse)); !errors.Is(err, client.ErrGroupAuthorization) {
		t.Fatalf("join without group Read: %v", err)
	}
}

func TestNativeClusterOpsNeedAlter(t *testing.T) {
	b := startEnforcing(t)
	ctx := testCtx(t)
	alice := clientAs(t, b, auth.Principal{User: "alice"})
	acl := userACL("alice", client.ACLTopic, "t", client.ACLRead)
	if err := alice.CreateACLs(ctx, acl); !errors.Is(err, client.ErrClusterAuthorization) {
		t.Fatalf("create ACLs without cluster Alter: %v", err)
	}
	if _, err := alice.ListACLs(ctx, client.ACLFilter{}); !errors.Is(err, client.ErrClusterAuthorization) {
		t.Fatalf("list ACLs without cluster Describe: %v", err)
	}
	if err := alice.RemoveNode(ctx, "n9"); !errors.Is(err, client.ErrClusterAuthorization) {
		t.Fatalf("remove node without cluster Alter: %v", err)
	}
	if err := alice.CreateTopic(ctx, "t", client.TopicConfig{Partitions: 1}); !errors.Is(err, client.ErrTopicAuthorization) {
		t.Fatalf("create topic without Create: %v", err)
	}
	if err := b.store.CreateACLs(ctx, []auth.ACL{{Principal: "User:alice", Host: "*",
		Resource: auth.ResourceCluster, Pattern: auth.PatternLiteral, Name: auth.ClusterName, Operation: auth.OpAlter,
		Permission: auth.PermissionAllow}}); err != nil {
		t.Fatal(err)
	}
	if err := alice.CreateACLs(ctx, acl); err != nil {
		t.Fatalf("create ACLs with cluster Alter: %v", err)
	}
	got, err := alice.ListACLs(ctx, client.ACLFilter{Resource: client.ACLTopic})
	if err != nil || len(got) != 1 || got[0] != acl {
		t.Fatalf("list: %+v, %v", got, err)
	}
	deleted, err := alice.DeleteACLs(ctx, acl, acl)
	if err != nil || len(deleted) != 1 || deleted[0] != acl {
		t.Fatalf("delete: %+v, %v", deleted, err)
	}
	if err := alice.CreateACLs(ctx, client.ACL{Principal: "alice", Resource: client.ACLTopic, Name: "t", Operation: client.ACLRead}); !errors.Is(err, client.ErrMalformed) {
		t.Fatalf("invalid ACL: %v, want ErrMalformed", err)
	}
}
