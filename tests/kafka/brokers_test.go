package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
)

// waitBrokers waits until a Metadata request names n brokers and returns
// that answer. It sends a request on every try, answered by some node
// from what it has applied, and the answer refreshes cl's broker list, so
// that cl.Broker(id) then reaches every node named.
//
// It does not use kadm's BrokerMetadata: once the client knows any broker,
// that answers from the client's cached broker list and sends nothing. The
// list is whatever the client's last Metadata answer named, and a follower
// that has not yet applied the last node's registration names one node
// fewer; nothing refreshes the list for minutes (MetadataMaxAge) unless the
// client needs a partition leader it does not know.
func waitBrokers(t *testing.T, ctx context.Context, cl *kgo.Client, n int) *kmsg.MetadataResponse {
	t.Helper()
	var md *kmsg.MetadataResponse
	eventually(t, fmt.Sprintf("metadata names %d brokers", n), func() error {
		req := kmsg.NewPtrMetadataRequest()
		req.Topics = []kmsg.MetadataRequestTopic{} // the brokers only
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		if len(resp.Brokers) != n {
			return fmt.Errorf("%d brokers: %+v", len(resp.Brokers), resp.Brokers)
		}
		md = resp
		return nil
	})
	return md
}

// TestWaitBrokersSeesANodeThatJoinsLater: a client that learned the
// brokers of a two-node cluster sees the third node once it has joined.
// waitACLsApplied used kadm's BrokerMetadata, which answers from the
// client's cache (see waitBrokers): TestSASLFranz failed once in CI with
// "metadata names 3 brokers: still failing after 30s: 2 brokers" when the
// admin client's only Metadata answer had come from a follower that had
// not yet applied the third node's registration. Here the client learns
// two brokers because there are two.
func TestWaitBrokersSeesANodeThatJoinsLater(t *testing.T) {
	if target(t) == "kfake" {
		t.Skip("adds a minibroker node")
	}
	c := brokertest.NewCluster(t, 2)
	c.WaitLeader()
	ctx := ctxFor(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaAddrs()...), kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	waitBrokers(t, ctx, cl, 2)

	cfg := brokertest.Config(t, 2)
	cfg.Join = c.Addrs()
	b, err := broker.Start(cfg)
	if err != nil {
		t.Fatalf("start a third node: %v", err)
	}
	t.Cleanup(func() { b.Close() }) // before the cluster's cleanup: registered after it
	md := waitBrokers(t, ctx, cl, 3)
	found := false
	for _, mb := range md.Brokers {
		found = found || fmt.Sprintf("%s:%d", mb.Host, mb.Port) == b.KafkaAddr()
	}
	if !found {
		t.Fatalf("metadata %+v does not name the new node at %s", md.Brokers, b.KafkaAddr())
	}
}
