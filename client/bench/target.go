package bench

import "context"

// Target is a broker the workloads run against. Each Producer and
// Consumer it returns should have connections of its own, as separate
// processes would. Implementations must be safe for concurrent use.
type Target interface {
	// Producer returns a producer of topic, or an error (unreachable
	// broker, unknown topic, ...).
	Producer(ctx context.Context, topic string) (Producer, error)
	// Consumer returns a member of consumer group group reading topic,
	// from the earliest stored message for a new group.
	Consumer(ctx context.Context, topic, group string) (Consumer, error)
}

// Producer sends messages.
type Producer interface {
	// Send queues value for sending. done is called exactly once, on any
	// goroutine, with nil once the message is acknowledged (as durably as
	// the Target is configured to wait for) or with the error that failed
	// it. The producer may keep value until done is called. Send may block
	// while the producer's buffers are full.
	Send(value []byte, done func(error))
	// Close waits until every sent message is done and releases the
	// producer.
	Close() error
}

// Consumer receives messages as a member of a consumer group.
type Consumer interface {
	// Poll waits until messages arrive or ctx ends (the workloads end
	// their consumers' Polls by cancelling ctx; the error is then ctx's).
	// It calls fn with each message's value as soon as it is delivered,
	// and then acknowledges or commits the messages as the Target is
	// configured to. fn must not keep value. It returns how many messages
	// it delivered.
	Poll(ctx context.Context, fn func(value []byte)) (int, error)
	// Close leaves the group and releases the consumer.
	Close() error
}
