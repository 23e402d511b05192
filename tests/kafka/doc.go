// Package kafka holds minibroker's compatibility tests with real Kafka
// clients: franz-go (kgo, kadm), IBM/sarama, segmentio/kafka-go (its Writer
// and Reader and its low-level Conn, which speaks old versions: Metadata v1,
// ListOffsets v1), kcat (librdkafka) and kafkajs, each against an
// in-process cluster of one node and of three (broker/brokertest), plus
// reads across the two protocols: what Kafka clients produced, read by the
// native Go client and `minibroker consume`, and the other way round.
//
// On the three-node cluster, consumer groups (groups*_test.go): each
// client consumes a topic as a group member, committing after processing
// (franz-go with range and cooperative-sticky, sarama ConsumerGroup,
// kafka-go Reader with GroupID, kafkajs, kcat -G); a consumer process
// (franz-go as this test binary run again, kafkajs, kcat) SIGKILLed
// mid-stream and a second one resuming from the last commit; a franz-go
// member stopped (SIGSTOP) past its session timeout whose commit is then
// refused; members 1 -> 3 -> 2 with each partition owned once per
// generation (franz-go, sarama); the Raft leader killed while a franz-go
// group consumes.
//
// It is a module of its own (replace directive to the main module, as
// tests/peers), so the clients' dependencies stay out of the main module.
// Run it from this directory:
//
//	go test -race -count=1 ./...
//
// kcat and node (with `npm ci` run in js/) are needed for their tests,
// which skip without them, except under CI=1 or MINIBROKER_REQUIRE_CLIENTS=1,
// where a missing tool fails the test. MINIBROKER_KAFKA_TARGET=kfake runs
// the same tests against franz-go's in-memory kfake instead of minibroker:
// an oracle for telling a client quirk from a broker bug (the
// cross-protocol tests, which need the native protocol, skip there).
package kafka
