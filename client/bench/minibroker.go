package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/minibroker/minibroker/client"
)

// Minibroker is the Target of a minibroker cluster. Each Producer and
// Consumer opens a client.Client of its own (its own connections). The
// zero value of each config selects the client's defaults; Client.Brokers
// is required. Safe for concurrent use (its fields must not change while
// workloads run).
type Minibroker struct {
	// Client configures each Client opened.
	Client client.Config
	// ProducerConfig configures each Producer (Acks, BatchBytes, Linger, ...).
	ProducerConfig client.ProducerConfig
	// ConsumerConfig configures each group member; Group and Topics are set by
	// the workload.
	ConsumerConfig client.ConsumerConfig
	// CommitEveryPoll makes each Poll commit what it delivered and wait
	// for the commit (ManualCommit and a synchronous Commit), as a
	// consumer that must not reprocess would. If false, the consumer's
	// configured commit mode applies (auto-commit by default: a Poll
	// commits what earlier Polls returned, in the background, at most once
	// per AutoCommitInterval).
	CommitEveryPoll bool
}

var _ Target = (*Minibroker)(nil)

// Producer opens a Client and a Producer for topic; it checks that the
// topic exists.
func (m *Minibroker) Producer(ctx context.Context, topic string) (Producer, error) {
	cl, err := client.New(m.Client)
	if err != nil {
		return nil, err
	}
	if _, err := cl.ListOffsets(ctx, topic, 0, client.Latest); err != nil {
		cl.Close()
		return nil, fmt.Errorf("topic %q: %w", topic, err)
	}
	return &mbProducer{cl: cl, p: cl.Producer(m.ProducerConfig), topic: topic}, nil
}

// Consumer opens a Client and a group Consumer of topic.
func (m *Minibroker) Consumer(ctx context.Context, topic, group string) (Consumer, error) {
	cl, err := client.New(m.Client)
	if err != nil {
		return nil, err
	}
	cfg := m.ConsumerConfig
	cfg.Group, cfg.Topics = group, []string{topic}
	if m.CommitEveryPoll {
		cfg.ManualCommit = true
	}
	c, err := cl.Consumer(cfg)
	if err != nil {
		cl.Close()
		return nil, err
	}
	return &mbConsumer{cl: cl, c: c, commit: m.CommitEveryPoll}, nil
}

type mbProducer struct {
	cl    *client.Client
	p     *client.Producer
	topic string
}

func (p *mbProducer) Send(value []byte, done func(error)) {
	p.p.ProduceAsync(client.Message{Topic: p.topic, Value: value}, func(_ client.Result, err error) { done(err) })
}

func (p *mbProducer) Close() error {
	err := p.p.Close()
	return errors.Join(err, p.cl.Close())
}

// commitTimeout bounds a commit of CommitEveryPoll.
const commitTimeout = 30 * time.Second

type mbConsumer struct {
	cl     *client.Client
	c      *client.Consumer
	commit bool
}

func (c *mbConsumer) Poll(ctx context.Context, fn func([]byte)) (int, error) {
	recs, err := c.c.Poll(ctx)
	for i := range recs {
		fn(recs[i].Value)
	}
	if err != nil {
		return len(recs), err
	}
	if c.commit && len(recs) > 0 {
		// What was delivered is committed even if the workload ends ctx
		// meanwhile (its last message may be among them).
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		defer cancel()
		if err := c.c.Commit(cctx); err != nil {
			return len(recs), fmt.Errorf("commit: %w", err)
		}
	}
	return len(recs), nil
}

func (c *mbConsumer) Close() error {
	err := c.c.Close()
	return errors.Join(err, c.cl.Close())
}
