package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/replication"
)

// adminTimeout bounds a topic admin request whose timeout is 0 or less.
const adminTimeout = 30 * time.Second

// handleCreateTopics creates topics through Raft, one after another. Only
// the leader does it (elsewhere: NOT_CONTROLLER, and the client asks the
// controller Metadata names: the leader). Every partition is on every
// voter, so the replication factor is the number of voters: -1 (the
// default) or any of 1..voters is accepted, anything else is
// INVALID_REPLICATION_FACTOR.
func handleCreateTopics(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	c.async(func() {
		ctx, cancel := context.WithTimeout(c.ctx, requestTimeout(req.TimeoutMillis, adminTimeout))
		defer cancel()
		resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
		seen := map[string]int{}
		for _, t := range req.Topics {
			seen[t.Topic]++
		}
		for _, t := range req.Topics {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic = t.Topic
			var err error
			var tc replication.TopicConfig
			partitions := t.NumPartitions
			if partitions == -1 {
				partitions = c.s.cfg.DefaultPartitions
			}
			if !c.mayCreateTopic(t.Topic) {
				err = kerr(codeTopicAuthorizationFailed, fmt.Sprintf("%s may not create topic %q", c.principal, t.Topic))
			} else if seen[t.Topic] > 1 {
				err = kerr(codeInvalidRequest, fmt.Sprintf("topic %q is named %d times in the request", t.Topic, seen[t.Topic]))
			} else {
				tc, err = c.s.checkCreateTopic(t, partitions)
			}
			if err == nil && !req.ValidateOnly {
				err = c.s.store.CreateTopic(ctx, t.Topic, partitions, tc)
			}
			rt.ErrorCode = createErrCode(err)
			if req.Version >= 1 {
				rt.ErrorMessage = errMessage(err)
			}
			if err == nil {
				rt.NumPartitions = partitions
				rt.ReplicationFactor = int16(len(c.s.cluster().voters))
				for _, e := range topicConfigEntries(tc) {
					rc := kmsg.NewCreateTopicsResponseTopicConfig()
					v := e.value
					rc.Name, rc.Value, rc.ReadOnly = e.name, &v, true
					rc.Source = int8(kmsg.ConfigSourceDefaultConfig)
					if !e.isDefault {
						rc.Source = int8(kmsg.ConfigSourceDynamicTopicConfig)
					}
					rt.Configs = append(rt.Configs, rc)
				}
			}
			resp.Topics = append(resp.Topics, rt)
		}
		sl.finish(resp)
	})
}

// checkCreateTopic validates one topic of a CreateTopics request before it
// enters Raft, with Kafka's error codes.
func (s *Server) checkCreateTopic(t kmsg.CreateTopicsRequestTopic, partitions int32) (replication.TopicConfig, error) {
	var tc replication.TopicConfig
	if err := replication.ValidateTopicName(t.Topic); err != nil {
		return tc, err
	}
	if !s.store.Node().IsReady() {
		return tc, kerr(codeNotController, "not the Raft leader: ask the controller that Metadata names")
	}
	if _, ok := s.store.FSM().Topic(t.Topic); ok {
		return tc, kerr(codeTopicAlreadyExists, fmt.Sprintf("topic %q already exists", t.Topic))
	}
	if len(t.ReplicaAssignment) > 0 {
		return tc, kerr(codeInvalidReplicaAssignment, "minibroker places every partition on every voter: no replica assignment")
	}
	if partitions < 1 || partitions > replication.MaxPartitions {
		return tc, kerr(codeInvalidPartitions, fmt.Sprintf("%d partitions: want 1 to %d", partitions, replication.MaxPartitions))
	}
	voters := len(s.cluster().voters)
	if rf := t.ReplicationFactor; rf != -1 && (rf < 1 || int(rf) > voters) {
		return tc, kerr(codeInvalidReplicationFactor, fmt.Sprintf(
			"replication factor %d: every partition is on every voter, so want -1 or 1 to %d (the voters)", rf, voters))
	}
	configs := map[string]*string{}
	for _, cf := range t.Configs {
		if _, dup := configs[cf.Name]; dup {
			return tc, kerr(codeInvalidConfig, fmt.Sprintf("config %s given twice", cf.Name))
		}
		configs[cf.Name] = cf.Value
	}
	return parseTopicConfigs(configs)
}

// createErrCode maps an admin error; a follower's not-leader becomes
// NOT_CONTROLLER (what clients expect from CreateTopics and DeleteTopics).
func createErrCode(err error) int16 {
	code := codeOf(err)
	if code == codeNotLeaderOrFollower {
		return codeNotController
	}
	return code
}

// requestTimeout is a request's timeout in milliseconds, or def if it is
// not positive.
func requestTimeout(ms int32, def time.Duration) time.Duration {
	if ms <= 0 {
		return def
	}
	return time.Duration(ms) * time.Millisecond
}
