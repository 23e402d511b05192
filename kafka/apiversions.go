package kafka

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one served API key: its version range and its handler. A handler
// runs on the connection's reader goroutine: it must finish the slot,
// at once or from c.async, and must not block on anything slow.
type api struct {
	min, max int16
	handle   func(c *conn, sl *slot, req kmsg.Request)
}

// apis is every API key served and advertised. Minimums stay at 0 where
// Kafka's are (librdkafka reads a higher minimum as a missing feature).
var apis map[int16]api

func init() {
	apis = map[int16]api{
		kmsg.ApiVersions.Int16():                  {0, 3, handleApiVersions},
		kmsg.Metadata.Int16():                     {0, 12, handleMetadata},
		kmsg.Produce.Int16():                      {0, 11, handleProduce},
		kmsg.Fetch.Int16():                        {4, 12, handleFetch},
		kmsg.ListOffsets.Int16():                  {0, 7, handleListOffsets},
		kmsg.InitProducerID.Int16():               {0, 4, handleInitProducerID},
		kmsg.CreateTopics.Int16():                 {0, 5, handleCreateTopics},
		kmsg.DeleteTopics.Int16():                 {0, 5, handleDeleteTopics},
		kmsg.DescribeConfigs.Int16():              {0, 4, handleDescribeConfigs},
		kmsg.FindCoordinator.Int16():              {0, 4, handleFindCoordinator},
		kmsg.JoinGroup.Int16():                    {0, 7, handleJoinGroup},
		kmsg.SyncGroup.Int16():                    {0, 5, handleSyncGroup},
		kmsg.Heartbeat.Int16():                    {0, 4, handleHeartbeat},
		kmsg.LeaveGroup.Int16():                   {0, 4, handleLeaveGroup},
		kmsg.OffsetCommit.Int16():                 {0, 8, handleOffsetCommit},
		kmsg.OffsetFetch.Int16():                  {0, 7, handleOffsetFetch},
		kmsg.DescribeGroups.Int16():               {0, 5, handleDescribeGroups},
		kmsg.ListGroups.Int16():                   {0, 4, handleListGroups},
		kmsg.DeleteGroups.Int16():                 {0, 2, handleDeleteGroups},
		kmsg.OffsetDelete.Int16():                 {0, 0, handleOffsetDelete},
		kmsg.SASLHandshake.Int16():                {0, 1, handleSASLHandshake},
		kmsg.SASLAuthenticate.Int16():             {0, 2, handleSASLAuthenticate},
		kmsg.DescribeUserSCRAMCredentials.Int16(): {0, 0, handleDescribeUserSCRAMCredentials},
		kmsg.AlterUserSCRAMCredentials.Int16():    {0, 0, handleAlterUserSCRAMCredentials},
		kmsg.DescribeACLs.Int16():                 {0, 3, handleDescribeAcls},
		kmsg.CreateACLs.Int16():                   {0, 3, handleCreateAcls},
		kmsg.DeleteACLs.Int16():                   {0, 3, handleDeleteAcls},
	}
}

// apiKeys lists the served keys and versions, sorted by key.
func apiKeys() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for k, a := range apis {
		ak := kmsg.NewApiVersionsResponseApiKey()
		ak.ApiKey, ak.MinVersion, ak.MaxVersion = k, a.min, a.max
		keys = append(keys, ak)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

func handleApiVersions(c *conn, sl *slot, req kmsg.Request) {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = apiKeys()
	sl.finish(resp)
}

// unsupportedApiVersions is the answer to an ApiVersions version this
// package does not serve: v0, UNSUPPORTED_VERSION, and the key list, so
// the client can retry with a version it finds there.
func unsupportedApiVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = codeUnsupportedVersion
	resp.ApiKeys = apiKeys()
	return resp
}
