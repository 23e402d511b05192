package wire

import (
	"errors"
	"testing"
)

func TestCheckVersion(t *testing.T) {
	for _, tc := range []struct {
		key     APIKey
		version uint16
		want    error
	}{
		{Metadata, 0, nil},
		{CreateTopic, 0, nil},
		{DeleteTopic, 0, nil},
		{Produce, 0, nil},
		{Fetch, 0, nil},
		{ListOffsets, 0, nil},
		{Produce, 1, nil},
		{Produce, 2, ErrUnsupportedVersion},
		{Fetch, 0xFFFF, ErrUnsupportedVersion},
		{JoinCluster, 0, nil},
		{InitProducer, 0, nil},
		{JoinGroup, 0, nil},
		{ResetOffsets, 0, nil},
		{DeleteGroup, 0, nil},
		{DescribeCluster, 0, nil},
		{DescribeCluster, 1, ErrUnsupportedVersion},
		{RemoveNode, 0, nil},
		{ProposeDigest, 0, nil},
		{ReplicaDigest, 0, nil},
		{ReplicaDigest + 1, 0, nil},
		{SaslAuthenticate, 0, nil},
		{ListUsers, 0, nil},
		{CreateACLs, 0, nil},
		{DeleteACLs, 0, nil},
		{DescribeACLs, 0, nil},
		{DescribeACLs + 1, 0, ErrUnknownAPI},
		{0xFFFF, 0, ErrUnknownAPI},
	} {
		err := CheckVersion(tc.key, tc.version)
		if tc.want == nil && err != nil || !errors.Is(err, tc.want) {
			t.Errorf("CheckVersion(%v, %d) = %v, want %v", tc.key, tc.version, err, tc.want)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	// The numbers are part of the protocol and must never change.
	want := []struct {
		key  APIKey
		num  uint16
		name string
	}{
		{Metadata, 0, "Metadata"},
		{CreateTopic, 1, "CreateTopic"},
		{DeleteTopic, 2, "DeleteTopic"},
		{Produce, 3, "Produce"},
		{Fetch, 4, "Fetch"},
		{ListOffsets, 5, "ListOffsets"},
		{JoinCluster, 6, "JoinCluster"},
		{InitProducer, 7, "InitProducer"},
		{JoinGroup, 8, "JoinGroup"},
		{Heartbeat, 9, "Heartbeat"},
		{LeaveGroup, 10, "LeaveGroup"},
		{CommitOffsets, 11, "CommitOffsets"},
		{FetchOffsets, 12, "FetchOffsets"},
		{DescribeGroup, 13, "DescribeGroup"},
		{ListGroups, 14, "ListGroups"},
		{ResetOffsets, 15, "ResetOffsets"},
		{DescribeCluster, 16, "DescribeCluster"},
		{RemoveNode, 17, "RemoveNode"},
		{DeleteGroup, 18, "DeleteGroup"},
		{ProposeDigest, 19, "ProposeDigest"},
		{ReplicaDigest, 20, "ReplicaDigest"},
		{SaslAuthenticate, 21, "SaslAuthenticate"},
		{PutUser, 22, "PutUser"},
		{DeleteUser, 23, "DeleteUser"},
		{ListUsers, 24, "ListUsers"},
		{CreateACLs, 25, "CreateACLs"},
		{DeleteACLs, 26, "DeleteACLs"},
		{DescribeACLs, 27, "DescribeACLs"},
	}
	known := 0
	for k := range apiTable {
		if APIKey(k).known() {
			known++
		}
	}
	if known != len(want) {
		t.Fatalf("apiTable has %d APIs, want %d", known, len(want))
	}
	for _, w := range want {
		if uint16(w.key) != w.num || w.key.String() != w.name {
			t.Errorf("%v = %d, want %s = %d", w.key, uint16(w.key), w.name, w.num)
		}
		want := VersionRange{0, 0}
		if w.key == Produce {
			want = VersionRange{0, 1} // v1 adds ProducerID and Sequence
		}
		if vr, ok := Versions(w.key); !ok || vr != want {
			t.Errorf("Versions(%v) = %v, %v", w.key, vr, ok)
		}
	}
	if s := APIKey(42).String(); s != "APIKey(42)" {
		t.Errorf("got %q", s)
	}
	if _, ok := Versions(42); ok {
		t.Error("Versions(42) reported a known API")
	}
}

func TestCodeNumbers(t *testing.T) {
	// The numbers are part of the protocol and must never change.
	want := []Code{
		CodeNone, CodeUnknown, CodeMalformed, CodeUnknownAPI, CodeUnsupportedVersion,
		CodeFrameTooLarge, CodeMessageTooLarge, CodeUnknownTopic, CodeUnknownPartition,
		CodeTopicExists, CodeInvalidTopicConfig, CodeNotLeader, CodeOutcomeUnknown,
		CodeOffsetOutOfRange, CodeTimeout, CodeTooManyInFlight, CodeShuttingDown,
		CodeStorage, CodeNoLeader, CodeDuplicateSequence, CodeOutOfOrderSequence,
		CodeUnknownProducer, CodeUnknownGroup, CodeUnknownMember, CodeIllegalGeneration,
		CodeRebalanceInProgress, CodeNotAssigned, CodeOffsetRegression, CodeGroupNotEmpty,
		CodeInvalidGroup, CodeUnknownNode, CodeMemberIDRequired, CodeDigestUnavailable,
		CodeGroupProtocolMismatch, CodeTopicAuthorization, CodeGroupAuthorization,
		CodeClusterAuthorization, CodeSaslAuthentication, CodeUnauthenticated, CodeInvalidUser,
		CodeUnknownUser,
	}
	for i, c := range want {
		if int(c) != i {
			t.Errorf("%v = %d, want %d", c, c, i)
		}
	}
}
