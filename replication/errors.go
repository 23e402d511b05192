package replication

import (
	"errors"
	"fmt"

	"github.com/minibroker/minibroker/internal/auth"
	mlog "github.com/minibroker/minibroker/log"
)

// Configuration errors.
var (
	// ErrInvalidConfig is wrapped by every error that NodeConfig.Validate and
	// NewNode return for a configuration they reject. The concrete error is a
	// *ConfigError naming the offending field.
	ErrInvalidConfig = errors.New("replication: invalid config")

	// ErrStoreMismatch is matched by the *StoreMismatchError that NewNode
	// returns when its data directory was created with another Raft log
	// store (NodeConfig.RaftLog) than the one asked for. Start with the
	// store the directory was created with, or with an empty directory.
	ErrStoreMismatch = errors.New("replication: raft log store mismatch")
)

// Errors of Node operations.
var (
	// ErrNotLeader is matched (errors.Is) by the *NotLeaderError that an
	// operation returns when it must run on the leader and this node is not
	// the leader. The request was not accepted; it is safe to retry it on the
	// leader named in the *NotLeaderError.
	ErrNotLeader = errors.New("replication: not the leader")

	// ErrOutcomeUnknown means that an entry was handed to raft but the call
	// stopped waiting before learning whether it was committed: leadership
	// was lost, the context ended, or the node shut down. The entry may still
	// commit (and be applied) or may be lost. Callers that retry must tolerate
	// duplicates.
	ErrOutcomeUnknown = errors.New("replication: outcome unknown")

	// ErrShutdown is returned by operations on a node that is stopping or has
	// stopped (Close, Fatal). When it is returned together with
	// ErrOutcomeUnknown, the entry had already been handed to raft.
	ErrShutdown = errors.New("replication: node is shut down")

	// ErrTimeout means that raft did not accept a request before the
	// context's deadline (its queue was full). The request was not handed
	// over; it is safe to retry.
	ErrTimeout = errors.New("replication: timed out")
)

// ConfigError describes why a NodeConfig was rejected. It matches
// ErrInvalidConfig with errors.Is.
type ConfigError struct {
	Field  string // the NodeConfig field, e.g. "ElectionTimeout"
	Reason string // what is wrong with it
}

// Error implements error.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("%v: %s: %s", ErrInvalidConfig, e.Field, e.Reason)
}

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// NotLeaderError is returned by operations that only the leader can serve.
// It matches ErrNotLeader with errors.Is. LeaderID and LeaderAddr name the
// leader this node knows of (its raft ID and advertised raft address); both
// are empty while no leader is known.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

// Error implements error.
func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return fmt.Sprintf("%v (leader unknown)", ErrNotLeader)
	}
	return fmt.Sprintf("%v (leader is %s at %s)", ErrNotLeader, e.LeaderID, e.LeaderAddr)
}

// Is reports whether target is ErrNotLeader.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// Errors of the replicated state machine. Apply returns them as the entry's
// response; every replica returns the same one for the same entry.
var (
	// ErrUnknownTopic means the topic does not exist (or no longer does).
	ErrUnknownTopic = errors.New("replication: unknown topic")
	// ErrUnknownPartition means the topic has no such partition.
	ErrUnknownPartition = errors.New("replication: unknown partition")
	// ErrTopicExists is returned by CreateTopic for a name already in use.
	ErrTopicExists = errors.New("replication: topic already exists")
	// ErrInvalidTopic is returned by CreateTopic for a bad name, partition
	// count or config.
	ErrInvalidTopic = errors.New("replication: invalid topic")
	// ErrBadCommand means a Raft entry could not be decoded. It is the same
	// on every replica, so the entry is rejected, not the node stopped.
	ErrBadCommand = errors.New("replication: malformed command")
	// ErrUnknownProducer: an idempotent append names a producer id that was
	// never allocated or has expired; the producer must get a new one.
	ErrUnknownProducer = errors.New("replication: unknown or expired producer id")
	// ErrOutOfOrderSequence: an idempotent append skips sequence numbers:
	// an earlier batch of the producer has not been stored (yet).
	ErrOutOfOrderSequence = errors.New("replication: out-of-order sequence number")
	// ErrDuplicateSequence: an idempotent append repeats a batch stored too
	// long ago for its offset to be remembered. It is stored; not again.
	ErrDuplicateSequence = errors.New("replication: duplicate sequence number")
	// ErrInvalidSequence: an idempotent append whose sequence number is
	// negative, or whose sequence plus record count passes math.MaxInt32
	// (sequence numbers do not wrap). No producer can have sent it in
	// order; it is rejected and the producer's state does not change.
	ErrInvalidSequence = errors.New("replication: invalid sequence number")
	// ErrInvalidProducerEpoch: an idempotent append whose producer epoch is
	// below the one the partition has stored from that producer (an older
	// incarnation of the producer, fenced), or negative. The producer's
	// state does not change.
	ErrInvalidProducerEpoch = errors.New("replication: invalid producer epoch")
	// ErrStopped means the state machine stopped after an error it could not
	// recover from (a disk error while applying). The node shuts down; on
	// restart the entry is applied again from the Raft log. A write that
	// waited for its entry to be applied gets it together with
	// ErrOutcomeUnknown: the entry was committed, but this node cannot say
	// how it was applied.
	ErrStopped = errors.New("replication: state machine stopped")
	// ErrDigestUnavailable: this node cannot give its digest at the asked
	// Raft index (Store.DigestAt): the index is not a digest entry's, the
	// node replayed it after a restart or restored a snapshot past it (its
	// state was never exactly there since it started), or the digest is no
	// longer kept. Propose a new digest and ask again.
	ErrDigestUnavailable = errors.New("replication: digest not available at this index")
)

// Errors of ValidateAppend, before an append is proposed.
var (
	// ErrIdempotenceNeedsAcksAll: an idempotent append (producer id not 0)
	// with acks other than AcksAll. Only AcksAll reports how the state
	// machine decided on the batch (stored, duplicate, refused), which the
	// producer needs to keep its sequence numbers right; as in Kafka,
	// idempotence requires acks=all.
	ErrIdempotenceNeedsAcksAll = errors.New("replication: idempotent append requires acks=all")
)

// Errors of consumer groups and committed offsets (groups.go). Apply returns
// them as the entry's response, like the errors above: the command is
// rejected (or, for CommitOffsets, one partition of it), nothing else
// changes, and every replica returns the same error.
var (
	// ErrInvalidGroup: a group name that is empty, longer than
	// MaxGroupNameLen or holds characters other than [a-zA-Z0-9._-] (the
	// rule for topic names).
	ErrInvalidGroup = errors.New("replication: invalid group name")
	// ErrUnknownGroup: the group has no state (RemoveMembers, DeleteGroup,
	// a member's CommitOffsets).
	ErrUnknownGroup = errors.New("replication: unknown group")
	// ErrUnknownMember: the member id is not in the group's current
	// membership: it never joined, or it was removed (session expired or
	// left). It must join again.
	ErrUnknownMember = errors.New("replication: unknown member id")
	// ErrIllegalGeneration: the command names a generation other than the
	// group's current one (SyncGroup: other than current+1). The sender
	// acted on a membership that has changed since.
	ErrIllegalGeneration = errors.New("replication: illegal generation")
	// ErrNotAssigned: a member committed an offset for a partition that the
	// group's current assignment gives to another member or to none.
	ErrNotAssigned = errors.New("replication: partition not assigned to member")
	// ErrOffsetRegression: a commit below the offset already committed for
	// the partition. Commits never move a group backward; ResetOffsets can.
	ErrOffsetRegression = errors.New("replication: committed offsets never go backward")
	// ErrGroupNotEmpty: the operation needs a group without members
	// (standalone commits, ResetOffsets, DeleteGroup).
	ErrGroupNotEmpty = errors.New("replication: group has members")
	// ErrFencedInstanceID: a Kafka commit names a group.instance.id that
	// another member id now holds (a newer instance of that static member
	// joined).
	ErrFencedInstanceID = errors.New("replication: static member fenced by a newer instance")
	// ErrInconsistentGroupProtocol: a group with members is run by the Kafka
	// coordinator and the command comes from the native one (or the other
	// way round), or by Kafka clients of another protocol type. A group
	// name is used by one kind of consumer at a time.
	ErrInconsistentGroupProtocol = errors.New("replication: group is in use with another protocol")
	// ErrGroupSubscribed: DeleteOffsets of a topic that a member of the
	// group subscribes to.
	ErrGroupSubscribed = errors.New("replication: group is subscribed to the topic")

	// ErrOffsetOutOfRange is mlog.ErrOffsetOutOfRange, under this package's
	// name: a commit or reset names an offset outside the partition's range.
	// Such errors are *mlog.OffsetRangeError values carrying the range, as
	// those of FSM.Read are; errors.Is matches either name.
	ErrOffsetOutOfRange = mlog.ErrOffsetOutOfRange
)

// Errors of users (users.go). Apply returns them as the entry's response;
// the store checks the same before proposing.
var (
	// ErrInvalidUser: a user command with a bad name (auth.ValidateUserName)
	// or credential (auth.ValidateCred: mechanism, iterations, salt or key
	// lengths), two credentials of one mechanism, or a new user without
	// any credential.
	ErrInvalidUser = errors.New("replication: invalid user")
	// ErrUnknownUser: DeleteUser (or PutUser's Delete) of a user, or of a
	// user's mechanism, that does not exist.
	ErrUnknownUser = errors.New("replication: unknown user")
	// ErrUserExists: a PutUser with Create set for a user that exists.
	ErrUserExists = errors.New("replication: user already exists")
	// ErrTooManyUsers: a PutUser that would create user MaxUsers+1. It
	// wraps ErrInvalidUser.
	ErrTooManyUsers = fmt.Errorf("%w: too many users", ErrInvalidUser)
)

// Errors of access-control lists (acls.go).
var (
	// ErrInvalidACL is auth.ErrInvalidACL under this package's name: an ACL
	// or filter that auth.ValidateACL or auth.ValidateFilter refuses, or a
	// create past MaxACLs. Apply rejects the whole command.
	ErrInvalidACL = auth.ErrInvalidACL
)
