package main

import (
	"context"
	"errors"

	"github.com/minibroker/minibroker/broker/localcluster"
	"github.com/minibroker/minibroker/client"
	"github.com/minibroker/minibroker/client/bench"
	"github.com/minibroker/minibroker/replication"
)

// mbCluster is an embedded minibroker cluster and an admin client.
type mbCluster struct {
	c     *localcluster.Cluster
	admin *client.Client
}

func startMinibroker(n int, store replication.RaftLogStore, dir string) (*mbCluster, error) {
	c, err := localcluster.Start(n, localcluster.Options{Dir: dir, RaftLog: store})
	if err != nil {
		return nil, err
	}
	admin, err := client.New(client.Config{Brokers: c.Addrs()})
	if err != nil {
		c.Close()
		return nil, err
	}
	return &mbCluster{c: c, admin: admin}, nil
}

func (m *mbCluster) close() {
	m.admin.Close()
	m.c.Close()
}

func (m *mbCluster) createTopic(ctx context.Context, topic string) error {
	err := m.admin.CreateTopic(ctx, topic, client.TopicConfig{Partitions: 1})
	if errors.Is(err, client.ErrTopicExists) {
		return nil
	}
	return err
}

// target is acks=all (idempotent, the default), default batching; the
// consumers commit after every poll and wait for the commit.
func (m *mbCluster) target() bench.Target {
	return &bench.Minibroker{
		Client:          client.Config{Brokers: m.c.Addrs()},
		ProducerConfig:  client.ProducerConfig{Acks: client.AcksAll},
		CommitEveryPoll: true,
	}
}

// e2eTarget is target with the consumer's default auto-commit (in the
// background, so a Poll never waits for it) instead of a commit waited for
// after every poll: the end-to-end workload measures delivery, and NATS's
// consumer does not wait for its acks either.
func (m *mbCluster) e2eTarget() bench.Target {
	return &bench.Minibroker{
		Client:         client.Config{Brokers: m.c.Addrs()},
		ProducerConfig: client.ProducerConfig{Acks: client.AcksAll},
	}
}
