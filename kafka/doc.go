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
