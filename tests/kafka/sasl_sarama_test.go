package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/xdg-go/scram"

	"github.com/minibroker/minibroker/broker/brokertest"
)

// saramaSCRAM adapts an xdg-go/scram client conversation to sarama's
// SCRAMClient (sarama ships no SCRAM implementation of its own).
type saramaSCRAM struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *saramaSCRAM) Begin(user, password, authz string) error {
	cl, err := s.hash.NewClientUnprepped(user, password, authz)
	if err != nil {
		return err
	}
	s.conv = cl.NewConversation()
	return nil
}

func (s *saramaSCRAM) Step(challenge string) (string, error) { return s.conv.Step(challenge) }
func (s *saramaSCRAM) Done() bool                            { return s.conv.Done() }

func saramaSASLConfig(user, password string) *sarama.Config {
	cfg := saramaConfig()
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
	cfg.Net.SASL.User, cfg.Net.SASL.Password = user, password
	cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{hash: scram.SHA512} }
	cfg.Producer.Return.Successes = true
	cfg.Metadata.Retry.Max = 1
	return cfg
}

// TestSASLSarama: sarama (SaslHandshake v1 + SaslAuthenticate, as it
// sends them from Version 1.0 on) produces and consumes with
// SCRAM-SHA-512; a wrong password is refused.
func TestSASLSarama(t *testing.T) {
	c := newSASLCluster(t, 1)
	ctx := ctxFor(t)
	admin := kadm.NewClient(saslClient(t, c.KafkaAddrs(), scramMech(true, saslAdmin, saslAdminPw)))
	if _, err := admin.CreateTopic(ctx, 1, 1, nil, "sarama-sasl"); err != nil {
		t.Fatal(err)
	}
	prod, err := sarama.NewSyncProducer(c.KafkaAddrs(), saramaSASLConfig(saslAdmin, saslAdminPw))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "sarama-sasl", Value: sarama.StringEncoder("hello")}); err != nil {
		t.Fatal(err)
	}
	cons, err := sarama.NewConsumer(c.KafkaAddrs(), saramaSASLConfig(saslAdmin, saslAdminPw))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition("sarama-sasl", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.AsyncClose()
	select {
	case m := <-pc.Messages():
		if string(m.Value) != "hello" {
			t.Fatalf("consumed %q", m.Value)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no message")
	case <-ctx.Done():
		t.Fatal(context.Cause(ctx))
	}

	before := kafkaAuthFailures(t, c, "SCRAM-SHA-512")
	_, err = sarama.NewClient(c.KafkaAddrs(), saramaSASLConfig(saslAdmin, "wrong"))
	if err == nil {
		t.Fatal("wrong password: client made")
	}
	// sarama reports "out of brokers" after the failure: the broker's
	// count says what happened.
	if got := kafkaAuthFailures(t, c, "SCRAM-SHA-512"); got <= before {
		t.Fatalf("wrong password (%v): auth failures %v, was %v", err, got, before)
	}
}

// kafkaAuthFailures sums minibroker_auth_failures_total{listener="kafka",
// mechanism} over the cluster's nodes.
func kafkaAuthFailures(t *testing.T, c *brokertest.Cluster, mech string) float64 {
	t.Helper()
	var sum float64
	for i := 0; i < c.Len(); i++ {
		mfs, err := c.Broker(i).Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "minibroker_auth_failures_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				l := map[string]string{}
				for _, lp := range m.GetLabel() {
					l[lp.GetName()] = lp.GetValue()
				}
				if l["listener"] == "kafka" && l["mechanism"] == mech {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
