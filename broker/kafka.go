package broker

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/minibroker/minibroker/internal/wire"
	"github.com/minibroker/minibroker/kafka"
)

// listenKafka binds the Kafka listener (nil when DisableKafka).
func (b *Broker) listenKafka() (net.Listener, error) {
	if b.cfg.DisableKafka {
		return nil, nil
	}
	ln, err := net.Listen("tcp", b.cfg.KafkaAddr)
	if err != nil {
		return nil, fmt.Errorf("broker: kafka listen: %w", err)
	}
	ln = b.wrapTLS(ln, listenerKafka) // Kafka's SSL on the same port
	b.kafkaListen = ln.Addr().String()
	b.kafkaAddr = b.cfg.KafkaAdvertisedAddr
	if b.kafkaAddr == "" {
		b.kafkaAddr = ln.Addr().String()
	}
	return ln, nil
}

// startKafka starts serving the Kafka protocol on ln (when not nil), once
// the store is open.
func (b *Broker) startKafka(ln net.Listener) error {
	if ln == nil {
		return nil
	}
	srv, err := kafka.New(kafka.Config{
		Store:            b.store,
		NodeID:           b.id,
		AdvertisedAddr:   b.kafkaAddr,
		Logger:           b.logger.With("listener", "kafka"),
		MaxFrameBytes:    max(b.cfg.MaxFrameBytes, kafka.DefaultMaxFrameBytes),
		MaxMessageBytes:  max(b.cfg.MaxMessageBytes, kafka.DefaultMaxMessageBytes),
		MaxFetchWait:     b.cfg.MaxFetchWait,
		IdleTimeout:      b.cfg.IdleTimeout,
		AutoCreateTopics: b.cfg.AutoCreateTopics,
		InitProducer:     b.initProducerAnywhere,
		LookupCred:       b.lookupCred,
		CreateACLs:       b.createACLsAnywhere,
		DeleteACLs:       b.deleteACLsAnywhere,
		EnforceACLs:      b.authz.enforce.Load(),
		RequireAuth:      b.cfg.authOn(),
		OnAuthFailure: func(mech, user, remote string, err error) {
			b.authFailed("kafka", mech, user, remote, err)
		},
	})
	if err != nil {
		ln.Close()
		return err
	}
	b.kafka = srv
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, kafka.ErrServerClosed) {
			b.logger.Error("kafka listener failed", "error", err)
		}
	}()
	return nil
}

// KafkaAddr is the Kafka address this broker serves on (host:port), as
// advertised to clients (Config.KafkaAdvertisedAddr, else the bound
// address); "" when Config.DisableKafka.
func (b *Broker) KafkaAddr() string { return b.kafkaAddr }

// KafkaListenAddr is the address the Kafka listener is bound to ("" when
// Config.DisableKafka); it differs from KafkaAddr only when
// Config.KafkaAdvertisedAddr is set.
func (b *Broker) KafkaListenAddr() string { return b.kafkaListen }

// initProducerAnywhere allocates a producer id: through Raft on the
// leader, else by asking the leader over the client protocol, since Kafka
// clients send InitProducerId to any broker.
func (b *Broker) initProducerAnywhere(ctx context.Context) (int64, error) {
	if b.store.Node().IsReady() {
		return b.store.InitProducer(ctx)
	}
	_, addr := b.leaderClientAddr()
	if addr == "" || addr == b.addr {
		return 0, fmt.Errorf("%w: no leader known", ErrNoLeader)
	}
	var resp wire.InitProducerResponse
	if err := b.callPeer(ctx, addr, wire.InitProducer, &wire.InitProducerRequest{}, &resp); err != nil {
		return 0, err
	}
	if resp.ErrorCode != wire.CodeNone {
		return 0, wire.Err(resp.ErrorCode, resp.ErrorMessage)
	}
	return resp.ProducerID, nil
}
