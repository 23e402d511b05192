// Package client is the Go client of minibroker: admin calls, a batching
// producer and a partition reader, speaking the protocol of
// internal/wire over TCP.
//
//	cl, err := client.New(client.Config{Brokers: []string{addr}})
//	if err != nil { ... }
//	defer cl.Close()
//	err = cl.CreateTopic(ctx, "orders", client.TopicConfig{Partitions: 3})
//	p := cl.Producer(client.ProducerConfig{Acks: client.AcksAll})
//	defer p.Close()
//	res, err := p.Produce(ctx, client.Message{Topic: "orders", Key: k, Value: v})
//	// res.Partition == client.HashKey(k, 3); res.Offset is the record's offset.
//
//	r := cl.Reader(client.ReaderConfig{Topic: "orders", Partition: res.Partition, Offset: client.StartEarliest})
//	recs, err := r.Fetch(ctx) // long-polls up to MaxWait; advances r.Offset()
//
// # Connections
//
// A Client keeps one connection per broker and pipelines requests on it:
// many may be in flight, and answers are matched to requests by
// correlation ID in whatever order they come. Writes (Produce,
// CreateTopic, DeleteTopic) go to the cluster's leader; reads (Fetch,
// ListOffsets, Metadata) go to the leader when it is known, for the
// freshest high-water marks, else to any node. A NotLeader answer makes
// the client go to the leader it names, or refresh metadata and back off
// while an election runs. A lost connection fails its pending requests
// with ErrConnectionLost and is redialed on next use.
//
// # Delivery
//
// Delivery is at-least-once. With AcksAll, an acknowledged message is on a
// quorum of brokers and survives failover. A write that fails with
// ErrOutcomeUnknown, ErrTimeout or ErrConnectionLost may or may not have
// been stored; the Producer retries it (see Producer). Errors from the
// broker are *ServerError values that match the sentinels (ErrNotLeader,
// ...) with errors.Is; IsRetriable tells which are worth a retry.
//
// With AcksAll the Producer is idempotent by default
// (ProducerConfig.Idempotence): its batches carry a producer id and
// sequence numbers, and the broker stores a retried batch only once and
// only in order, also across a leader failover. That removes the
// duplicates the Producer's own retries would cause, within the life of
// one Producer. It does not remove the duplicates of an application that
// sends a message again (after a crash, a restarted Producer has new
// producer ids), nor the records a consumer reads twice because it
// crashed before committing its offset; and a batch that is renumbered
// after a reset (see Producer) may be stored twice. Without idempotence
// (IdempotenceOff, AcksLeader, AcksNone) a retry may store a batch twice.
//
// # Concurrency
//
// Client, Producer and Reader are safe for concurrent use. Every call that
// waits for the network takes a context and returns when it ends (a
// cancelled request's late answer is dropped). Close methods are
// idempotent and block until their goroutines have returned.
package client
