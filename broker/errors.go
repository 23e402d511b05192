package broker

import (
	"errors"

	"github.com/minibroker/minibroker/internal/wire"
)

// Errors a client can see, re-exported from the protocol so that
// errors.Is works across broker, client and wire.
var (
	ErrUnknownTopic     = wire.ErrUnknownTopic
	ErrUnknownPartition = wire.ErrUnknownPartition
	ErrTopicExists      = wire.ErrTopicExists
	ErrNotLeader        = wire.ErrNotLeader
	ErrNoLeader         = wire.ErrNoLeader
	ErrOutcomeUnknown   = wire.ErrOutcomeUnknown
	ErrMessageTooLarge  = wire.ErrMessageTooLarge
	ErrOffsetOutOfRange = wire.ErrOffsetOutOfRange
)

var (
	// ErrInvalidConfig is wrapped by the error Start returns for a Config
	// that fails Validate.
	ErrInvalidConfig = errors.New("broker: invalid config")
	// ErrClosed is returned by Start's background work and by methods
	// called after Close.
	ErrClosed = errors.New("broker: closed")
	// ErrStartTimeout means Start gave up waiting for the broker to become
	// ready (no election, or the cluster to join did not answer).
	ErrStartTimeout = errors.New("broker: not ready before StartTimeout")
	// ErrStopped is wrapped by Err when the broker closed itself because
	// its replication stopped on a fatal local error (see fatal.go).
	ErrStopped = errors.New("broker: stopped on a fatal error")
)
