package client

import (
	"errors"
	"fmt"

	"github.com/minibroker/minibroker/internal/wire"
)

// Errors reported by the broker, one per protocol error code. They are the
// wire package's sentinels themselves (client.ErrNotLeader ==
// wire.ErrNotLeader), so errors.Is works with either. An error built from
// a broker response is a *ServerError that unwraps to one of them.
var (
	ErrUnknown            = wire.ErrUnknown
	ErrMalformed          = wire.ErrMalformed
	ErrUnknownAPI         = wire.ErrUnknownAPI
	ErrUnsupportedVersion = wire.ErrUnsupportedVersion
	ErrFrameTooLarge      = wire.ErrFrameTooLarge
	ErrMessageTooLarge    = wire.ErrMessageTooLarge
	ErrUnknownTopic       = wire.ErrUnknownTopic
	ErrUnknownPartition   = wire.ErrUnknownPartition
	ErrTopicExists        = wire.ErrTopicExists
	ErrInvalidTopicConfig = wire.ErrInvalidTopicConfig
	ErrNotLeader          = wire.ErrNotLeader
	ErrOutcomeUnknown     = wire.ErrOutcomeUnknown
	ErrOffsetOutOfRange   = wire.ErrOffsetOutOfRange
	ErrTimeout            = wire.ErrTimeout
	ErrTooManyInFlight    = wire.ErrTooManyInFlight
	ErrShuttingDown       = wire.ErrShuttingDown
	ErrStorage            = wire.ErrStorage
	ErrNoLeader           = wire.ErrNoLeader
	ErrDuplicateSequence  = wire.ErrDuplicateSequence
	ErrOutOfOrderSequence = wire.ErrOutOfOrderSequence
	ErrUnknownProducer    = wire.ErrUnknownProducer

	// Consumer groups.
	ErrUnknownGroup        = wire.ErrUnknownGroup
	ErrUnknownMember       = wire.ErrUnknownMember
	ErrIllegalGeneration   = wire.ErrIllegalGeneration
	ErrRebalanceInProgress = wire.ErrRebalanceInProgress
	ErrNotAssigned         = wire.ErrNotAssigned
	ErrOffsetRegression    = wire.ErrOffsetRegression
	ErrGroupNotEmpty       = wire.ErrGroupNotEmpty
	ErrInvalidGroup        = wire.ErrInvalidGroup
	ErrUnknownNode         = wire.ErrUnknownNode
	ErrMemberIDRequired    = wire.ErrMemberIDRequired
	// ErrGroupProtocolMismatch: the group name is in use by Kafka clients.
	ErrGroupProtocolMismatch = wire.ErrGroupProtocolMismatch

	// Replica verification (VerifyCluster).
	ErrDigestUnavailable = wire.ErrDigestUnavailable

	// Authorization: the client's user lacks a permission on the topic,
	// group or cluster (an administrator grants it: minibroker acl add).
	ErrTopicAuthorization = wire.ErrTopicAuthorization
	ErrGroupAuthorization = wire.ErrGroupAuthorization
	// Authentication and users: ErrSaslAuthentication for a refused
	// login (wrong user or password; the broker closes the connection),
	// ErrUnauthenticated for a request on a connection that has not
	// logged in (Config.User and Password unset while the broker requires
	// them).
	ErrSaslAuthentication = wire.ErrSaslAuthentication
	ErrUnauthenticated    = wire.ErrUnauthenticated
	ErrInvalidUser        = wire.ErrInvalidUser
	ErrUnknownUser        = wire.ErrUnknownUser
	// ErrClusterAuthorization: the user may not do this to the cluster
	// (user administration needs a superuser).
	ErrClusterAuthorization = wire.ErrClusterAuthorization
)

// Errors of the client itself.
var (
	// ErrReplicasDiffer is wrapped by VerifyReport.Err when some node holds
	// replicated state different from the others' at the same index: a
	// replica has diverged (data damaged or lost on its disk, or a bug).
	ErrReplicasDiffer = errors.New("minibroker: replicas differ")

	// ErrConnectionLost means the connection to a broker failed (read or
	// write error, EOF, or a request that got no answer within its
	// timeout) while a request was pending on it. It is retriable. For a
	// write (Produce, CreateTopic, DeleteTopic) it means the outcome is
	// unknown: the broker may or may not have applied the request, so a
	// retry may duplicate it.
	ErrConnectionLost = errors.New("minibroker: connection lost")

	// ErrBrokerUnavailable means no connection could be made to a broker
	// (dial failure). The request was not sent; it is retriable. New
	// returns it when no seed broker answers.
	ErrBrokerUnavailable = errors.New("minibroker: broker unavailable")

	// ErrClosed is returned by calls on a closed Client, Producer or
	// Reader's client, and given to messages that were still buffered when
	// the Client was closed.
	ErrClosed = errors.New("minibroker: client closed")

	// ErrInvalidConfig is matched (errors.Is) by every *ConfigError.
	ErrInvalidConfig = errors.New("minibroker: invalid config")

	// ErrCommitFenced means a Consumer's commit was refused because the
	// partitions are no longer its own: the group moved on to a new
	// generation (ErrIllegalGeneration), removed the member
	// (ErrUnknownMember), or assigned the partition elsewhere
	// (ErrNotAssigned); the error wraps that cause too. The records
	// processed since the last successful commit will be read again by
	// the partition's new owner. The Consumer rejoins the group at the
	// next Poll.
	ErrCommitFenced = errors.New("minibroker: commit fenced (partitions reassigned)")
)

// ServerError is an error reported by a broker: the protocol code of a
// response and the broker's message. It unwraps to the code's sentinel
// (ErrNotLeader, ...). Use errors.As to get at it.
type ServerError = wire.ServerError

// ConfigError describes why a Config, ProducerConfig or ReaderConfig was
// rejected. It matches ErrInvalidConfig with errors.Is.
type ConfigError struct {
	Field  string // the offending field, e.g. "Brokers"
	Reason string // what is wrong with it
}

// Error implements error.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("%v: %s: %s", ErrInvalidConfig, e.Field, e.Reason)
}

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// OffsetOutOfRangeError is returned by Reader.Fetch when the reader's
// position is outside the partition's stored range: before StartOffset
// (deleted by retention) or after HighWatermark. It matches
// ErrOffsetOutOfRange with errors.Is; Reader.SetOffset to StartOffset (or
// StartEarliest / StartLatest) to resume.
type OffsetOutOfRangeError struct {
	Topic         string
	Partition     int32
	Offset        int64 // the offset that was asked for
	StartOffset   int64 // the first offset still stored
	HighWatermark int64 // the offset the next record will get
	Err           error // the broker's error
}

// Error implements error.
func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("minibroker: fetch %s/%d at offset %d: outside [%d, %d]: %v",
		e.Topic, e.Partition, e.Offset, e.StartOffset, e.HighWatermark, e.Err)
}

// Unwrap returns the broker's error (which matches ErrOffsetOutOfRange).
func (e *OffsetOutOfRangeError) Unwrap() error { return e.Err }

// IsRetriable reports whether the request that failed with err may succeed
// if sent again: a retriable broker code (NotLeader, NoLeader,
// OutcomeUnknown, Timeout, TooManyInFlight, ShuttingDown,
// OutOfOrderSequence), a lost connection, or a broker that could not be
// reached. Retrying a write after ErrOutcomeUnknown, ErrTimeout or
// ErrConnectionLost may store it twice, unless it is an idempotent
// produce (see Producer). Context errors and ErrClosed are not retriable.
func IsRetriable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrInvalidConfig) {
		return false
	}
	if errors.Is(err, ErrConnectionLost) || errors.Is(err, ErrBrokerUnavailable) {
		return true
	}
	return wire.Retriable(wire.CodeOf(err))
}

// outcomeUnknown reports whether a write that failed with err may
// nevertheless have been applied by the broker.
func outcomeUnknown(err error) bool {
	return errors.Is(err, ErrConnectionLost) || errors.Is(err, ErrOutcomeUnknown) ||
		errors.Is(err, ErrTimeout)
}

// withUncertainty adds ErrOutcomeUnknown to the final error of a write
// some attempt of which may have been applied.
func withUncertainty(err error, uncertain bool) error {
	if !uncertain || errors.Is(err, ErrOutcomeUnknown) {
		return err
	}
	return fmt.Errorf("%w (an earlier attempt may have been applied: %w)", err, ErrOutcomeUnknown)
}
