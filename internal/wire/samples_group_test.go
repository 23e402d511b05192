package wire

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// groupSamples are example messages of the consumer-group APIs; they feed
// the round-trip tests and the fuzzers' seeds like samples().
func groupSamples() []sample {
	assign := []TopicPartitions{{Topic: "orders", Partitions: []int32{0, 2, 5}}, {Topic: "x"}}
	return []sample{
		{"JoinGroupRequest", JoinGroup, false,
			&JoinGroupRequest{Group: "g", MemberID: "c-1", ClientID: "c", Topics: []string{"orders", "x"},
				Strategy: StrategySticky, SessionTimeoutMs: 10000, RebalanceTimeoutMs: 300000},
			func() message { return new(JoinGroupRequest) }},
		{"JoinGroupResponse", JoinGroup, true,
			&JoinGroupResponse{MemberID: "c-1", Generation: 7, Strategy: StrategyRange, Assignment: assign},
			func() message { return new(JoinGroupResponse) }},
		{"HeartbeatRequest", Heartbeat, false,
			&HeartbeatRequest{Group: "g", MemberID: "c-1", Generation: -1},
			func() message { return new(HeartbeatRequest) }},
		{"HeartbeatResponse", Heartbeat, true,
			&HeartbeatResponse{ErrorCode: CodeRebalanceInProgress, ErrorMessage: "rejoin"},
			func() message { return new(HeartbeatResponse) }},
		{"LeaveGroupRequest", LeaveGroup, false,
			&LeaveGroupRequest{Group: "g", MemberID: "c-1"},
			func() message { return new(LeaveGroupRequest) }},
		{"LeaveGroupResponse", LeaveGroup, true,
			&LeaveGroupResponse{ErrorCode: CodeUnknownMember, ErrorMessage: "gone"},
			func() message { return new(LeaveGroupResponse) }},
		{"CommitOffsetsRequest", CommitOffsets, false,
			&CommitOffsetsRequest{Group: "g", MemberID: "c-1", Generation: 3, Offsets: []OffsetCommit{
				{Topic: "orders", Partition: 1, Offset: 1 << 40, Metadata: "m"}, {Topic: "x", Offset: 0}}},
			func() message { return new(CommitOffsetsRequest) }},
		{"CommitOffsetsResponse", CommitOffsets, true,
			&CommitOffsetsResponse{Results: []PartitionResult{
				{Topic: "orders", Partition: 1}, {Topic: "x", ErrorCode: CodeOffsetRegression, ErrorMessage: "back"}}},
			func() message { return new(CommitOffsetsResponse) }},
		{"FetchOffsetsRequest", FetchOffsets, false,
			&FetchOffsetsRequest{Group: "g", Partitions: assign},
			func() message { return new(FetchOffsetsRequest) }},
		{"FetchOffsetsResponse", FetchOffsets, true,
			&FetchOffsetsResponse{Offsets: []PartitionOffset{{Topic: "orders", Partition: 2, Offset: NoOffset}, {Topic: "x", Offset: 9, Metadata: "m"}}},
			func() message { return new(FetchOffsetsResponse) }},
		{"DescribeGroupRequest", DescribeGroup, false,
			&DescribeGroupRequest{Group: "g"},
			func() message { return new(DescribeGroupRequest) }},
		{"DescribeGroupResponse", DescribeGroup, true,
			&DescribeGroupResponse{Group: "g", State: GroupStable, Generation: 4, Strategy: StrategyRoundRobin,
				Members: []GroupMemberInfo{{MemberID: "c-1", ClientID: "c", ClientHost: "127.0.0.1:5000", Topics: []string{"orders"}, Assignment: assign}},
				Offsets: []GroupOffsetInfo{{Topic: "orders", Partition: 0, Committed: NoOffset, HighWatermark: 10, Lag: 10}}, ProtocolType: "consumer"},
			func() message { return new(DescribeGroupResponse) }},
		{"ListGroupsRequest", ListGroups, false,
			&ListGroupsRequest{},
			func() message { return new(ListGroupsRequest) }},
		{"ListGroupsResponse", ListGroups, true,
			&ListGroupsResponse{Groups: []GroupSummary{{Group: "g", State: GroupEmpty, Generation: 2}, {Group: "h", State: GroupRebalancing, Members: 3, ProtocolType: "consumer"}}},
			func() message { return new(ListGroupsResponse) }},
		{"ResetOffsetsRequest", ResetOffsets, false,
			&ResetOffsetsRequest{Group: "g", Topic: "orders", Partitions: []int32{0, 1}, To: ResetTo, Offset: 42},
			func() message { return new(ResetOffsetsRequest) }},
		{"ResetOffsetsResponse", ResetOffsets, true,
			&ResetOffsetsResponse{ErrorCode: CodeGroupNotEmpty, ErrorMessage: "members"},
			func() message { return new(ResetOffsetsResponse) }},
		{"DeleteGroupRequest", DeleteGroup, false,
			&DeleteGroupRequest{Group: "g"},
			func() message { return new(DeleteGroupRequest) }},
		{"DeleteGroupResponse", DeleteGroup, true,
			&DeleteGroupResponse{},
			func() message { return new(DeleteGroupResponse) }},
	}
}

// Peers from before ProtocolType send DescribeGroupResponse with 8 fields
// and GroupSummary with 4: they still decode (ProtocolType "").
func TestGroupAdminWithoutProtocolType(t *testing.T) {
	old, err := msgpack.Marshal([]any{0, "", "g", GroupStable, 3, "range", []any{}, []any{}})
	if err != nil {
		t.Fatal(err)
	}
	var d DescribeGroupResponse
	if err := msgpack.Unmarshal(old, &d); err != nil || d.Group != "g" || d.Generation != 3 || d.ProtocolType != "" {
		t.Fatalf("old DescribeGroupResponse: %+v, %v", d, err)
	}
	old, _ = msgpack.Marshal([]any{0, "", []any{[]any{"g", GroupEmpty, 2, 0}}})
	var l ListGroupsResponse
	if err := msgpack.Unmarshal(old, &l); err != nil || len(l.Groups) != 1 || l.Groups[0].Generation != 2 {
		t.Fatalf("old ListGroupsResponse: %+v, %v", l, err)
	}
}
