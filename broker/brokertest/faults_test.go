package brokertest_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/internal/wire"
)

// kafkaAPIVersions is a Kafka ApiVersions v0 request (correlation id 1,
// null client id), length-prefixed.
var kafkaAPIVersions = []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff}

// nativeMetadata is a native Metadata request frame.
func nativeMetadata(t *testing.T) []byte {
	t.Helper()
	f, err := wire.EncodeRequest(nil, wire.RequestHeader{APIKey: wire.Metadata, CorrelationID: 1}, &wire.MetadataRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// ask sends frame on a new connection to addr and waits up to wait for a
// length-prefixed answer: nil if one came, else the error (a timeout:
// os.ErrDeadlineExceeded).
func ask(addr string, frame []byte, wait time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write(frame); err != nil {
		return err
	}
	var n [4]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return err
	}
	_, err = io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(n[:])))
	return err
}

// askBoth asks a node on its native and Kafka addresses and returns both
// errors.
func askBoth(t *testing.T, addr, kafkaAddr string, wait time.Duration) (native, kafka error) {
	t.Helper()
	return ask(addr, nativeMetadata(t), wait), ask(kafkaAddr, kafkaAPIVersions, wait)
}

// waitFor polls cond every 5ms until it holds, failing the test after
// timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, timeout)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronization
	}
}

// otherLeader waits until a node other than i is the ready leader and
// returns it.
func otherLeader(t *testing.T, c *brokertest.Cluster, i int) int {
	t.Helper()
	j := -1
	waitFor(t, fmt.Sprintf("leader other than n%d", i+1), 20*time.Second, func() bool {
		for k := range c.Len() {
			if b := c.Broker(k); k != i && b != nil && b.IsLeader() {
				j = k
				return true
			}
		}
		return false
	})
	return j
}

// produceBoth writes value natively (acks=all) and through the Kafka
// listeners (franz-go, idempotent, acks=all); both must succeed before
// ctx ends.
func produceBoth(t *testing.T, ctx context.Context, p *client.Producer, kc *kgo.Client, value string) {
	t.Helper()
	start := time.Now()
	defer func() {
		t.Logf("produced %q natively and through Kafka in %v", value, time.Since(start).Round(time.Millisecond))
	}()
	if _, err := p.Produce(ctx, client.Message{Topic: "t", Value: []byte("native-" + value)}); err != nil {
		t.Fatalf("native produce %s: %v", value, err)
	}
	if err := kc.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("kafka-" + value)}).FirstErr(); err != nil {
		t.Fatalf("kafka produce %s: %v", value, err)
	}
}

// readAll reads partition 0 of "t" from the start up to its high
// watermark and returns how many times each value is stored.
func readAll(t *testing.T, ctx context.Context, cl *client.Client) map[string]int {
	t.Helper()
	r := cl.Reader(client.ReaderConfig{Topic: "t", Offset: client.StartEarliest, MaxWait: 50 * time.Millisecond})
	got := map[string]int{}
	for {
		recs, err := r.Fetch(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		for _, rec := range recs {
			got[string(rec.Value)]++
		}
		if len(recs) == 0 && r.Offset() >= r.HighWatermark() {
			return got
		}
	}
}

func newClients(t *testing.T, c *brokertest.Cluster) (*client.Client, *client.Producer, *kgo.Client) {
	t.Helper()
	cl, err := client.New(client.Config{Brokers: c.Addrs(), RequestTimeout: 2 * time.Second, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.CreateTopic(ctx, "t", client.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll, Retries: 50, RetryBackoffMax: 200 * time.Millisecond})
	t.Cleanup(func() { p.Close() })
	kc, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaAddrs()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(1<<30), kgo.ProduceRequestTimeout(2*time.Second), kgo.RequestTimeoutOverhead(time.Second), kgo.RetryTimeout(30*time.Second),
		kgo.MetadataMinAge(200*time.Millisecond), // franz-go's 5s default would slow each failover down
		kgo.ConnIdleTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	return cl, p, kc
}

// TestPartitionLeader: a partitioned leader loses its leadership, the
// majority elects another and keeps serving native and Kafka clients;
// after Heal the old leader rejoins and holds the same replicas.
func TestPartitionLeader(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	cl, p, kc := newClients(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produceBoth(t, ctx, p, kc, "before")

	old := c.WaitLeader()
	addr, kafkaAddr := c.Broker(old).Addr(), c.Broker(old).KafkaAddr()
	if nerr, kerr := askBoth(t, addr, kafkaAddr, 5*time.Second); nerr != nil || kerr != nil {
		t.Fatalf("n%d before the partition: native %v, kafka %v", old+1, nerr, kerr)
	}
	c.Partition(old)
	// Its clients are cut off: their connections are reset at once.
	if nerr, kerr := askBoth(t, addr, kafkaAddr, 5*time.Second); nerr == nil || kerr == nil ||
		errors.Is(nerr, os.ErrDeadlineExceeded) || errors.Is(kerr, os.ErrDeadlineExceeded) {
		t.Fatalf("n%d partitioned: native %v, kafka %v; want connections reset", old+1, nerr, kerr)
	}
	next := otherLeader(t, c, old)
	waitFor(t, fmt.Sprintf("n%d to step down", old+1), 20*time.Second, func() bool { return !c.Broker(old).IsLeader() })
	produceBoth(t, ctx, p, kc, "during")

	c.Heal()
	produceBoth(t, ctx, p, kc, "after")
	if nerr, kerr := askBoth(t, addr, kafkaAddr, 5*time.Second); nerr != nil || kerr != nil {
		t.Fatalf("n%d after Heal: native %v, kafka %v", old+1, nerr, kerr)
	}
	rep := c.VerifyReplicas()
	t.Logf("leader n%d partitioned, n%d elected; replicas agree at index %d", old+1, next+1, rep.Index)
	wantEachOnce(t, readAll(t, ctx, cl))
}

// TestPauseLeader: a paused leader's clients time out, the others elect
// a leader and keep serving; after Resume the node answers again and
// holds the same replicas.
func TestPauseLeader(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	cl, p, kc := newClients(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produceBoth(t, ctx, p, kc, "before")

	old := c.WaitLeader()
	addr, kafkaAddr := c.Broker(old).Addr(), c.Broker(old).KafkaAddr()
	if nerr, kerr := askBoth(t, addr, kafkaAddr, 5*time.Second); nerr != nil || kerr != nil {
		t.Fatalf("n%d before the pause: native %v, kafka %v", old+1, nerr, kerr)
	}
	c.Pause(old)
	// Its clients' requests go unanswered until they time out: the
	// connection is accepted and stays open, nothing comes back.
	if nerr, kerr := askBoth(t, addr, kafkaAddr, time.Second); !errors.Is(nerr, os.ErrDeadlineExceeded) || !errors.Is(kerr, os.ErrDeadlineExceeded) {
		t.Fatalf("n%d paused: native %v, kafka %v; want both to time out", old+1, nerr, kerr)
	}
	// The clients with every node's address move on to the new leader.
	next := otherLeader(t, c, old)
	produceBoth(t, ctx, p, kc, "during")

	c.Resume(old)
	if nerr, kerr := askBoth(t, addr, kafkaAddr, 5*time.Second); nerr != nil || kerr != nil {
		t.Fatalf("n%d after Resume: native %v, kafka %v", old+1, nerr, kerr)
	}
	produceBoth(t, ctx, p, kc, "after")
	rep := c.VerifyReplicas()
	t.Logf("leader n%d paused, n%d elected; replicas agree at index %d", old+1, next+1, rep.Index)
	wantEachOnce(t, readAll(t, ctx, cl))
}

// TestKillRestartThroughProxies: Kill and Restart work as before through
// the proxies: the others elect a leader and serve, and the node comes
// back on the address it advertised.
func TestKillRestartThroughProxies(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	_, p, kc := newClients(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produceBoth(t, ctx, p, kc, "before")
	old := c.WaitLeader()
	addr := c.Broker(old).Addr()
	c.Kill(old)
	otherLeader(t, c, old)
	produceBoth(t, ctx, p, kc, "killed")
	c.Restart(old)
	if got := c.Broker(old).Addr(); got != addr {
		t.Fatalf("restarted n%d advertises %s, was %s", old+1, got, addr)
	}
	produceBoth(t, ctx, p, kc, "restarted")
	c.VerifyReplicas()
}

// TestKillPausedNode: a paused node can be killed (its held connections
// do not hold up Close) and restarts paused until Resume.
func TestKillPausedNode(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	_, p, kc := newClients(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produceBoth(t, ctx, p, kc, "before")
	f := (c.WaitLeader() + 1) % 3
	c.Pause(f)
	start := time.Now()
	c.Kill(f)
	t.Logf("killing the paused n%d took %v", f+1, time.Since(start).Round(time.Millisecond))
	produceBoth(t, ctx, p, kc, "down")
	c.Restart(f)
	addr, kafkaAddr := c.Broker(f).Addr(), c.Broker(f).KafkaAddr()
	if nerr, kerr := askBoth(t, addr, kafkaAddr, time.Second); !errors.Is(nerr, os.ErrDeadlineExceeded) || !errors.Is(kerr, os.ErrDeadlineExceeded) {
		t.Fatalf("n%d restarted while paused: native %v, kafka %v; want both to time out", f+1, nerr, kerr)
	}
	c.Resume(f)
	produceBoth(t, ctx, p, kc, "after")
	c.VerifyReplicas()
}

// wantEachOnce checks that the values produceBoth wrote before, during and
// after a fault, through either protocol, are each stored exactly once.
func wantEachOnce(t *testing.T, got map[string]int) {
	t.Helper()
	for _, v := range []string{"before", "during", "after"} {
		for _, via := range []string{"native-", "kafka-"} {
			if got[via+v] != 1 {
				t.Errorf("%s%s stored %d times, want once", via, v, got[via+v])
			}
		}
	}
}
