package wire

import (
	"bytes"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// message is what every protocol body type implements.
type message interface {
	msgpack.CustomEncoder
	msgpack.CustomDecoder
}

// sample is one example message: an API, whether it is a response, a
// populated value and a constructor for an empty destination.
type sample struct {
	name     string
	key      APIKey
	response bool
	msg      message
	empty    func() message
}

func testRecords(n, size int) []Record {
	rs := make([]Record, n)
	for i := range rs {
		rs[i] = Record{
			Offset:    int64(1000 + i),
			Timestamp: 1_700_000_000_000 + int64(i),
			Key:       fmt.Appendf(nil, "key-%d", i),
			Value:     bytes.Repeat([]byte{byte(i)}, size),
		}
	}
	return rs
}

// sampleRecords covers nil and empty keys and values, headers, negative
// and large numbers, and a value longer than growChunk.
func sampleRecords() []Record {
	return []Record{
		{Offset: 0, Timestamp: 0, Key: nil, Value: []byte("v")},
		{Offset: -1, Timestamp: 1_700_000_000_123, Key: []byte{}, Value: nil,
			Headers: []Header{{Key: "trace", Value: []byte("abc")}, {Key: "", Value: nil}, {Key: "e", Value: []byte{}}}},
		{Offset: 1 << 40, Timestamp: -5, Key: []byte("k"), Value: bytes.Repeat([]byte("x"), 70000)},
	}
}

func samples() []sample {
	recs := sampleRecords()
	return append([]sample{
		{"MetadataRequest", Metadata, false,
			&MetadataRequest{Topics: []string{"orders", "", "payments"}},
			func() message { return new(MetadataRequest) }},
		{"MetadataResponse", Metadata, true,
			&MetadataResponse{
				ErrorCode: CodeNone, LeaderID: "n1",
				Nodes: []Node{{ID: "n1", Addr: "127.0.0.1:9092"}, {ID: "n2", Addr: "127.0.0.1:9093"}},
				Topics: []TopicMetadata{
					{Name: "orders", Partitions: []PartitionMetadata{
						{Partition: 0, StartOffset: 0, HighWatermark: 42},
						{Partition: 1, StartOffset: 10, HighWatermark: 1 << 33}}},
					{Name: "gone", ErrorCode: CodeUnknownTopic},
				}},
			func() message { return new(MetadataResponse) }},
		{"CreateTopicRequest", CreateTopic, false,
			&CreateTopicRequest{Name: "orders", Partitions: 3,
				Config: TopicConfig{RetentionBytes: 1 << 30, RetentionMs: -1, SegmentBytes: 64 << 20}},
			func() message { return new(CreateTopicRequest) }},
		{"CreateTopicResponse", CreateTopic, true,
			&CreateTopicResponse{ErrorCode: CodeTopicExists, ErrorMessage: "orders exists"},
			func() message { return new(CreateTopicResponse) }},
		{"DeleteTopicRequest", DeleteTopic, false,
			&DeleteTopicRequest{Name: "orders"},
			func() message { return new(DeleteTopicRequest) }},
		{"DeleteTopicResponse", DeleteTopic, true,
			&DeleteTopicResponse{ErrorCode: CodeUnknownTopic, ErrorMessage: "no such topic"},
			func() message { return new(DeleteTopicResponse) }},
		{"ProduceRequest", Produce, false,
			&ProduceRequest{Topic: "orders", Partition: 2, Acks: AcksAll, TimeoutMs: 5000, Records: recs},
			func() message { return new(ProduceRequest) }},
		{"ProduceResponse", Produce, true,
			&ProduceResponse{ErrorCode: CodeNotLeader, ErrorMessage: "not me", BaseOffset: -1,
				LeaderID: "n2", LeaderAddr: "127.0.0.1:9093"},
			func() message { return new(ProduceResponse) }},
		{"FetchRequest", Fetch, false,
			&FetchRequest{Topic: "orders", Partition: 1, Offset: 1 << 35, MaxBytes: 1 << 20, MaxWaitMs: 500},
			func() message { return new(FetchRequest) }},
		{"FetchResponse", Fetch, true,
			&FetchResponse{HighWatermark: 99, StartOffset: 3, Records: recs},
			func() message { return new(FetchResponse) }},
		{"ListOffsetsRequest", ListOffsets, false,
			&ListOffsetsRequest{Topic: "orders", Partition: 0, Which: Earliest},
			func() message { return new(ListOffsetsRequest) }},
		{"ListOffsetsRequestLeader", ListOffsets, false,
			&ListOffsetsRequest{Topic: "orders", Partition: 1, Which: Latest, Leader: true},
			func() message { return new(ListOffsetsRequest) }},
		{"ListOffsetsResponse", ListOffsets, true,
			&ListOffsetsResponse{ErrorCode: CodeOffsetOutOfRange, ErrorMessage: "x", Offset: 17},
			func() message { return new(ListOffsetsResponse) }},
		{"JoinClusterRequest", JoinCluster, false,
			&JoinClusterRequest{ID: "n2", RaftAddr: "127.0.0.1:9202", ClientAddr: "127.0.0.1:9102"},
			func() message { return new(JoinClusterRequest) }},
		{"JoinClusterResponse", JoinCluster, true,
			&JoinClusterResponse{ErrorCode: CodeNotLeader, ErrorMessage: "x", LeaderID: "n1", LeaderAddr: "127.0.0.1:9101"},
			func() message { return new(JoinClusterResponse) }},
		{"ProduceRequestIdempotent", Produce, false,
			&ProduceRequest{Topic: "t", Partition: 2, Acks: AcksAll, Records: recs, ProducerID: 77, Sequence: 1000},
			func() message { return new(ProduceRequest) }},
		{"InitProducerRequest", InitProducer, false,
			&InitProducerRequest{},
			func() message { return new(InitProducerRequest) }},
		{"InitProducerResponse", InitProducer, true,
			&InitProducerResponse{ProducerID: 42},
			func() message { return new(InitProducerResponse) }},
		{"DescribeClusterRequest", DescribeCluster, false,
			&DescribeClusterRequest{},
			func() message { return new(DescribeClusterRequest) }},
		{"DescribeClusterResponse", DescribeCluster, true,
			&DescribeClusterResponse{NodeID: "n2", LeaderID: "n1", Term: 7, CommitIndex: 1 << 40,
				AppliedIndex: 1<<40 - 3, LastLogIndex: 1<<64 - 1,
				Nodes: []ClusterNode{
					{ID: "n1", Addr: "127.0.0.1:9101", RaftAddr: "127.0.0.1:9201", Voter: true, Leader: true},
					{ID: "n2", Addr: "127.0.0.1:9102", RaftAddr: "127.0.0.1:9202", Voter: true},
					{ID: "n3", Addr: "", RaftAddr: "127.0.0.1:9203"},
				}},
			func() message { return new(DescribeClusterResponse) }},
		{"DescribeClusterResponseError", DescribeCluster, true,
			&DescribeClusterResponse{ErrorCode: CodeShuttingDown, ErrorMessage: "bye"},
			func() message { return new(DescribeClusterResponse) }},
		{"RemoveNodeRequest", RemoveNode, false,
			&RemoveNodeRequest{ID: "n3"},
			func() message { return new(RemoveNodeRequest) }},
		{"RemoveNodeResponse", RemoveNode, true,
			&RemoveNodeResponse{ErrorCode: CodeNotLeader, ErrorMessage: "x", LeaderID: "n1", LeaderAddr: "127.0.0.1:9101"},
			func() message { return new(RemoveNodeResponse) }},
		{"ProposeDigestRequest", ProposeDigest, false,
			&ProposeDigestRequest{},
			func() message { return new(ProposeDigestRequest) }},
		{"ProposeDigestResponse", ProposeDigest, true,
			&ProposeDigestResponse{LeaderID: "n1", LeaderAddr: "127.0.0.1:9101", Index: 1 << 40},
			func() message { return new(ProposeDigestResponse) }},
		{"ReplicaDigestRequest", ReplicaDigest, false,
			&ReplicaDigestRequest{Index: 77, TimeoutMs: 5000},
			func() message { return new(ReplicaDigestRequest) }},
		{"ReplicaDigestResponse", ReplicaDigest, true,
			&ReplicaDigestResponse{NodeID: "n2", Index: 77, Meta: "ab12", Partitions: []PartitionDigest{
				{Topic: "t", Partition: 0, StartOffset: 0, NextOffset: 10, Sum: "cd34"},
				{Topic: "t", Partition: 1, StartOffset: 5, NextOffset: 7, Sum: "ef56"}}},
			func() message { return new(ReplicaDigestResponse) }},
		{"ReplicaDigestResponseError", ReplicaDigest, true,
			&ReplicaDigestResponse{ErrorCode: CodeDigestUnavailable, ErrorMessage: "replayed"},
			func() message { return new(ReplicaDigestResponse) }},
	}, append(append(groupSamples(), aclSamples()...), authSamples()...)...)
}

// requestSamples and responseSamples split samples() by direction.
func requestSamples() (out []sample) {
	for _, s := range samples() {
		if !s.response {
			out = append(out, s)
		}
	}
	return out
}

func responseSamples() (out []sample) {
	for _, s := range samples() {
		if s.response {
			out = append(out, s)
		}
	}
	return out
}

// marshal encodes one msgpack value with the package's encoder setup.
func marshal(v any) []byte {
	b, err := msgpack.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
