package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/minibroker/minibroker/client/bench"
)

// natsCluster is n embedded NATS servers with JetStream on file storage,
// fsynced on every write (SyncAlways), clustered on loopback when n > 1.
type natsCluster struct {
	servers []*server.Server
	url     string // client URL of the first server
}

// startNATS starts n servers under dir and waits until JetStream is
// usable. A cluster's servers start together (a clustered server's Start
// waits for its peers), each with routes to all the others on ports
// picked beforehand.
func startNATS(ctx context.Context, n int, dir string) (*natsCluster, error) {
	c := &natsCluster{}
	var routes []*url.URL
	var ports []int
	if n > 1 {
		for i := 0; i < n; i++ {
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			ports = append(ports, port)
			routes = append(routes, &url.URL{Scheme: "nats-route", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))})
		}
	}
	for i := 0; i < n; i++ {
		opts := &server.Options{
			ServerName: fmt.Sprintf("s%d", i+1),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("s%d", i+1)),
			SyncAlways: true,
			NoLog:      true,
			NoSigs:     true,
		}
		if n > 1 {
			opts.Cluster = server.ClusterOpts{Name: "bench", Host: "127.0.0.1", Port: ports[i]}
			opts.Routes = routes
		}
		s, err := server.NewServer(opts)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("nats server %d: %w", i+1, err)
		}
		go s.Start()
		c.servers = append(c.servers, s)
	}
	for i, s := range c.servers {
		if !s.ReadyForConnections(30 * time.Second) {
			c.close()
			return nil, fmt.Errorf("nats server %d: not ready", i+1)
		}
	}
	c.url = c.servers[0].ClientURL()
	// Wait for JetStream (in a cluster: its meta leader).
	nc, err := nats.Connect(c.url)
	if err != nil {
		c.close()
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		c.close()
		return nil, err
	}
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil {
			c.close()
			return nil, fmt.Errorf("nats: jetstream not ready: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *natsCluster) close() {
	for _, s := range c.servers {
		s.Shutdown()
	}
	for _, s := range c.servers {
		s.WaitForShutdown()
	}
}

// createStream creates stream name (subject name) with the cluster's
// replication factor, retrying while the cluster settles.
func (c *natsCluster) createStream(ctx context.Context, name string) error {
	nc, err := nats.Connect(c.url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	for {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = js.CreateStream(sctx, jetstream.StreamConfig{
			Name: name, Subjects: []string{name}, Storage: jetstream.FileStorage, Replicas: len(c.servers),
		})
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// natsTarget is the bench.Target of a NATS JetStream cluster: a stream per
// topic (subject = stream name), published with PublishAsync (acked when
// the stream has the message: with R3, a quorum), consumed by a durable
// pull consumer per group with explicit acks of each message.
type natsTarget struct {
	url string
	// maxAckPending is the consumers' MaxAckPending.
	maxAckPending int
}

var _ bench.Target = (*natsTarget)(nil)

func (t *natsTarget) Producer(ctx context.Context, topic string) (bench.Producer, error) {
	nc, err := nats.Connect(t.url)
	if err != nil {
		return nil, err
	}
	p := &natsProducer{nc: nc, topic: topic, futures: make(chan natsPending, 1<<16)}
	// The workload bounds what is in flight; the client's own limit only
	// has to be above it.
	p.js, err = jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1<<20))
	if err != nil {
		nc.Close()
		return nil, err
	}
	p.wg.Add(1)
	go p.acks()
	return p, nil
}

type natsPending struct {
	f    jetstream.PubAckFuture
	done func(error)
}

type natsProducer struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	topic   string
	futures chan natsPending // in publish order, to the acks goroutine
	wg      sync.WaitGroup
	once    sync.Once
}

func (p *natsProducer) Send(value []byte, done func(error)) {
	f, err := p.js.PublishAsync(p.topic, value)
	if err != nil {
		done(err)
		return
	}
	p.futures <- natsPending{f, done}
}

// acks calls each message's done when its ack (or error) arrives, in
// publish order.
func (p *natsProducer) acks() {
	defer p.wg.Done()
	for pd := range p.futures {
		select {
		case <-pd.f.Ok():
			pd.done(nil)
		case err := <-pd.f.Err():
			pd.done(err)
		}
	}
}

func (p *natsProducer) Close() error {
	p.once.Do(func() { close(p.futures) })
	p.wg.Wait()
	p.nc.Close()
	return nil
}

func (t *natsTarget) Consumer(ctx context.Context, topic, group string) (bench.Consumer, error) {
	nc, err := nats.Connect(t.url)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, topic, jetstream.ConsumerConfig{
		Durable: group, AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: t.maxAckPending,
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	it, err := cons.Messages()
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &natsConsumer{nc: nc, it: it}, nil
}

// natsConsumer delivers one message per Poll from the pull consumer's
// prefetching iterator, and acks it (Ack: sent, not waited for, as
// usual).
type natsConsumer struct {
	nc *nats.Conn
	it jetstream.MessagesContext
}

func (c *natsConsumer) Poll(ctx context.Context, fn func([]byte)) (int, error) {
	// Next without options is the cheap path; ctx ending stops the
	// iterator, which ends Next (and the consumer: the workloads end
	// Polls only to finish).
	stop := context.AfterFunc(ctx, c.it.Stop)
	defer stop()
	m, err := c.it.Next()
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if errors.Is(err, nats.ErrTimeout) {
			return 0, nil
		}
		return 0, err
	}
	fn(m.Data())
	if err := m.Ack(); err != nil {
		return 1, err
	}
	return 1, nil
}

func (c *natsConsumer) Close() error {
	c.it.Stop()
	c.nc.Close()
	return nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
