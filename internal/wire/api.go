package wire

import (
	"fmt"
	"strconv"
)

// APIKey identifies a request type. Keys are append-only: a key, once
// released, keeps its number and meaning forever.
type APIKey uint16

// API keys. Append new keys at the end (and add a row to apiTable).
const (
	Metadata    APIKey = 0
	CreateTopic APIKey = 1
	DeleteTopic APIKey = 2
	Produce     APIKey = 3
	Fetch       APIKey = 4
	ListOffsets APIKey = 5
	// JoinCluster is sent by a starting broker to a member of the cluster
	// it joins (and by a restarted one whose address changed).
	JoinCluster APIKey = 6
	// InitProducer gives an idempotent producer its producer id.
	InitProducer APIKey = 7
	// Consumer groups (group.go, groupoffsets.go, groupadmin.go).
	JoinGroup     APIKey = 8
	Heartbeat     APIKey = 9
	LeaveGroup    APIKey = 10
	CommitOffsets APIKey = 11
	FetchOffsets  APIKey = 12
	DescribeGroup APIKey = 13
	ListGroups    APIKey = 14
	ResetOffsets  APIKey = 15
	// DescribeCluster asks a broker for its view of the Raft cluster.
	DescribeCluster APIKey = 16
	// RemoveNode asks the leader to remove a node from the cluster.
	RemoveNode  APIKey = 17
	DeleteGroup APIKey = 18
	// ProposeDigest and ReplicaDigest compare replicas (verify.go).
	ProposeDigest APIKey = 19
	ReplicaDigest APIKey = 20
	// Authentication and users (auth.go).
	SaslAuthenticate APIKey = 21
	PutUser          APIKey = 22
	DeleteUser       APIKey = 23
	ListUsers        APIKey = 24
	// Access-control lists (acls.go).
	CreateACLs   APIKey = 25
	DeleteACLs   APIKey = 26
	DescribeACLs APIKey = 27
)

// VersionRange is the inclusive range of versions of one API that this
// build of the protocol speaks.
type VersionRange struct {
	Min, Max uint16
}

// apiInfo is one row of apiTable.
type apiInfo struct {
	name     string
	versions VersionRange
}

// apiTable lists every API with its supported versions, indexed by APIKey.
// Every API is versioned from its first release. A row with an empty name
// is a key this build does not know (it may have gaps).
var apiTable = [...]apiInfo{
	Metadata:         {"Metadata", VersionRange{0, 0}},
	CreateTopic:      {"CreateTopic", VersionRange{0, 0}},
	DeleteTopic:      {"DeleteTopic", VersionRange{0, 0}},
	Produce:          {"Produce", VersionRange{0, 1}}, // v1: ProducerID and Sequence
	Fetch:            {"Fetch", VersionRange{0, 0}},
	ListOffsets:      {"ListOffsets", VersionRange{0, 0}},
	JoinCluster:      {"JoinCluster", VersionRange{0, 0}},
	InitProducer:     {"InitProducer", VersionRange{0, 0}},
	JoinGroup:        {"JoinGroup", VersionRange{0, 0}},
	Heartbeat:        {"Heartbeat", VersionRange{0, 0}},
	LeaveGroup:       {"LeaveGroup", VersionRange{0, 0}},
	CommitOffsets:    {"CommitOffsets", VersionRange{0, 0}},
	FetchOffsets:     {"FetchOffsets", VersionRange{0, 0}},
	DescribeGroup:    {"DescribeGroup", VersionRange{0, 0}},
	ListGroups:       {"ListGroups", VersionRange{0, 0}},
	ResetOffsets:     {"ResetOffsets", VersionRange{0, 0}},
	DeleteGroup:      {"DeleteGroup", VersionRange{0, 0}},
	DescribeCluster:  {"DescribeCluster", VersionRange{0, 0}},
	RemoveNode:       {"RemoveNode", VersionRange{0, 0}},
	ProposeDigest:    {"ProposeDigest", VersionRange{0, 0}},
	ReplicaDigest:    {"ReplicaDigest", VersionRange{0, 0}},
	SaslAuthenticate: {"SaslAuthenticate", VersionRange{0, 0}},
	PutUser:          {"PutUser", VersionRange{0, 0}},
	DeleteUser:       {"DeleteUser", VersionRange{0, 0}},
	ListUsers:        {"ListUsers", VersionRange{0, 0}},
	CreateACLs:       {"CreateACLs", VersionRange{0, 0}},
	DeleteACLs:       {"DeleteACLs", VersionRange{0, 0}},
	DescribeACLs:     {"DescribeACLs", VersionRange{0, 0}},
}

// known reports whether k is in this version's API table.
func (k APIKey) known() bool { return int(k) < len(apiTable) && apiTable[k].name != "" }

// String returns the API's name, e.g. "Produce", or "APIKey(N)" for a key
// this version does not know.
func (k APIKey) String() string {
	if k.known() {
		return apiTable[k].name
	}
	return "APIKey(" + strconv.Itoa(int(k)) + ")"
}

// Versions returns the versions of key this build supports, and false if
// the key is unknown. A client sends the highest version both sides
// support; today that is always 0.
func Versions(key APIKey) (VersionRange, bool) {
	if !key.known() {
		return VersionRange{}, false
	}
	return apiTable[key].versions, true
}

// CheckVersion returns nil if this build supports version of key, an
// error wrapping ErrUnknownAPI if the key is unknown, or one wrapping
// ErrUnsupportedVersion if the version is outside the supported range. A
// broker answers either error with an ErrorResponse carrying CodeOf(err).
// Safe for concurrent use.
func CheckVersion(key APIKey, version uint16) error {
	vr, ok := Versions(key)
	if !ok {
		return fmt.Errorf("wire: api key %d: %w", uint16(key), ErrUnknownAPI)
	}
	if version < vr.Min || version > vr.Max {
		return fmt.Errorf("wire: %v v%d (supported v%d..v%d): %w", key, version, vr.Min, vr.Max, ErrUnsupportedVersion)
	}
	return nil
}
