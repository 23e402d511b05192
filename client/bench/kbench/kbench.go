// Package kbench is the bench.Target of any Kafka-protocol broker, driven
// by franz-go (github.com/twmb/franz-go/pkg/kgo): `minibroker bench
// --kafka` runs the same workloads (package client/bench) through a
// minibroker node's Kafka listener, or against another Kafka-compatible
// broker, as it runs them through the native client.
//
// franz-go is the client: the most complete Go Kafka client, kept up to
// date with the protocol, and the one whose message package (kmsg) the
// Kafka listener is built on.
package kbench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/minibroker/minibroker/client/bench"
)

// Kafka is the Target of a Kafka-protocol cluster. Each Producer and
// Consumer opens a kgo.Client of its own. Brokers is required; the zero
// value of every other field is a default given beside it. Safe for
// concurrent use (its fields must not change while workloads run).
type Kafka struct {
	// Brokers are seed addresses of the cluster's Kafka listeners.
	Brokers []string
	// Acks is what a producer waits for: 0, 1 or -1 (all). Default -1.
	// Idempotent writes are on for -1, as franz-go's default, and off
	// otherwise (Kafka allows idempotence only with acks=all).
	Acks int
	// NotIdempotent turns idempotent writes off at acks=all too.
	NotIdempotent bool
	// Linger is how long a partial batch waits for more records (0: none).
	Linger time.Duration
	// BatchBytes caps a batch per partition (0: franz-go's default, 1 MB).
	BatchBytes int32
	// Group makes each Consumer a member of the Kafka consumer group the
	// workload names (JoinGroup, SyncGroup, commits). Without it a
	// Consumer reads every partition of the topic from its start, with no
	// group and no commits: for brokers without Kafka consumer groups.
	Group bool
	// CommitEveryPoll makes each group Poll commit what it delivered and
	// wait for the commit; otherwise franz-go auto-commits. Only with Group.
	CommitEveryPoll bool
	// TLS, if set, speaks TLS to the brokers (kgo.DialTLSConfig). Default
	// nil: plaintext.
	TLS *tls.Config
}

var _ bench.Target = (*Kafka)(nil)

// commitTimeout bounds a commit of CommitEveryPoll.
const commitTimeout = 30 * time.Second

func (k *Kafka) base() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(k.Brokers...), kgo.RetryTimeout(30 * time.Second)}
	if k.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(k.TLS))
	}
	return opts
}

// Producer opens a kgo.Client producing to topic; it checks that the
// topic exists.
func (k *Kafka) Producer(ctx context.Context, topic string) (bench.Producer, error) {
	if len(k.Brokers) == 0 {
		return nil, errors.New("kbench: no brokers")
	}
	opts := append(k.base(), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(k.Linger),
		kgo.MaxBufferedRecords(1<<20))
	switch k.Acks {
	case 0:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	case 1:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case -1:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
		if k.NotIdempotent {
			opts = append(opts, kgo.DisableIdempotentWrite())
		}
	default:
		return nil, fmt.Errorf("kbench: acks %d: want 0, 1 or -1", k.Acks)
	}
	if k.BatchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(k.BatchBytes))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	if err := topicExists(ctx, cl, topic); err != nil {
		cl.Close()
		return nil, err
	}
	return &producer{cl: cl}, nil
}

// topicExists asks for topic's metadata until it is known or ctx ends, or
// for at most topicWait: a topic just created may not have reached every
// broker yet (Kafka's brokers learn new topics a little after the
// controller, and so do a Raft leader's followers).
func topicExists(ctx context.Context, cl *kgo.Client, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, topicWait)
	defer cancel()
	for {
		err := topicKnown(ctx, cl, topic)
		if err == nil || !errors.Is(err, kerr.UnknownTopicOrPartition) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond): // polling the brokers' metadata
		}
	}
}

// topicWait bounds topicExists.
const topicWait = 10 * time.Second

func topicKnown(ctx context.Context, cl *kgo.Client, topic string) error {
	resp, err := kmsgMetadata(topic).RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("topic %q: %w", topic, err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return fmt.Errorf("topic %q: %w", topic, err)
		}
	}
	return nil
}

type producer struct{ cl *kgo.Client }

func (p *producer) Send(value []byte, done func(error)) {
	p.cl.Produce(context.Background(), &kgo.Record{Value: value}, func(_ *kgo.Record, err error) { done(err) })
}

func (p *producer) Close() error {
	err := p.cl.Flush(context.Background())
	p.cl.Close()
	return err
}

// Consumer opens a kgo.Client reading topic: as a member of group with
// Group, else every partition from its start.
func (k *Kafka) Consumer(ctx context.Context, topic, group string) (bench.Consumer, error) {
	if len(k.Brokers) == 0 {
		return nil, errors.New("kbench: no brokers")
	}
	opts := append(k.base(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond))
	if k.Group {
		opts = append(opts, kgo.ConsumerGroup(group))
		if k.CommitEveryPoll {
			opts = append(opts, kgo.DisableAutoCommit())
		}
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	if err := topicExists(ctx, cl, topic); err != nil {
		cl.Close()
		return nil, err
	}
	return &consumer{cl: cl, commit: k.Group && k.CommitEveryPoll}, nil
}

type consumer struct {
	cl     *kgo.Client
	commit bool
}

func (c *consumer) Poll(ctx context.Context, fn func([]byte)) (int, error) {
	fetches := c.cl.PollFetches(ctx)
	n := 0
	fetches.EachRecord(func(r *kgo.Record) {
		fn(r.Value)
		n++
	})
	if err := ctx.Err(); err != nil {
		return n, err
	}
	var errs []error
	fetches.EachError(func(t string, p int32, err error) {
		errs = append(errs, fmt.Errorf("%s/%d: %w", t, p, err))
	})
	if len(errs) > 0 {
		return n, errors.Join(errs...)
	}
	if c.commit && n > 0 {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		defer cancel()
		if err := c.cl.CommitUncommittedOffsets(cctx); err != nil {
			return n, fmt.Errorf("commit: %w", err)
		}
	}
	return n, nil
}

func (c *consumer) Close() error {
	c.cl.Close()
	return nil
}
