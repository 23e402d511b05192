package kafka

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
)

// newTLSMinibroker starts a minibroker cluster of nodes serving Kafka
// over TLS (Kafka's SSL, on the Kafka port) with certificates in dir.
func newTLSMinibroker(t *testing.T, nodes int, dir string) *brokertest.Cluster {
	t.Helper()
	if target(t) == "kfake" {
		t.Skip("kfake speaks no TLS")
	}
	c := brokertest.NewCluster(t, nodes, brokertest.TLS(t, dir), func(_ int, cfg *broker.Config) {
		// Calmer timeouts, as newMinibroker.
		cfg.HeartbeatTimeout = time.Second
		cfg.ElectionTimeout = time.Second
		cfg.LeaderLeaseTimeout = 500 * time.Millisecond
	})
	c.WaitLeader()
	return c
}

// TestTLSFranzGo produces and consumes with franz-go over TLS
// (kgo.DialTLSConfig), with and without a client certificate, on a
// 3-node TLS cluster; a plaintext client is refused (the control).
func TestTLSFranzGo(t *testing.T) {
	dir := t.TempDir()
	c := newTLSMinibroker(t, 3, dir)
	ctx := ctxFor(t)
	for _, user := range []string{"", "alice"} {
		tcfg := brokertest.ClientTLS(t, dir, user)
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaAddrs()...), kgo.DialTLSConfig(tcfg))
		if err != nil {
			t.Fatal(err)
		}
		topic := "tls-franz" + user
		if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		const n = 20
		for i := range n {
			r := &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce over TLS: %v", err)
			}
		}
		cl.Close()
		cons, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaAddrs()...), kgo.DialTLSConfig(tcfg),
			kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for len(seen) < n {
			fs := cons.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("consume over TLS: %v", err)
			}
			fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
		}
		cons.Close()
	}

	// The control: without TLS, nothing gets through.
	plain, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaAddrs()...), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := plain.Ping(pctx); err == nil {
		t.Fatal("a plaintext Kafka client was served on the TLS port")
	}
	// Nor with TLS that does not trust the cluster's CA.
	untrusting, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaAddrs()...), kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer untrusting.Close()
	uctx, cancel2 := context.WithTimeout(ctx, 3*time.Second)
	defer cancel2()
	if err := untrusting.Ping(uctx); err == nil {
		t.Fatal("a client that does not trust the cluster's CA was served")
	}
}

// TestTLSKcat produces and consumes with kcat (librdkafka) over TLS:
// security.protocol=ssl with the cluster's CA, then with a client
// certificate too.
func TestTLSKcat(t *testing.T) {
	kcat := needTool(t, "kcat", kcatInstall)
	dir := t.TempDir()
	c := newTLSMinibroker(t, 1, dir)
	brokertest.ClientTLS(t, dir, "alice") // writes alice's certificate
	ca := filepath.Join(dir, "ca.crt")
	ssl := []string{"-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + ca}
	withCert := append(append([]string{}, ssl...), "-X", "ssl.certificate.location="+filepath.Join(dir, "client-alice.crt"),
		"-X", "ssl.key.location="+filepath.Join(dir, "client-alice.key"))
	for i, args := range [][]string{ssl, withCert} {
		topic := fmt.Sprintf("tls-kcat-%d", i)
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.KafkaAddrs()...), kgo.DialTLSConfig(brokertest.ClientTLS(t, dir, "")))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kadm.NewClient(cl).CreateTopic(ctxFor(t), 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		cl.Close()
		base := append([]string{"-b", strings.Join(c.KafkaAddrs(), ","), "-t", topic}, args...)
		kcatRun(t, kcat, []byte("one\ntwo\nthree\n"), append([]string{"-P", "-X", "acks=-1"}, base...)...)
		out := kcatRun(t, kcat, nil, append([]string{"-C", "-e", "-o", "beginning", "-f", `%s\n`}, base...)...)
		if string(out) != "one\ntwo\nthree\n" {
			t.Fatalf("kcat %v read %q", args, out)
		}
	}
}
