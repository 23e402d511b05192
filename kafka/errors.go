package kafka

import (
	"context"
	"errors"

	"github.com/minibroker/minibroker/internal/compress"
	mlog "github.com/minibroker/minibroker/log"
	"github.com/minibroker/minibroker/replication"
)

var (
	// ErrInvalidConfig is wrapped by the errors of Config.Validate and New.
	ErrInvalidConfig = errors.New("kafka: invalid config")
	// ErrServerClosed is returned by Serve after Close.
	ErrServerClosed = errors.New("kafka: server closed")
	// errMalformed is a request that cannot be parsed: the connection is
	// closed.
	errMalformed = errors.New("kafka: malformed request")
)

// Kafka error codes this package answers with (the protocol's numbers; see
// Kafka's Errors.java).
const (
	codeNone                     int16 = 0
	codeUnknownServerError       int16 = -1
	codeOffsetOutOfRange         int16 = 1
	codeCorruptMessage           int16 = 2
	codeUnknownTopicOrPartition  int16 = 3
	codeLeaderNotAvailable       int16 = 5
	codeNotLeaderOrFollower      int16 = 6
	codeRequestTimedOut          int16 = 7
	codeMessageTooLarge          int16 = 10
	codeInvalidTopic             int16 = 17
	codeInvalidRequiredAcks      int16 = 21
	codeUnsupportedVersion       int16 = 35
	codeTopicAlreadyExists       int16 = 36
	codeInvalidPartitions        int16 = 37
	codeInvalidReplicationFactor int16 = 38
	codeInvalidReplicaAssignment int16 = 39
	codeInvalidConfig            int16 = 40
	codeNotController            int16 = 41
	codeInvalidRequest           int16 = 42
	codeOutOfOrderSequence       int16 = 45
	codeDuplicateSequence        int16 = 46
	codeInvalidProducerEpoch     int16 = 47
	codeKafkaStorageError        int16 = 56
	codeUnknownProducerID        int16 = 59
	codeInvalidRecord            int16 = 87
	codeUnknownTopicID           int16 = 100
	codeCoordinatorNotAvailable  int16 = 15
	codeOffsetMetadataTooLarge   int16 = 12
	codeNotCoordinator           int16 = 16
	codeIllegalGeneration        int16 = 22
	// codeInconsistentGroupProtocol: no protocol common to all members, or
	// a group name in use by another protocol type or by native consumers.
	codeInconsistentGroupProtocol int16 = 23
	codeInvalidGroupID            int16 = 24
	codeUnknownMemberID           int16 = 25
	codeInvalidSessionTimeout     int16 = 26
	codeRebalanceInProgress       int16 = 27
	codeNonEmptyGroup             int16 = 68
	codeGroupMaxSizeReached       int16 = 81
	codeGroupIDNotFound           int16 = 69
	codeMemberIDRequired          int16 = 79
	codeFencedInstanceID          int16 = 82
	codeGroupSubscribedToTopic    int16 = 86
)

// errTable maps the errors of the layers below to Kafka codes: the one
// place where that mapping lives. Order matters where an error matches
// several (OutcomeUnknown before Shutdown: the entry may still commit).
var errTable = []struct {
	err  error
	code int16
}{
	// The outcome is unknown: the client retries (an idempotent producer's
	// retry is recognised by its sequence).
	{replication.ErrOutcomeUnknown, codeRequestTimedOut},
	{replication.ErrNotLeader, codeNotLeaderOrFollower},
	{replication.ErrShutdown, codeNotLeaderOrFollower},
	{context.Canceled, codeNotLeaderOrFollower},
	{replication.ErrTimeout, codeRequestTimedOut},
	{context.DeadlineExceeded, codeRequestTimedOut},
	{replication.ErrUnknownTopic, codeUnknownTopicOrPartition},
	{replication.ErrUnknownPartition, codeUnknownTopicOrPartition},
	{replication.ErrTopicExists, codeTopicAlreadyExists},
	{replication.ErrInvalidTopic, codeInvalidTopic},
	{replication.ErrUnknownProducer, codeUnknownProducerID},
	{replication.ErrOutOfOrderSequence, codeOutOfOrderSequence},
	{replication.ErrDuplicateSequence, codeDuplicateSequence},
	{replication.ErrInvalidProducerEpoch, codeInvalidProducerEpoch},
	{replication.ErrInvalidSequence, codeOutOfOrderSequence},
	{replication.ErrIdempotenceNeedsAcksAll, codeInvalidRequiredAcks},
	{replication.ErrStopped, codeKafkaStorageError},
	{replication.ErrBadCommand, codeCorruptMessage},
	{replication.ErrInvalidGroup, codeInvalidGroupID},
	{replication.ErrUnknownGroup, codeGroupIDNotFound},
	{replication.ErrUnknownMember, codeUnknownMemberID},
	{replication.ErrIllegalGeneration, codeIllegalGeneration},
	{replication.ErrFencedInstanceID, codeFencedInstanceID},
	{replication.ErrInconsistentGroupProtocol, codeInconsistentGroupProtocol},
	{replication.ErrGroupNotEmpty, codeNonEmptyGroup},
	{replication.ErrGroupSubscribed, codeGroupSubscribedToTopic},
	{mlog.ErrOffsetOutOfRange, codeOffsetOutOfRange},
	{mlog.ErrCorrupt, codeCorruptMessage},
	{mlog.ErrMalformedBatch, codeCorruptMessage},
	{mlog.ErrBatchTooLarge, codeMessageTooLarge},
	{mlog.ErrUnsupportedBatch, codeInvalidRecord},
	{compress.ErrTooLarge, codeMessageTooLarge},
	{compress.ErrUnknownCodec, codeCorruptMessage},
}

// codeOf returns the Kafka error code for err: codeNone for nil, and
// UNKNOWN_SERVER_ERROR for anything not in errTable.
func codeOf(err error) int16 {
	if err == nil {
		return codeNone
	}
	var ke *kafkaError
	if errors.As(err, &ke) {
		return ke.code
	}
	for _, e := range errTable {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return codeUnknownServerError
}

// kafkaError is an error this package decided the Kafka code of.
type kafkaError struct {
	code int16
	msg  string
}

func (e *kafkaError) Error() string { return e.msg }

func kerr(code int16, msg string) error { return &kafkaError{code: code, msg: msg} }

// errMessage is err's text for a response's nullable message field.
func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
