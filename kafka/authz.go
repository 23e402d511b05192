package kafka

import (
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
)

// Kafka's authorization error codes.
const (
	codeTopicAuthorizationFailed   int16 = 29
	codeGroupAuthorizationFailed   int16 = 30
	codeClusterAuthorizationFailed int16 = 31
)

// authorizer checks a connection's principal against the replicated ACLs
// before a request enters Raft (docs/security.md: request -> permission).
// It enforces nothing unless enforce is set (Config.EnforceACLs): with
// authentication off every connection is the anonymous superuser.
type authorizer struct {
	// enforce: set from Config.EnforceACLs in New (tests set it later,
	// hence atomic).
	enforce atomic.Bool
}

// allowed reports whether the connection's principal may perform op on
// (res, name). The principal is set once, before the requests it
// authorizes are read. Safe for concurrent use.
func (c *conn) allowed(op auth.Operation, res auth.ResourceType, name string) bool {
	return !c.s.authz.enforce.Load() || c.s.store.FSM().Authorize(c.principal, op, res, name)
}

// topicAllowed is allowed on a topic.
func (c *conn) topicAllowed(op auth.Operation, topic string) bool {
	return c.allowed(op, auth.ResourceTopic, topic)
}

// groupCode is GROUP_AUTHORIZATION_FAILED unless the principal may perform
// op on the group (then codeNone).
func (c *conn) groupCode(op auth.Operation, group string) int16 {
	if c.allowed(op, auth.ResourceGroup, group) {
		return codeNone
	}
	return codeGroupAuthorizationFailed
}

// clusterCode is CLUSTER_AUTHORIZATION_FAILED unless the principal may
// perform op on the cluster (then codeNone).
func (c *conn) clusterCode(op auth.Operation) int16 {
	if c.allowed(op, auth.ResourceCluster, auth.ClusterName) {
		return codeNone
	}
	return codeClusterAuthorizationFailed
}

// mayCreateTopic: cluster Create, or Create on the topic (as Kafka).
func (c *conn) mayCreateTopic(topic string) bool {
	return c.allowed(auth.OpCreate, auth.ResourceCluster, auth.ClusterName) || c.topicAllowed(auth.OpCreate, topic)
}

// mayIdempotentWrite: cluster IdempotentWrite, or Write on any topic (as
// Kafka 3's InitProducerId without a transactional id).
func (c *conn) mayIdempotentWrite() bool {
	if !c.s.authz.enforce.Load() {
		return true
	}
	f := c.s.store.FSM()
	return f.Authorize(c.principal, auth.OpIdempotentWrite, auth.ResourceCluster, auth.ClusterName) ||
		f.AuthorizeAny(c.principal, auth.OpWrite, auth.ResourceTopic)
}

// describeConfigsCode checks DescribeConfigs on one resource: the topic's,
// or the cluster's for a broker resource.
func (c *conn) describeConfigsCode(r kmsg.DescribeConfigsRequestResource) int16 {
	if r.ResourceType == kmsg.ConfigResourceTypeTopic {
		if c.topicAllowed(auth.OpDescribeConfigs, r.ResourceName) {
			return codeNone
		}
		return codeTopicAuthorizationFailed
	}
	return c.clusterCode(auth.OpDescribeConfigs)
}

// authorize returns nil if the connection's principal may perform op on
// (res, name), else an error whose Kafka code (codeOf) is
// TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED or
// CLUSTER_AUTHORIZATION_FAILED by the resource type.
func (c *conn) authorize(op auth.Operation, res auth.ResourceType, name string) error {
	if c.allowed(op, res, name) {
		return nil
	}
	code := codeClusterAuthorizationFailed
	switch res {
	case auth.ResourceTopic:
		code = codeTopicAuthorizationFailed
	case auth.ResourceGroup:
		code = codeGroupAuthorizationFailed
	}
	return kerr(code, fmt.Sprintf("%s may not %s %s %q", c.principal, op, res, name))
}
