package tests

import (
	"errors"
	"testing"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
)

// TestClientProduceWithoutDescribeIsUnauthorized: a user with no
// permission on an existing topic is refused with ErrTopicAuthorization
// when producing, not told that the topic does not exist (the all-topics
// Metadata leaves out the topics a user may not describe); a topic that
// does not exist stays ErrUnknownTopic (the control).
func TestClientProduceWithoutDescribeIsUnauthorized(t *testing.T) {
	c := brokertest.NewCluster(t, 1, brokertest.SCRAM("admin", "admin-pw"))
	ctx := ctxT(t)
	admin, err := newAuthClient(t, "admin", "admin-pw", c.Addrs()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateTopic(ctx, "orders", client.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateUser(ctx, "alice", "alice-pw", client.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	alice, err := newAuthClient(t, "alice", "alice-pw", c.Addrs()...)
	if err != nil {
		t.Fatal(err)
	}
	p := alice.Producer(client.ProducerConfig{Acks: client.AcksAll})
	defer p.Close()
	_, err = p.Produce(ctx, client.Message{Topic: "orders", Value: []byte("x")})
	if !errors.Is(err, client.ErrTopicAuthorization) || errors.Is(err, client.ErrUnknownTopic) {
		t.Fatalf("alice produces to orders without an ACL: %v, want ErrTopicAuthorization", err)
	}
	// The admin may describe everything: a missing topic is unknown.
	ap := admin.Producer(client.ProducerConfig{Acks: client.AcksAll})
	defer ap.Close()
	if _, err := ap.Produce(ctx, client.Message{Topic: "missing", Value: []byte("x")}); !errors.Is(err, client.ErrUnknownTopic) {
		t.Fatalf("produce to a missing topic: %v, want ErrUnknownTopic", err)
	}
}
