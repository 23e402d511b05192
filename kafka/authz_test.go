package kafka

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/replication"
)

// Authorization tests. Nothing authenticates on this branch yet, so a
// connection's principal is set by the test (serveAs) and enforcement is
// switched on by hand; after the merge with authentication, end-to-end
// tests use real users.

// authzServer is a single-node Store and a Kafka Server on it that
// enforces ACLs.
type authzServer struct {
	t     *testing.T
	store *replication.Store
	srv   *Server
	addr  string
}

func newAuthzServer(t *testing.T) *authzServer {
	t.Helper()
	st, err := replication.Open(replication.Config{Node: replication.NodeConfig{
		ID: "n1", RaftAddr: "127.0.0.1:0", DataDir: t.TempDir(), Bootstrap: true}.FastTimeouts()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	deadline := time.Now().Add(30 * time.Second)
	for !st.Node().IsReady() {
		if time.Now().After(deadline) {
			t.Fatal("no ready leader")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not synchronizing
	}
	s, err := New(Config{Store: st, NodeID: "n1", AutoCreateTopics: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	s.authz.enforce.Store(true)
	return &authzServer{t: t, store: st, srv: s, addr: ln.Addr().String()}
}

// serveAs serves nc as a connection authenticated as p, as Serve does for
// accepted connections.
func (s *Server) serveAs(nc net.Conn, p auth.Principal) {
	c := newConn(s, nc)
	c.principal = p
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// client returns a franz-go client whose every connection is served as p.
func (a *authzServer) client(p auth.Principal, opts ...kgo.Opt) *kgo.Client {
	a.t.Helper()
	dial := func(ctx context.Context, network, host string) (net.Conn, error) {
		cli, srv := net.Pipe()
		a.srv.serveAs(srv, p)
		return cli, nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(a.addr), kgo.Dialer(dial),
		kgo.RequestRetries(0), kgo.RetryTimeout(time.Second)}, opts...)...)
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(cl.Close)
	return cl
}

// grant adds ACLs through the Store (the helper later tests reuse).
func grant(t *testing.T, st *replication.Store, acls ...auth.ACL) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.CreateACLs(ctx, acls); err != nil {
		t.Fatalf("grant %+v: %v", acls, err)
	}
}

func allowTopic(user string, name string, ops ...auth.Operation) []auth.ACL {
	return allowOn(user, auth.ResourceTopic, name, ops...)
}

func allowOn(user string, res auth.ResourceType, name string, ops ...auth.Operation) []auth.ACL {
	var out []auth.ACL
	for _, op := range ops {
		out = append(out, auth.ACL{Principal: "User:" + user, Host: "*", Resource: res, Pattern: auth.PatternLiteral,
			Name: name, Operation: op, Permission: auth.PermissionAllow})
	}
	return out
}

func (a *authzServer) createTopic(name string) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.store.CreateTopic(ctx, name, 1, replication.TopicConfig{}); err != nil {
		a.t.Fatal(err)
	}
}

func request[R kmsg.Response](t *testing.T, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req) // straight to the broker: codes unmapped
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(R)
}

var alice = auth.Principal{User: "alice"}

func produceReq(topic string) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = testBatch("v")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func TestKafkaProduceNeedsWrite(t *testing.T) {
	a := newAuthzServer(t)
	a.createTopic("orders")
	cl := a.client(alice)
	resp := request[*kmsg.ProduceResponse](t, cl, produceReq("orders"))
	if got := resp.Topics[0].Partitions[0].ErrorCode; got != codeTopicAuthorizationFailed {
		t.Fatalf("produce without Write: code %d, want %d", got, codeTopicAuthorizationFailed)
	}
	if _, hw, _ := a.store.FSM().Offsets("orders", 0); hw != 0 {
		t.Fatal("a refused produce was stored")
	}
	grant(t, a.store, allowTopic("alice", "orders", auth.OpWrite)...)
	resp = request[*kmsg.ProduceResponse](t, cl, produceReq("orders"))
	if got := resp.Topics[0].Partitions[0].ErrorCode; got != codeNone {
		t.Fatalf("produce with Write: code %d", got)
	}
}

func TestKafkaFetchAndListOffsetsNeedReadAndDescribe(t *testing.T) {
	a := newAuthzServer(t)
	a.createTopic("orders")
	cl := a.client(alice)
	fetch := func() int16 {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 10, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "orders"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return request[*kmsg.FetchResponse](t, cl, req).Topics[0].Partitions[0].ErrorCode
	}
	listOffsets := func() int16 {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "orders"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return request[*kmsg.ListOffsetsResponse](t, cl, req).Topics[0].Partitions[0].ErrorCode
	}
	if got := fetch(); got != codeTopicAuthorizationFailed {
		t.Fatalf("fetch without Read: %d", got)
	}
	if got := listOffsets(); got != codeTopicAuthorizationFailed {
		t.Fatalf("list offsets without Describe: %d", got)
	}
	grant(t, a.store, allowTopic("alice", "orders", auth.OpRead)...)
	if got := fetch(); got != codeNone {
		t.Fatalf("fetch with Read: %d", got)
	}
	if got := listOffsets(); got != codeNone {
		t.Fatalf("list offsets with Read (implies Describe): %d", got)
	}
}

func TestKafkaMetadataShowsOnlyDescribable(t *testing.T) {
	a := newAuthzServer(t)
	a.createTopic("visible")
	a.createTopic("hidden")
	grant(t, a.store, allowTopic("alice", "visible", auth.OpDescribe)...)
	cl := a.client(alice)
	all := request[*kmsg.MetadataResponse](t, cl, kmsg.NewPtrMetadataRequest())
	if len(all.Topics) != 1 || *all.Topics[0].Topic != "visible" {
		t.Fatalf("all topics: %+v", all.Topics)
	}
	named := kmsg.NewPtrMetadataRequest()
	for _, n := range []string{"visible", "hidden", "nope"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(n)
		named.Topics = append(named.Topics, rt)
	}
	named.AllowAutoTopicCreation = true
	resp := request[*kmsg.MetadataResponse](t, cl, named)
	codes := map[string]int16{}
	for _, mt := range resp.Topics {
		codes[*mt.Topic] = mt.ErrorCode
		if *mt.Topic == "hidden" && len(mt.Partitions) != 0 {
			t.Fatal("partitions of a hidden topic shown")
		}
	}
	if codes["visible"] != codeNone || codes["hidden"] != codeTopicAuthorizationFailed || codes["nope"] != codeTopicAuthorizationFailed {
		t.Fatalf("named codes %v", codes)
	}
	if _, ok := a.store.FSM().Topic("nope"); ok {
		t.Fatal("auto-created a topic without Create")
	}
	// With Create (and Describe) the topic is auto-created.
	grant(t, a.store, allowTopic("alice", "nope", auth.OpCreate, auth.OpDescribe)...)
	resp = request[*kmsg.MetadataResponse](t, cl, named)
	if _, ok := a.store.FSM().Topic("nope"); !ok {
		t.Fatalf("not auto-created with Create: %+v", resp.Topics)
	}
}

func TestKafkaGroupsNeedGroupAndTopicRead(t *testing.T) {
	a := newAuthzServer(t)
	a.createTopic("orders")
	cl := a.client(alice)
	commit := func() int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = "g", -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "orders"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return request[*kmsg.OffsetCommitResponse](t, cl, req).Topics[0].Partitions[0].ErrorCode
	}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "g", "consumer", 10000, 10000
	join.Protocols = append(join.Protocols, kmsg.JoinGroupRequestProtocol{Name: "range"})
	if got := request[*kmsg.JoinGroupResponse](t, cl, join).ErrorCode; got != codeGroupAuthorizationFailed {
		t.Fatalf("join without group Read: %d", got)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group = "g"
	if got := request[*kmsg.HeartbeatResponse](t, cl, hb).ErrorCode; got != codeGroupAuthorizationFailed {
		t.Fatalf("heartbeat without group Read: %d", got)
	}
	if got := commit(); got != codeGroupAuthorizationFailed {
		t.Fatalf("commit without group Read: %d", got)
	}
	fetchOff := kmsg.NewPtrOffsetFetchRequest()
	fetchOff.Group = "g"
	if got := request[*kmsg.OffsetFetchResponse](t, cl, fetchOff).ErrorCode; got != codeGroupAuthorizationFailed {
		t.Fatalf("offset fetch without group Describe: %d", got)
	}
	grant(t, a.store, allowOn("alice", auth.ResourceGroup, "g", auth.OpRead)...)
	if got := commit(); got != codeTopicAuthorizationFailed {
		t.Fatalf("commit without topic Read: %d", got)
	}
	grant(t, a.store, allowTopic("alice", "orders", auth.OpRead)...)
	if got := commit(); got != codeNone {
		t.Fatalf("commit with group and topic Read: %d", got)
	}
	if c, ok := a.store.FSM().CommittedOffset("g", "orders", 0); !ok || c.Offset != 0 {
		t.Fatalf("commit not stored: %+v %v", c, ok)
	}

	// ListGroups shows only the groups the principal may Describe.
	bob := a.client(auth.Principal{User: "bob"})
	if got := request[*kmsg.ListGroupsResponse](t, bob, kmsg.NewPtrListGroupsRequest()).Groups; len(got) != 0 {
		t.Fatalf("bob lists %+v", got)
	}
	if got := request[*kmsg.ListGroupsResponse](t, cl, kmsg.NewPtrListGroupsRequest()).Groups; len(got) != 1 || got[0].Group != "g" {
		t.Fatalf("alice lists %+v", got)
	}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g"}
	if got := request[*kmsg.DeleteGroupsResponse](t, cl, del).Groups[0].ErrorCode; got != codeGroupAuthorizationFailed {
		t.Fatalf("delete group without Delete: %d", got)
	}
}

func TestKafkaClusterOpsNeedClusterPermissions(t *testing.T) {
	a := newAuthzServer(t)
	cl := a.client(alice)
	create := kmsg.NewPtrCreateACLsRequest()
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral
	c.Principal, c.Host, c.Operation, c.PermissionType = "User:alice", "*", kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeAllow
	create.Creations = append(create.Creations, c)
	if got := request[*kmsg.CreateACLsResponse](t, cl, create).Results[0].ErrorCode; got != codeClusterAuthorizationFailed {
		t.Fatalf("create ACLs without cluster Alter: %d", got)
	}
	if len(a.store.FSM().ACLs()) != 0 {
		t.Fatal("a refused CreateAcls changed the ACLs")
	}
	describe := kmsg.NewPtrDescribeACLsRequest()
	describe.ResourceType, describe.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	describe.Operation, describe.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if got := request[*kmsg.DescribeACLsResponse](t, cl, describe).ErrorCode; got != codeClusterAuthorizationFailed {
		t.Fatalf("describe ACLs without cluster Describe: %d", got)
	}
	ip := kmsg.NewPtrInitProducerIDRequest()
	if got := request[*kmsg.InitProducerIDResponse](t, cl, ip).ErrorCode; got != codeClusterAuthorizationFailed {
		t.Fatalf("InitProducerId without Write anywhere: %d", got)
	}
	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "new", 1, -1
	ct.Topics = append(ct.Topics, ctt)
	if got := request[*kmsg.CreateTopicsResponse](t, cl, ct).Topics[0].ErrorCode; got != codeTopicAuthorizationFailed {
		t.Fatalf("create topic without Create: %d", got)
	}

	grant(t, a.store, allowOn("alice", auth.ResourceCluster, auth.ClusterName, auth.OpAlter, auth.OpCreate)...)
	if got := request[*kmsg.CreateACLsResponse](t, cl, create).Results[0].ErrorCode; got != codeNone {
		t.Fatalf("create ACLs with cluster Alter: %d", got)
	}
	// Alter implies Describe.
	if got := request[*kmsg.DescribeACLsResponse](t, cl, describe); got.ErrorCode != codeNone || len(got.Resources) != 2 {
		t.Fatalf("describe ACLs with cluster Alter: %d %+v", got.ErrorCode, got.Resources)
	}
	// The Write ACL just created lets alice init an idempotent producer.
	if got := request[*kmsg.InitProducerIDResponse](t, cl, ip).ErrorCode; got != codeNone {
		t.Fatalf("InitProducerId with Write on a topic: %d", got)
	}
	if got := request[*kmsg.CreateTopicsResponse](t, cl, ct).Topics[0].ErrorCode; got != codeNone {
		t.Fatalf("create topic with cluster Create: %d", got)
	}
}

// A superuser is never refused, and enforcement off allows anyone.
func TestKafkaSuperuserAndEnforcementOff(t *testing.T) {
	a := newAuthzServer(t)
	a.createTopic("orders")
	root := a.client(auth.Principal{User: "root", Superuser: true})
	if got := request[*kmsg.ProduceResponse](t, root, produceReq("orders")).Topics[0].Partitions[0].ErrorCode; got != codeNone {
		t.Fatalf("superuser produce: %d", got)
	}
	a.srv.authz.enforce.Store(false)
	anyone := a.client(auth.Principal{User: "mallory"}) // no ACL at all
	if got := request[*kmsg.ProduceResponse](t, anyone, produceReq("orders")).Topics[0].Partitions[0].ErrorCode; got != codeNone {
		t.Fatalf("produce without enforcement: %d", got)
	}
}

func TestKafkaAuthorizeCodes(t *testing.T) {
	a := newAuthzServer(t)
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	c := newConn(a.srv, p1)
	c.principal = alice
	for res, want := range map[auth.ResourceType]int16{auth.ResourceTopic: codeTopicAuthorizationFailed,
		auth.ResourceGroup: codeGroupAuthorizationFailed, auth.ResourceCluster: codeClusterAuthorizationFailed} {
		if got := codeOf(c.authorize(auth.OpAlter, res, "x")); got != want {
			t.Errorf("%v: code %d, want %d", res, got, want)
		}
	}
	grant(t, a.store, allowTopic("alice", "x", auth.OpAlter)...)
	if err := c.authorize(auth.OpDescribe, auth.ResourceTopic, "x"); err != nil {
		t.Fatalf("granted: %v", err)
	}
}
