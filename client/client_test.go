package client

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	cl, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func onlyAPI(key wire.APIKey, f func(r *fakeReq) bool) func(r *fakeReq) bool {
	return func(r *fakeReq) bool { return r.hdr.APIKey == key && f(r) }
}

func TestNewFailsWhenNoSeedAnswers(t *testing.T) {
	_, err := New(Config{Brokers: []string{deadAddr(t), deadAddr(t)}, DialTimeout: 2 * time.Second})
	if !errors.Is(err, ErrBrokerUnavailable) {
		t.Fatalf("New with dead seeds: %v, want ErrBrokerUnavailable", err)
	}
}

func TestNewTriesSeedsInOrder(t *testing.T) {
	fb := newFakeBroker(t, "n1")
	cl := newTestClient(t, Config{Brokers: []string{deadAddr(t), fb.addr}})
	md, err := cl.Metadata(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if md.LeaderID != "n1" || md.LeaderAddr != fb.addr || len(md.Nodes) != 1 {
		t.Fatalf("metadata = %+v", md)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := New(Config{})
	var ce *ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidConfig) || ce.Field != "Brokers" {
		t.Fatalf("New(Config{}) = %v, want a ConfigError on Brokers", err)
	}
}

func TestPipelinedOutOfOrderResponses(t *testing.T) {
	fb := newFakeBroker(t, "n1")
	fb.addTopic("t", 8)
	fb.setHook(onlyAPI(wire.ListOffsets, fb.hold))
	cl := newTestClient(t, Config{Brokers: []string{fb.addr}})
	ctx := testCtx(t)

	const n = 8
	type res struct {
		part int32
		off  int64
		err  error
	}
	results := make(chan res, n)
	for i := range int32(n) {
		go func() {
			off, err := cl.ListOffsets(ctx, "t", i, Latest)
			results <- res{i, off, err}
		}()
	}
	// All n are in flight at once before any is answered: pipelined.
	held := fb.takeHeld(n)
	for i := len(held) - 1; i >= 0; i-- { // answer newest first
		var req wire.ListOffsetsRequest
		held[i].decode(&req)
		held[i].reply(&wire.ListOffsetsResponse{Offset: 100 * int64(req.Partition)})
	}
	for range n {
		r := <-results
		if r.err != nil || r.off != 100*int64(r.part) {
			t.Errorf("partition %d: offset %d, err %v; want %d", r.part, r.off, r.err, 100*r.part)
		}
	}
	if c := fb.connCount(); c != 1 {
		t.Errorf("connections = %d, want 1", c)
	}
}

func TestCancelledCallForgetsItsAnswer(t *testing.T) {
	fb := newFakeBroker(t, "n1")
	fb.addTopic("t", 1)
	fb.setHook(onlyAPI(wire.ListOffsets, fb.hold))
	cl := newTestClient(t, Config{Brokers: []string{fb.addr}})

	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, err := cl.ListOffsets(ctx, "t", 0, Latest)
		errc <- err
	}()
	fb.waitFor("the request", func() bool { return fb.count(wire.ListOffsets) == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ListOffsets = %v, want context.Canceled", err)
	}
	c, err := cl.getConn(testCtx(t), fb.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	pending := len(c.pending)
	c.mu.Unlock()
	if pending != 0 {
		t.Fatalf("%d calls still pending after cancel", pending)
	}

	// The late answer is dropped, not given to the next call.
	fb.setHook(nil)
	fb.takeHeld(1)[0].reply(&wire.ListOffsetsResponse{Offset: 77})
	off, err := cl.ListOffsets(testCtx(t), "t", 0, Latest)
	if err != nil || off != 0 {
		t.Fatalf("next ListOffsets = %d, %v; want 0, nil", off, err)
	}
	if fb.connCount() != 1 || c.dead.Load() {
		t.Fatalf("the connection did not survive the cancelled call")
	}
}

func TestLostConnectionFailsPendingCalls(t *testing.T) {
	fb := newFakeBroker(t, "n1")
	fb.addTopic("t", 1)
	fb.setHook(onlyAPI(wire.ListOffsets, fb.hold))
	cl := newTestClient(t, Config{Brokers: []string{fb.addr}})
	ctx := testCtx(t)
	c, err := cl.getConn(ctx, fb.addr)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	errc := make(chan error, n)
	for range n {
		go func() {
			errc <- c.roundTrip(ctx, wire.ListOffsets, &wire.ListOffsetsRequest{Topic: "t"}, new(wire.ListOffsetsResponse), 0)
		}()
	}
	fb.takeHeld(n)[0].drop()
	for range n {
		if err := <-errc; !errors.Is(err, ErrConnectionLost) || !IsRetriable(err) {
			t.Errorf("pending call on a dropped connection: %v, want retriable ErrConnectionLost", err)
		}
	}
	if !c.dead.Load() {
		t.Fatal("conn not marked dead")
	}
	if _, _, err := c.send(wire.ListOffsets, &wire.ListOffsetsRequest{}, 0, func([]byte, error) {}); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("send on a dead conn: %v", err)
	}

	// The client reconnects on next use.
	fb.setHook(nil)
	if _, err := cl.ListOffsets(ctx, "t", 0, Latest); err != nil {
		t.Fatalf("ListOffsets after reconnect: %v", err)
	}
	if fb.connCount() != 2 {
		t.Fatalf("connections = %d, want 2", fb.connCount())
	}
}

func TestRequestTimeoutClosesConnection(t *testing.T) {
	fb := newFakeBroker(t, "n1")
	fb.setHook(onlyAPI(wire.ListOffsets, fb.hold))
	cl := newTestClient(t, Config{Brokers: []string{fb.addr}, RequestTimeout: 100 * time.Millisecond})
	c, err := cl.getConn(testCtx(t), fb.addr)
	if err != nil {
		t.Fatal(err)
	}
	err = c.roundTrip(testCtx(t), wire.ListOffsets, &wire.ListOffsetsRequest{}, new(wire.ListOffsetsResponse), cl.cfg.RequestTimeout)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("unanswered request: %v, want ErrTimeout", err)
	}
	<-c.done // the connection is closed: its reader has returned
}

func TestClientCloseIsIdempotentAndFailsCalls(t *testing.T) {
	fb := newFakeBroker(t, "n1")
	fb.addTopic("t", 1)
	fb.setHook(onlyAPI(wire.ListOffsets, fb.hold))
	cl := newTestClient(t, Config{Brokers: []string{fb.addr}})
	errc := make(chan error, 1)
	go func() {
		_, err := cl.ListOffsets(testCtx(t), "t", 0, Latest)
		errc <- err
	}()
	fb.waitFor("the request", func() bool { return fb.count(wire.ListOffsets) == 1 })
	_ = cl.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("call in flight at Close: %v, want ErrClosed", err)
	}
	_ = cl.Close()
	if _, err := cl.Metadata(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Metadata after Close: %v, want ErrClosed", err)
	}
}

func TestAdminCalls(t *testing.T) {
	fb := newFakeBroker(t, "n1")
	cl := newTestClient(t, Config{Brokers: []string{fb.addr}})
	ctx := testCtx(t)

	if err := cl.CreateTopic(ctx, "orders", TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	if err := cl.CreateTopic(ctx, "orders", TopicConfig{Partitions: 3}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("second CreateTopic: %v, want ErrTopicExists", err)
	}
	if err := cl.CreateTopic(ctx, "bad", TopicConfig{Partitions: -1}); !errors.Is(err, ErrInvalidTopicConfig) {
		t.Fatalf("CreateTopic with -1 partitions: %v", err)
	}
	if n := fb.count(wire.CreateTopic); n != 2 {
		t.Fatalf("CreateTopic requests = %d, want 2 (the invalid one is not sent)", n)
	}
	if err := cl.CreateTopic(ctx, "default", TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	topics, err := cl.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(topics) != 2 || topics[0].Name != "default" || len(topics[0].Partitions) != 1 ||
		topics[1].Name != "orders" || len(topics[1].Partitions) != 3 || topics[1].Partitions[2].Partition != 2 {
		t.Fatalf("ListTopics = %+v", topics)
	}
	if off, err := cl.ListOffsets(ctx, "orders", 1, Earliest); err != nil || off != 0 {
		t.Fatalf("ListOffsets = %d, %v", off, err)
	}
	if _, err := cl.ListOffsets(ctx, "nope", 0, Latest); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("ListOffsets of an unknown topic: %v", err)
	}
	if err := cl.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteTopic(ctx, "orders"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("second DeleteTopic: %v, want ErrUnknownTopic", err)
	}
}

// twoNodes returns a leader and a follower that both list n1 (the leader)
// and n2 (the follower); the follower answers writes with NotLeader.
func twoNodes(t *testing.T, withLeaderAddr bool) (leader, follower *fakeBroker) {
	leader = newFakeBroker(t, "n1")
	follower = newFakeBroker(t, "n2")
	nodes := []wire.Node{{ID: "n1", Addr: leader.addr}, {ID: "n2", Addr: follower.addr}}
	leader.setMeta("n1", nodes)
	follower.setMeta("n2", nodes) // stale: it believes it still leads
	follower.setHook(func(r *fakeReq) bool {
		switch r.hdr.APIKey {
		case wire.Produce:
			resp := &wire.ProduceResponse{ErrorCode: wire.CodeNotLeader, BaseOffset: -1}
			if withLeaderAddr {
				resp.LeaderID, resp.LeaderAddr = "n1", leader.addr
			}
			r.reply(resp)
			return true
		case wire.CreateTopic, wire.DeleteTopic, wire.InitProducer:
			r.replyCode(wire.CodeNotLeader)
			return true
		}
		return false
	})
	return leader, follower
}

func TestCreateTopicFollowsLeaderChange(t *testing.T) {
	leader, follower := twoNodes(t, false)
	cl := newTestClient(t, Config{Brokers: []string{follower.addr}})
	if err := cl.CreateTopic(testCtx(t), "orders", TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.partition("orders", 1); err != nil {
		t.Fatalf("the leader did not get the topic: %v", err)
	}
	if n := follower.count(wire.CreateTopic); n != 1 {
		t.Fatalf("follower got %d CreateTopic requests, want 1", n)
	}
}

func TestProduceFollowsNotLeaderRedirect(t *testing.T) {
	leader, follower := twoNodes(t, true)
	leader.addTopic("t", 1)
	follower.addTopic("t", 1)
	cl := newTestClient(t, Config{Brokers: []string{follower.addr}})
	// Without idempotence: InitProducer, which names no leader, would go
	// first (see TestIdempotentInitProducerFollowsLeader).
	p := cl.Producer(ProducerConfig{Idempotence: IdempotenceOff})
	defer p.Close()
	res, err := p.Produce(testCtx(t), Message{Topic: "t", Value: []byte("v")})
	if err != nil || res.Offset != 0 {
		t.Fatalf("Produce = %+v, %v", res, err)
	}
	if follower.count(wire.Produce) != 1 || leader.count(wire.Produce) != 1 {
		t.Fatalf("produce requests: follower %d, leader %d; want 1 and 1",
			follower.count(wire.Produce), leader.count(wire.Produce))
	}
	if n := leader.count(wire.Metadata); n != 0 {
		t.Fatalf("the redirect asked the leader for metadata %d times; LeaderAddr should suffice", n)
	}
	if len(leader.records("t", 0)) != 1 {
		t.Fatal("record not stored on the leader")
	}
}

// TestMetadataPrefersAnAnswerWithALeader: a node that knows no leader (cut
// off, stopped, mid-election) must not hide the leader the others know.
func TestMetadataPrefersAnAnswerWithALeader(t *testing.T) {
	lost := newFakeBroker(t, "n1")
	lead := newFakeBroker(t, "n2")
	nodes := []wire.Node{{ID: "n1", Addr: lost.addr}, {ID: "n2", Addr: lead.addr}}
	lost.setMeta("", nodes)
	lead.setMeta("n2", nodes)
	cl := newTestClient(t, Config{Brokers: []string{lost.addr, lead.addr}})
	md, err := cl.Metadata(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if md.LeaderID != "n2" || md.LeaderAddr != lead.addr {
		t.Fatalf("leader %q at %q, want n2 at %s", md.LeaderID, md.LeaderAddr, lead.addr)
	}
	if lost.count(wire.Metadata) != 1 {
		t.Fatalf("the leaderless node was asked %d times, want 1 (first seed)", lost.count(wire.Metadata))
	}

	// With no node naming a leader, the answer says so.
	lead.setMeta("", nodes)
	if md, err = cl.Metadata(testCtx(t)); err != nil || md.LeaderID != "" {
		t.Fatalf("no leader anywhere: %+v, %v", md, err)
	}
}

// TestMetadataLeaderSearchIsBounded: after an answer without a leader, a
// node whose dial hangs (a machine that is down) does not hold the refresh
// until DialTimeout: the leaderless answer is used after leaderSearch.
func TestMetadataLeaderSearchIsBounded(t *testing.T) {
	lost := newFakeBroker(t, "n1")
	const hung = "192.0.2.1:9092" // never dialed: the Dial hook blocks
	lost.setMeta("", []wire.Node{{ID: "n1", Addr: lost.addr}, {ID: "n2", Addr: hung}})
	var d net.Dialer
	cl := newTestClient(t, Config{Brokers: []string{lost.addr}, DialTimeout: time.Hour,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == hung {
				<-ctx.Done()
				return nil, ctx.Err()
			}
			return d.DialContext(ctx, network, addr)
		}})
	if _, err := cl.Metadata(testCtx(t)); err != nil { // learns n2's address
		t.Fatal(err)
	}
	md, err := cl.Metadata(testCtx(t)) // asks n1, then n2, whose dial hangs
	if err != nil || md.LeaderID != "" || len(md.Nodes) != 2 {
		t.Fatalf("metadata: %+v, %v; want n1's leaderless answer", md, err)
	}
}
