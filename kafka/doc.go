// Package kafka serves the Kafka wire protocol on top of a replicated Store
// (package replication), so that Kafka clients and tools (franz-go, sarama,
// kafka-go, kafkajs, librdkafka and kcat) can produce to and fetch from a
// minibroker cluster unchanged.
//
// Every Kafka message is encoded and decoded with
// github.com/twmb/franz-go/pkg/kmsg; this package only frames requests,
// parses the request header and maps minibroker's state and errors to
// Kafka's. One file per API key:
//
//	ApiVersions     0-3   apiversions.go (an unknown version: a v0 answer, UNSUPPORTED_VERSION)
//	Metadata        0-12  metadata.go
//	Produce         0-11  produce.go (v0-2 answered UNSUPPORTED_VERSION per partition)
//	Fetch           4-12  fetch.go
//	ListOffsets     0-7   listoffsets.go
//	InitProducerId  0-4   initproducerid.go
//	CreateTopics    0-5   createtopics.go
//	DeleteTopics    0-5   deletetopics.go
//	DescribeConfigs 0-4   describeconfigs.go
//	FindCoordinator 0-4   findcoordinator.go
//	JoinGroup       0-7   joingroup.go
//	SyncGroup       0-5   syncgroup.go
//	Heartbeat       0-4   heartbeat.go
//	LeaveGroup      0-4   leavegroup.go
//	OffsetCommit    0-8   offsetcommit.go
//	OffsetFetch     0-7   offsetfetch.go (v8+, several groups, not served)
//	DescribeGroups  0-5   describegroups.go
//	ListGroups      0-4   listgroups.go
//	DeleteGroups    0-2   deletegroups.go
//	OffsetDelete    0     offsetdelete.go
//
// Nothing else is advertised. A request with another key, or a version
// outside these ranges (except ApiVersions), closes the connection.
//
// # Cluster view
//
// Kafka's model has a leader per partition; minibroker has one Raft leader
// for everything. Metadata says so: every partition's leader is the Raft
// leader's numeric node id, its replicas and in-sync replicas are the Raft
// voters, and its leader epoch is the Raft term. Writes (Produce,
// InitProducerId, CreateTopics, DeleteTopics) and leader reads (Fetch,
// ListOffsets) on another node are answered NOT_LEADER_OR_FOLLOWER (or
// NOT_CONTROLLER for topic admin), which every client handles by refreshing
// metadata and retrying on the leader.
//
// # Consumer groups
//
// Kafka's classic group protocol, run by a coordinator on the Raft leader
// (groups.go, groups_join.go, groups_members.go): FindCoordinator names
// the leader for every group; every other node, and the old leader after
// a leader change, answers group requests NOT_COORDINATOR. The join phase
// holds JoinGroup requests until every known member rejoined (or the
// rebalance timeout passed), picks a protocol all members support, elects
// a leader member and gives it every member's metadata; the leader's
// SyncGroup assignment is recorded through Raft
// (replication.KafkaGroupCmd) and handed to each member as sent, so every
// client-side assignor works. MEMBER_ID_REQUIRED only from JoinGroup v4;
// static membership (group.instance.id) as Kafka does it. Offsets share
// the store of native groups; OffsetCommit is checked by the coordinator
// (REBALANCE_IN_PROGRESS while the assignment is pending) and fenced again
// in Apply (generation, member, instance id). A group name in use by
// native consumers is refused (INCONSISTENT_GROUP_PROTOCOL).
//
// # Batches
//
// A partition log's batch is a Kafka RecordBatch v2 behind a 12-byte
// frame prefix (log/format.go). Produce validates each batch
// (log.WrapKafka; a compressed one is decompressed once to check its
// records) and stores it as sent; Fetch returns the Kafka part of each
// stored frame. Records are never re-encoded (batches.go).
//
// # Connections
//
// One goroutine per connection reads frames (the 4-byte size is checked
// against Config.MaxFrameBytes before anything is allocated), parses the
// request header and dispatches; one writes the responses strictly in
// request order, whatever order their handlers finish in (a queue of
// slots, at most Config.MaxInFlight deep). A Produce with acks=0 gets no
// response. Garbage, a frame over the limit, a truncated frame or a body
// that does not decode closes that connection and nothing else.
package kafka
