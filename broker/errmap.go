package broker

import (
	"context"
	"errors"

	"github.com/minibroker/minibroker/internal/wire"
	mlog "github.com/minibroker/minibroker/log"
	"github.com/minibroker/minibroker/replication"
)

// errTable maps the errors of the layers below to protocol codes. It is the
// one place where that mapping lives. Order matters only where an error
// matches several (OutcomeUnknown before Shutdown: an entry handed to raft
// before the node stopped has an unknown outcome).
var errTable = []struct {
	err  error
	code wire.Code
}{
	{replication.ErrOutcomeUnknown, wire.CodeOutcomeUnknown},
	{replication.ErrNotLeader, wire.CodeNotLeader},
	// The connection's or the broker's context ended before the request
	// was handed over: the broker is closing (or the client left).
	{context.Canceled, wire.CodeShuttingDown},
	{replication.ErrShutdown, wire.CodeShuttingDown},
	{replication.ErrTimeout, wire.CodeTimeout},
	{replication.ErrUnknownTopic, wire.CodeUnknownTopic},
	{replication.ErrUnknownPartition, wire.CodeUnknownPartition},
	{replication.ErrTopicExists, wire.CodeTopicExists},
	{replication.ErrInvalidUser, wire.CodeInvalidUser},
	{replication.ErrUserExists, wire.CodeInvalidUser},
	{replication.ErrUnknownUser, wire.CodeUnknownUser},
	{replication.ErrInvalidTopic, wire.CodeInvalidTopicConfig},
	{replication.ErrBadCommand, wire.CodeMalformed},
	{replication.ErrStopped, wire.CodeStorage},
	{replication.ErrUnknownProducer, wire.CodeUnknownProducer},
	{replication.ErrOutOfOrderSequence, wire.CodeOutOfOrderSequence},
	{replication.ErrDuplicateSequence, wire.CodeDuplicateSequence},
	// A request no correct producer sends: the message says which rule.
	{replication.ErrInvalidSequence, wire.CodeMalformed},
	{replication.ErrIdempotenceNeedsAcksAll, wire.CodeMalformed},
	// Native producers have no epochs (always 0); a Kafka one can be
	// fenced, and the Kafka listener maps it to INVALID_PRODUCER_EPOCH.
	{replication.ErrInvalidProducerEpoch, wire.CodeMalformed},
	{replication.ErrUnknownGroup, wire.CodeUnknownGroup},
	{replication.ErrUnknownMember, wire.CodeUnknownMember},
	{replication.ErrIllegalGeneration, wire.CodeIllegalGeneration},
	{replication.ErrNotAssigned, wire.CodeNotAssigned},
	{replication.ErrOffsetRegression, wire.CodeOffsetRegression},
	{replication.ErrGroupNotEmpty, wire.CodeGroupNotEmpty},
	{replication.ErrInconsistentGroupProtocol, wire.CodeGroupProtocolMismatch},
	{replication.ErrInvalidGroup, wire.CodeInvalidGroup},
	{replication.ErrDigestUnavailable, wire.CodeDigestUnavailable},
	{mlog.ErrOffsetOutOfRange, wire.CodeOffsetOutOfRange},
	{mlog.ErrMalformedBatch, wire.CodeMalformed},
	{context.DeadlineExceeded, wire.CodeTimeout},
	{ErrClosed, wire.CodeShuttingDown},
}

// codeOf returns the protocol code for err (CodeNone for nil). Errors that
// are already protocol errors keep their code; anything unknown is
// CodeUnknown.
func codeOf(err error) wire.Code {
	if err == nil {
		return wire.CodeNone
	}
	for _, e := range errTable {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return wire.CodeOf(err)
}
