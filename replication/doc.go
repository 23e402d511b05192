// Package replication makes minibroker's partition logs a replicated state
// machine with hashicorp/raft.
//
// The pieces, bottom up:
//
//   - Node wraps one raft server: the TCP transport, raft-boltdb or
//     raft-wal as log and stable store (RaftLogStore; a data directory
//     keeps the one it was created with), leadership tracking (a new
//     leader runs a Barrier before it serves), membership, and Apply with
//     the three acks levels.
//   - FSM is the state machine: topics, partition logs (package log),
//     consumer groups with their committed offsets, idempotent producers
//     and node addresses. Commands are one type byte plus a msgpack body
//     (command.go): CreateTopic, DeleteTopic, Append, RegisterNode,
//     InitProducer, Housekeeping; for consumer groups SyncGroup and
//     RemoveMembers (results of the leader's group coordinator),
//     CommitOffsets (fenced by member, generation and assignment; never
//     backward), ResetOffsets and DeleteGroup (groups.go); KafkaGroup
//     (the Kafka listener's coordinator's record of a Kafka group) and
//     DeleteOffsets (groups_kafka.go); and the legacy
//     CommitOffset, which nothing writes any more; and Digest, which
//     changes nothing but makes every replica fingerprint its state at
//     that index (digest_cluster.go); PutUser and DeleteUser, the SCRAM
//     users (users.go: salted keys derived by the broker, never a
//     password). Apply is deterministic:
//     offsets are assigned there, the leader stamps times (and, for offset
//     checks, partition bounds) into commands, and an entry is never
//     applied twice, even when raft replays its log after a crash (see
//     FSM).
//   - SnapshotStore keeps snapshots as a manifest plus hard links to the
//     immutable segment files, so taking one costs O(segments) rather than
//     O(data); it becomes a byte stream only when a follower needs an
//     InstallSnapshot (snapshot.go).
//   - Store ties them together with the operations the broker calls:
//     CreateTopic, Append, InitProducer, the group operations (SyncGroup,
//     RemoveMembers, CommitOffsets, ResetOffsets, DeleteGroup, KafkaGroup,
//     DeleteOffsets; served
//     only once a new leader has applied its predecessors' entries),
//     VerifyLeader for linearizable reads, reads of applied data, and
//     ProposeDigest/DigestAt to compare replicas at one Raft index.
//
// Acks, and what each promises:
//
//	AcksNone   returns once the entry is handed to raft. No outcome.
//	AcksLeader returns once the leader's raft log holds the entry durably
//	           (bbolt or raft-wal fsynced it), before any follower has it. If the leader
//	           dies before a quorum has the entry, a new leader without it
//	           overwrites it: the write is lost. No offset is known yet.
//	AcksAll    returns once a quorum committed the entry and the leader
//	           applied it; the result carries the assigned offsets. Such a
//	           write survives any minority of failures.
//
// ErrOutcomeUnknown (leadership lost or context ended after the entry was
// handed to raft) means the entry may or may not be applied: a retry can
// duplicate it. It never means "failed".
package replication
