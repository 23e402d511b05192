package client

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// Assignment strategies for ConsumerConfig.Strategy. The group's
// coordinator (on the cluster's leader) assigns partitions; every member
// of a group must name the same strategy.
const (
	// StrategyRange gives each member, per topic, a contiguous range of
	// the topic's partitions. The default.
	StrategyRange = wire.StrategyRange
	// StrategyRoundRobin deals all subscribed partitions out in turn.
	StrategyRoundRobin = wire.StrategyRoundRobin
	// StrategySticky balances the partitions while keeping as many as
	// possible where they were in the previous generation.
	StrategySticky = wire.StrategySticky
)

// Defaults applied to zero ConsumerConfig fields.
const (
	DefaultSessionTimeout  = 10 * time.Second
	DefaultMaxPollInterval = 5 * time.Minute
	// DefaultAutoCommitInterval is how often auto-commit commits at most.
	// Every commit is a Raft write on every node: committing at every Poll
	// of a consumer that keeps up with a steady stream costs one Raft
	// write per message delivered, which doubles the Raft traffic and the
	// latency of everything else under load (see docs/performance.md).
	// A crashed member's successor then reprocesses up to about this long
	// of records; a graceful Close or rebalance commits everything first.
	DefaultAutoCommitInterval = time.Second
)

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String returns "topic/partition".
func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// OffsetReset says where a Consumer starts reading a partition for which
// its group has no committed offset, or whose position fell out of the
// partition's stored range (deleted by retention). The zero value is
// ResetEarliest.
type OffsetReset int8

const (
	// ResetEarliest starts at the partition's first stored offset: a new
	// group reads everything still stored. The zero value and default.
	ResetEarliest OffsetReset = iota
	// ResetLatest starts at the partition's high-water mark: a new group
	// reads only what is produced from then on.
	ResetLatest
)

// String returns "earliest" or "latest".
func (r OffsetReset) String() string {
	switch r {
	case ResetEarliest:
		return "earliest"
	case ResetLatest:
		return "latest"
	}
	return fmt.Sprintf("OffsetReset(%d)", int8(r))
}

// ConsumerConfig configures a Consumer: a member of a consumer group. The
// zero value of every field but Group and Topics selects its default.
type ConsumerConfig struct {
	// Group is the consumer group's name. Required.
	Group string
	// Topics is the subscription: the group's coordinator shares their
	// partitions among the group's members. Required.
	Topics []string
	// Strategy is StrategyRange (default), StrategyRoundRobin or
	// StrategySticky.
	Strategy string
	// SessionTimeout: the coordinator removes the member (and gives its
	// partitions to others) when no heartbeat has reached it for this
	// long. Default 10s; it travels in milliseconds, at most MaxInt32
	// (the broker's coordinator accepts 100ms to 1h, and so much for
	// MaxPollInterval too; it refuses others with ErrInvalidGroup).
	SessionTimeout time.Duration
	// HeartbeatInterval is how often the Consumer's background goroutine
	// sends a heartbeat. Default SessionTimeout/3; must be below
	// SessionTimeout.
	HeartbeatInterval time.Duration
	// MaxPollInterval is how long the application may go without calling
	// Poll (while processing what Poll returned). Past it the Consumer
	// leaves the group (its partitions go to other members) and the next
	// Poll joins again. It is also the rebalance timeout sent to the
	// coordinator: how long a rebalance waits for this member to rejoin.
	// Default 5m.
	MaxPollInterval time.Duration
	// AutoOffsetReset is where to start a partition that has no committed
	// offset, or whose position is out of range: ResetEarliest (default)
	// or ResetLatest.
	AutoOffsetReset OffsetReset
	// ManualCommit false (the default) is auto-commit: each Poll first
	// commits, in the background, the positions of what the earlier Polls
	// returned (the application asked for more, so it is done with them),
	// which gives at-least-once processing. Rebalances and Close commit
	// them synchronously. With ManualCommit true only Commit commits.
	ManualCommit bool
	// AutoCommitInterval lets an auto-commit happen at most this often: a
	// Poll within the interval after the last auto-commit does not commit,
	// and a Poll that waits for records commits once the interval has
	// passed. Default DefaultAutoCommitInterval (1s, as Kafka clients
	// such as Sarama; the Java client's is 5s); negative means at every
	// Poll. Commits are pipelined (one in flight; positions reached
	// meanwhile go in the next), so Poll never waits.
	AutoCommitInterval time.Duration
	// MaxPollRecords bounds how many records one Poll returns. Default 0:
	// all that are buffered.
	MaxPollRecords int
	// FetchMaxBytes is a soft limit on the records of one fetch of one
	// partition. Default 1 MiB (less if MaxFrame is under 2 MiB + 64 KiB);
	// at most MaxFrame - 1 MiB - 64 KiB.
	FetchMaxBytes int32
	// FetchMaxWait is how long a fetch waits at the broker for records
	// when none are available (long poll). Default 500ms; negative means
	// do not wait.
	FetchMaxWait time.Duration
	// OnAssigned, if set, is called inside Poll after every join of the
	// group, with the new assignment (possibly empty: more members than
	// partitions), before fetching starts: the positions from the
	// committed offsets are set, and Seek may change them. ctx is Poll's.
	OnAssigned func(ctx context.Context, partitions []TopicPartition)
	// OnRevoked, if set, is called inside Poll before the Consumer rejoins
	// the group in a rebalance, with the partitions it owned (not if it
	// owned none), while its generation is still valid: the application
	// may Commit here (with auto-commit, the positions have already been
	// committed). Rebalances are eager: all partitions are revoked, and
	// the next OnAssigned may give some of them back.
	OnRevoked func(ctx context.Context, partitions []TopicPartition)
	// OnLost, if set, is called inside Poll instead of OnRevoked when the
	// partitions were already taken away (the session expired, a commit
	// was fenced, or the Consumer left after MaxPollInterval): other
	// members may own them, and commits would be rejected.
	OnLost func(ctx context.Context, partitions []TopicPartition)
}

// maxDurationMs is the longest duration that travels as int32 milliseconds.
const maxDurationMs = time.Duration(math.MaxInt32) * time.Millisecond

// Validate reports the first problem with c as a *ConfigError (matching
// ErrInvalidConfig), or nil. Zero fields are valid (they select
// defaults), except Group and Topics.
func (c ConsumerConfig) Validate() error {
	if c.Group == "" {
		return &ConfigError{"Group", "required"}
	}
	if len(c.Topics) == 0 {
		return &ConfigError{"Topics", "at least one topic is required"}
	}
	for _, t := range c.Topics {
		if t == "" {
			return &ConfigError{"Topics", "empty topic name"}
		}
	}
	switch c.Strategy {
	case "", StrategyRange, StrategyRoundRobin, StrategySticky:
	default:
		return &ConfigError{"Strategy", fmt.Sprintf("%q is not %q, %q or %q", c.Strategy, StrategyRange, StrategyRoundRobin, StrategySticky)}
	}
	session := c.SessionTimeout
	if session == 0 {
		session = DefaultSessionTimeout
	}
	switch {
	case c.SessionTimeout < 0 || c.SessionTimeout > maxDurationMs:
		return &ConfigError{"SessionTimeout", "must be positive and at most MaxInt32 milliseconds"}
	case c.SessionTimeout > 0 && c.SessionTimeout < time.Millisecond:
		return &ConfigError{"SessionTimeout", "must be at least 1ms"}
	case c.HeartbeatInterval < 0 || c.HeartbeatInterval >= session:
		return &ConfigError{"HeartbeatInterval", fmt.Sprintf("must be in [0, SessionTimeout (%v))", session)}
	case c.MaxPollInterval < 0 || c.MaxPollInterval > maxDurationMs:
		return &ConfigError{"MaxPollInterval", "must be positive and at most MaxInt32 milliseconds"}
	case c.MaxPollInterval > 0 && c.MaxPollInterval < time.Millisecond:
		return &ConfigError{"MaxPollInterval", "must be at least 1ms"}
	case c.AutoOffsetReset != ResetEarliest && c.AutoOffsetReset != ResetLatest:
		return &ConfigError{"AutoOffsetReset", fmt.Sprintf("%d is not ResetEarliest or ResetLatest", c.AutoOffsetReset)}
	case c.MaxPollRecords < 0:
		return &ConfigError{"MaxPollRecords", "must not be negative"}
	case c.FetchMaxBytes < 0:
		return &ConfigError{"FetchMaxBytes", "must not be negative"}
	case c.FetchMaxWait > maxDurationMs:
		return &ConfigError{"FetchMaxWait", "too long"}
	}
	return nil
}

// withDefaults returns c with zero fields set to their defaults (FetchMaxBytes
// is set by Client.Consumer, which knows MaxFrame).
func (c ConsumerConfig) withDefaults() ConsumerConfig {
	if c.Strategy == "" {
		c.Strategy = StrategyRange
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = c.SessionTimeout / 3
	}
	if c.MaxPollInterval == 0 {
		c.MaxPollInterval = DefaultMaxPollInterval
	}
	switch {
	case c.AutoCommitInterval == 0:
		c.AutoCommitInterval = DefaultAutoCommitInterval
	case c.AutoCommitInterval < 0:
		c.AutoCommitInterval = 0 // at every Poll
	}
	switch {
	case c.FetchMaxWait == 0:
		c.FetchMaxWait = DefaultFetchMaxWait
	case c.FetchMaxWait < 0:
		c.FetchMaxWait = 0
	}
	c.Topics = append([]string(nil), c.Topics...)
	return c
}
