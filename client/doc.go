// Package client is the Go client of minibroker: admin calls, a batching
// producer, a partition reader and a consumer-group consumer, speaking
// the protocol of internal/wire over TCP.
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
//	c, err := cl.Consumer(client.ConsumerConfig{Group: "billing", Topics: []string{"orders"}})
//	defer c.Close() // commits what Poll returned, leaves the group
//	for {
//		recs, err := c.Poll(ctx) // joins the group; commits what earlier Polls returned
//		if err != nil { ... }
//		for _, r := range recs { process(r) }
//	}
//
// # Connections
//
// A Client keeps one connection per broker and pipelines requests on it:
// many may be in flight, and answers are matched to requests by
// correlation ID in whatever order they come. Writes (Produce,
// CreateTopic, DeleteTopic) and every consumer-group request go to the
// cluster's leader; reads (Fetch,
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
// # Consumer groups
//
// A Consumer is a member of a consumer group. The group's coordinator, on
// the cluster's leader, shares the partitions of the group's topics among
// its members (StrategyRange, StrategyRoundRobin or StrategySticky) and
// keeps the group's committed offsets in the replicated state, so a
// partition's next owner, or a restarted consumer, resumes from the last
// commit. When a member joins, leaves, or stops sending heartbeats for
// SessionTimeout, the group rebalances: every member's next Poll gives up
// its partitions (OnRevoked) and rejoins, and gets a new assignment
// (OnAssigned). A member that was removed meanwhile finds its partitions
// lost (OnLost): its commits are refused with ErrCommitFenced, as another
// member may be processing the same records. The coordinator fences
// commits by member, generation and assignment, so a removed ("zombie")
// consumer can never move the group's offsets.
//
// What a commit means depends on when it happens. Commit after
// processing for at-least-once delivery (a crash reprocesses what was
// processed since the last commit); this is what auto-commit does, as
// a Poll commits what the earlier Polls returned (at most once per
// AutoCommitInterval):
//
//	recs, _ := c.Poll(ctx)
//	for _, r := range recs { process(r) }
//	err := c.Commit(ctx) // with ManualCommit; auto-commit does it at a later Poll
//
// Commit before processing for at-most-once (a crash skips the rest of
// the batch):
//
//	recs, _ := c.Poll(ctx)
//	if err := c.Commit(ctx, recs...); err == nil {
//		for _, r := range recs { process(r) }
//	}
//
// Admin calls inspect and manage groups: ListGroups, DescribeGroup (with
// each partition's lag), ResetGroupOffsets and DeleteGroup (both only for
// a group without members).
//
// # Concurrency
//
// Client, Producer, Reader and Consumer are safe for concurrent use (a
// Consumer is meant to be driven by one goroutine: see Consumer). Every call that
// waits for the network takes a context and returns when it ends (a
// cancelled request's late answer is dropped). Close methods are
// idempotent and block until their goroutines have returned.
package client
