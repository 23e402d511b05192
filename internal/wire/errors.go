package wire

import (
	"errors"
	"strconv"
	"strings"
)

// Code is a protocol error code, carried in the ErrorCode field of every
// response body. Codes are append-only: a code, once released, keeps its
// number and meaning forever. CodeNone (0) means success.
type Code uint16

// Error codes. Append new codes at the end of the list (and of codeTable);
// never renumber or reuse one.
const (
	CodeNone                  Code = iota // success
	CodeUnknown                           // internal or unexpected broker error
	CodeMalformed                         // the request could not be decoded or is invalid
	CodeUnknownAPI                        // the API key is not known to the broker
	CodeUnsupportedVersion                // the API version is outside the supported range
	CodeFrameTooLarge                     // the frame exceeds the receiver's limit
	CodeMessageTooLarge                   // one record exceeds the broker's message limit
	CodeUnknownTopic                      // the topic does not exist
	CodeUnknownPartition                  // the partition does not exist in the topic
	CodeTopicExists                       // CreateTopic: the topic already exists
	CodeInvalidTopicConfig                // CreateTopic: bad partition count or config
	CodeNotLeader                         // this broker is not the partition's leader
	CodeOutcomeUnknown                    // leadership lost mid-write: it may or may not have committed
	CodeOffsetOutOfRange                  // the offset is outside [StartOffset, HighWatermark]
	CodeTimeout                           // the request did not complete within its timeout
	CodeTooManyInFlight                   // the broker is shedding load; back off and retry
	CodeShuttingDown                      // the broker is shutting down
	CodeStorage                           // a disk error on the broker
	CodeNoLeader                          // no leader right now: an election is in progress
	CodeDuplicateSequence                 // idempotent produce: an old batch already stored, its offset no longer known
	CodeOutOfOrderSequence                // idempotent produce: a gap in the producer's sequence numbers
	CodeUnknownProducer                   // idempotent produce: producer id unknown or expired; get a new one
	CodeUnknownGroup                      // the consumer group does not exist
	CodeUnknownMember                     // the member is not (or no longer) in the group: join afresh
	CodeIllegalGeneration                 // the request's generation is not the group's: rejoin
	CodeRebalanceInProgress               // the group is rebalancing: rejoin to get the new assignment
	CodeNotAssigned                       // the member does not own the partition in this generation
	CodeOffsetRegression                  // the commit would move the committed offset backwards
	CodeGroupNotEmpty                     // the operation needs a group without members
	CodeInvalidGroup                      // bad group name, subscription, strategy or timeout
	CodeUnknownNode                       // RemoveNode: no node with this id in the cluster
	CodeMemberIDRequired                  // JoinGroup: join again with the member id in the response
	CodeDigestUnavailable                 // ReplicaDigest: no digest at that index on this node; propose a new one (the same request gets the same answer)
	CodeGroupProtocolMismatch             // the group name is in use by Kafka clients (or the other way round)
	CodeTopicAuthorization                // the principal may not do this to the topic (ACLs)
	CodeGroupAuthorization                // the principal may not do this to the group (ACLs)
	CodeClusterAuthorization              // the principal may not do this to the cluster (ACLs)
	CodeSaslAuthentication                // SaslAuthenticate failed: unknown user, wrong password or bad message (the connection closes)
	CodeUnauthenticated                   // the connection must authenticate (SaslAuthenticate) first (the connection closes)
	CodeInvalidUser                       // PutUser/DeleteUser: bad user name, mechanism or password
	CodeUnknownUser                       // DeleteUser: no such user (or no credential of that mechanism)
)

// Sentinel errors, one per non-zero Code. Compare with errors.Is: errors
// returned by this package and by Err wrap exactly one of them.
var (
	ErrUnknown             = errors.New("minibroker: unknown broker error")
	ErrMalformed           = errors.New("minibroker: malformed request")
	ErrUnknownAPI          = errors.New("minibroker: unknown API")
	ErrUnsupportedVersion  = errors.New("minibroker: unsupported API version")
	ErrFrameTooLarge       = errors.New("minibroker: frame too large")
	ErrMessageTooLarge     = errors.New("minibroker: message too large")
	ErrUnknownTopic        = errors.New("minibroker: unknown topic")
	ErrUnknownPartition    = errors.New("minibroker: unknown partition")
	ErrTopicExists         = errors.New("minibroker: topic already exists")
	ErrInvalidTopicConfig  = errors.New("minibroker: invalid topic config")
	ErrNotLeader           = errors.New("minibroker: not the leader for this partition")
	ErrOutcomeUnknown      = errors.New("minibroker: write outcome unknown (leadership lost while in flight; it may have committed)")
	ErrOffsetOutOfRange    = errors.New("minibroker: offset out of range")
	ErrTimeout             = errors.New("minibroker: request timed out")
	ErrTooManyInFlight     = errors.New("minibroker: too many requests in flight")
	ErrShuttingDown        = errors.New("minibroker: broker is shutting down")
	ErrStorage             = errors.New("minibroker: broker storage error")
	ErrNoLeader            = errors.New("minibroker: no leader (election in progress)")
	ErrDuplicateSequence   = errors.New("minibroker: duplicate sequence (batch already stored)")
	ErrOutOfOrderSequence  = errors.New("minibroker: out-of-order sequence (an earlier batch is missing)")
	ErrUnknownProducer     = errors.New("minibroker: unknown or expired producer id")
	ErrUnknownGroup        = errors.New("minibroker: unknown consumer group")
	ErrUnknownMember       = errors.New("minibroker: unknown group member (removed from the group)")
	ErrIllegalGeneration   = errors.New("minibroker: stale group generation")
	ErrRebalanceInProgress = errors.New("minibroker: group rebalance in progress")
	ErrNotAssigned         = errors.New("minibroker: partition not assigned to this member")
	ErrOffsetRegression    = errors.New("minibroker: committed offset would go backwards")
	ErrGroupNotEmpty       = errors.New("minibroker: group has active members")
	ErrInvalidGroup        = errors.New("minibroker: invalid group request")
	ErrUnknownNode         = errors.New("minibroker: unknown node")
	ErrMemberIDRequired    = errors.New("minibroker: join again with the member id given")
	ErrDigestUnavailable   = errors.New("minibroker: replica digest not available at this index")
	// ErrGroupProtocolMismatch: a native consumer joined or committed to a
	// group that Kafka clients use (with members), or the other way round.
	ErrGroupProtocolMismatch = errors.New("minibroker: group is in use by Kafka clients")
	// Authorization: the connection's principal lacks a permission (see
	// docs/security.md). Not retriable: an administrator must grant it.
	ErrTopicAuthorization   = errors.New("minibroker: not authorized for the topic")
	ErrGroupAuthorization   = errors.New("minibroker: not authorized for the group")
	ErrClusterAuthorization = errors.New("minibroker: not authorized for the cluster")
	// Authentication (docs/security.md).
	ErrSaslAuthentication = errors.New("minibroker: authentication failed")
	ErrUnauthenticated    = errors.New("minibroker: not authenticated")
	ErrInvalidUser        = errors.New("minibroker: invalid user")
	ErrUnknownUser        = errors.New("minibroker: unknown user")
)

// codeInfo is one row of codeTable.
type codeInfo struct {
	name      string // Go-style name, used by Code.String
	err       error  // the sentinel
	retriable bool   // see Retriable
}

// codeTable is the one definition of the code <-> sentinel mapping. It is
// indexed by Code; the entry for CodeNone has a nil err. Append only.
var codeTable = [...]codeInfo{
	CodeNone:                  {"None", nil, false},
	CodeUnknown:               {"Unknown", ErrUnknown, false},
	CodeMalformed:             {"Malformed", ErrMalformed, false},
	CodeUnknownAPI:            {"UnknownAPI", ErrUnknownAPI, false},
	CodeUnsupportedVersion:    {"UnsupportedVersion", ErrUnsupportedVersion, false},
	CodeFrameTooLarge:         {"FrameTooLarge", ErrFrameTooLarge, false},
	CodeMessageTooLarge:       {"MessageTooLarge", ErrMessageTooLarge, false},
	CodeUnknownTopic:          {"UnknownTopic", ErrUnknownTopic, false},
	CodeUnknownPartition:      {"UnknownPartition", ErrUnknownPartition, false},
	CodeTopicExists:           {"TopicExists", ErrTopicExists, false},
	CodeInvalidTopicConfig:    {"InvalidTopicConfig", ErrInvalidTopicConfig, false},
	CodeNotLeader:             {"NotLeader", ErrNotLeader, true},
	CodeOutcomeUnknown:        {"OutcomeUnknown", ErrOutcomeUnknown, true},
	CodeOffsetOutOfRange:      {"OffsetOutOfRange", ErrOffsetOutOfRange, false},
	CodeTimeout:               {"Timeout", ErrTimeout, true},
	CodeTooManyInFlight:       {"TooManyInFlight", ErrTooManyInFlight, true},
	CodeShuttingDown:          {"ShuttingDown", ErrShuttingDown, true},
	CodeStorage:               {"Storage", ErrStorage, false},
	CodeNoLeader:              {"NoLeader", ErrNoLeader, true},
	CodeDuplicateSequence:     {"DuplicateSequence", ErrDuplicateSequence, false},
	CodeOutOfOrderSequence:    {"OutOfOrderSequence", ErrOutOfOrderSequence, true},
	CodeUnknownProducer:       {"UnknownProducer", ErrUnknownProducer, false},
	CodeUnknownGroup:          {"UnknownGroup", ErrUnknownGroup, false},
	CodeUnknownMember:         {"UnknownMember", ErrUnknownMember, false},
	CodeIllegalGeneration:     {"IllegalGeneration", ErrIllegalGeneration, false},
	CodeRebalanceInProgress:   {"RebalanceInProgress", ErrRebalanceInProgress, false},
	CodeNotAssigned:           {"NotAssigned", ErrNotAssigned, false},
	CodeOffsetRegression:      {"OffsetRegression", ErrOffsetRegression, false},
	CodeGroupNotEmpty:         {"GroupNotEmpty", ErrGroupNotEmpty, false},
	CodeInvalidGroup:          {"InvalidGroup", ErrInvalidGroup, false},
	CodeUnknownNode:           {"UnknownNode", ErrUnknownNode, false},
	CodeMemberIDRequired:      {"MemberIDRequired", ErrMemberIDRequired, false},
	CodeDigestUnavailable:     {"DigestUnavailable", ErrDigestUnavailable, false},
	CodeGroupProtocolMismatch: {"GroupProtocolMismatch", ErrGroupProtocolMismatch, false},
	CodeTopicAuthorization:    {"TopicAuthorization", ErrTopicAuthorization, false},
	CodeGroupAuthorization:    {"GroupAuthorization", ErrGroupAuthorization, false},
	CodeClusterAuthorization:  {"ClusterAuthorization", ErrClusterAuthorization, false},
	CodeSaslAuthentication:    {"SaslAuthentication", ErrSaslAuthentication, false},
	CodeUnauthenticated:       {"Unauthenticated", ErrUnauthenticated, false},
	CodeInvalidUser:           {"InvalidUser", ErrInvalidUser, false},
	CodeUnknownUser:           {"UnknownUser", ErrUnknownUser, false},
}

// known reports whether c is in this version's code table.
func (c Code) known() bool { return int(c) < len(codeTable) }

// String returns the code's name, e.g. "NotLeader", or "Code(N)" for a code
// this version does not know (sent by a newer peer).
func (c Code) String() string {
	if c.known() {
		return codeTable[c].name
	}
	return "Code(" + strconv.Itoa(int(c)) + ")"
}

// CodeOf returns the code to put on the wire for err: CodeNone for nil, the
// code of the first sentinel in the table that err wraps (errors.Is), the
// code of a *ServerError (so an unknown code from a newer peer passes
// through unchanged), and CodeUnknown for anything else. Safe for
// concurrent use.
func CodeOf(err error) Code {
	if err == nil {
		return CodeNone
	}
	if se, ok := errors.AsType[*ServerError](err); ok && se.Code != CodeNone {
		return se.Code
	}
	for c := CodeUnknown; c.known(); c++ {
		if errors.Is(err, codeTable[c].err) {
			return c
		}
	}
	return CodeUnknown
}

// Retriable reports whether a request that failed with code may succeed if
// sent again, possibly to another broker after refreshing metadata:
// NotLeader, NoLeader, OutcomeUnknown, Timeout, TooManyInFlight and
// ShuttingDown. A retried write after OutcomeUnknown or Timeout may be
// stored twice (at-least-once delivery).
func Retriable(code Code) bool {
	return code.known() && codeTable[code].retriable
}

// ServerError is an error reported by the broker: the Code from a response
// and the broker's message text. It unwraps to the Code's sentinel (to
// ErrUnknown for a code this version does not know), so
// errors.Is(err, ErrNotLeader) works on it.
type ServerError struct {
	Code    Code
	Message string // the broker's text; may be empty
}

// Error returns the broker's message, prefixed with the sentinel's text
// unless the message already contains it (a broker usually sends
// err.Error() of an error that wraps the sentinel).
func (e *ServerError) Error() string {
	base := e.Unwrap().Error()
	if !e.Code.known() {
		base = "minibroker: unknown error code " + strconv.Itoa(int(e.Code))
	}
	switch {
	case e.Message == "":
		return base
	case strings.Contains(e.Message, base):
		return e.Message
	default:
		return base + ": " + e.Message
	}
}

// Unwrap returns the sentinel error for e.Code.
func (e *ServerError) Unwrap() error {
	if e.Code != CodeNone && e.Code.known() {
		return codeTable[e.Code].err
	}
	return ErrUnknown
}

// Err returns the error for a code received from the broker: nil for
// CodeNone, else a *ServerError carrying msg that wraps the code's
// sentinel. Safe for concurrent use.
func Err(code Code, msg string) error {
	if code == CodeNone {
		return nil
	}
	return &ServerError{Code: code, Message: msg}
}

// ResponseError turns a response's ErrorCode and ErrorMessage into an
// error: nil for CodeNone, else the same as Err. Typical use:
//
//	if err := wire.ResponseError(resp.ErrorCode, resp.ErrorMessage); err != nil { ... }
func ResponseError(code Code, msg string) error {
	return Err(code, msg)
}
