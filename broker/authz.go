package broker

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/internal/wire"
	"github.com/minibroker/minibroker/replication"
)

// authorizer checks a connection's principal against the replicated ACLs
// before a request enters Raft (docs/security.md has the table of
// request -> permission). It enforces nothing unless enforce is set: with
// authentication off every connection is the anonymous superuser.
type authorizer struct {
	// enforce is true when connections authenticate (Config.Auth is
	// scram): set by Start before anything is served (tests set it later,
	// hence atomic); false by default.
	enforce atomic.Bool
}

// allowed reports whether p may perform op on (res, name) under the
// ACLs in f. Safe for concurrent use.
func (a *authorizer) allowed(f *replication.FSM, p auth.Principal, op auth.Operation, res auth.ResourceType, name string) bool {
	return !a.enforce.Load() || f.Authorize(p, op, res, name)
}

// authzError is the wire error for a refused operation: it wraps
// wire.ErrTopicAuthorization, ErrGroupAuthorization or
// ErrClusterAuthorization by the resource type.
func authzError(p auth.Principal, op auth.Operation, res auth.ResourceType, name string) error {
	sentinel := wire.ErrClusterAuthorization
	switch res {
	case auth.ResourceTopic:
		sentinel = wire.ErrTopicAuthorization
	case auth.ResourceGroup:
		sentinel = wire.ErrGroupAuthorization
	}
	return fmt.Errorf("%w: %s may not %s %s %q", sentinel, p, op, res, name)
}

// authorize returns nil if the connection's principal may perform op on
// (res, name), else an error wrapping the wire sentinel for the resource
// type. Runs on any goroutine of the connection: the principal is set
// once, before requests are served.
func (c *conn) authorize(op auth.Operation, res auth.ResourceType, name string) error {
	if c.b.authz.allowed(c.b.store.FSM(), c.principal, op, res, name) {
		return nil
	}
	return authzError(c.principal, op, res, name)
}

// authorizeCluster is authorize on the cluster resource.
func (c *conn) authorizeCluster(op auth.Operation) error {
	return c.authorize(op, auth.ResourceCluster, auth.ClusterName)
}

// authorizeRequest checks a decoded native request before it is served:
// the permission each request type needs (docs/security.md). Metadata and
// ListGroups are not refused but filtered (conn.metadata,
// conn.listGroups); DescribeCluster needs nothing (clients use it to find
// the leader, as Kafka's Metadata lists the brokers to anyone).
func (c *conn) authorizeRequest(req any) error {
	if !c.b.authz.enforce.Load() || c.principal.Superuser {
		return nil
	}
	const (
		topic   = auth.ResourceTopic
		group   = auth.ResourceGroup
		cluster = auth.ResourceCluster
	)
	switch r := req.(type) {
	case *wire.ProduceRequest:
		return c.authorize(auth.OpWrite, topic, r.Topic)
	case *wire.FetchRequest:
		return c.authorize(auth.OpRead, topic, r.Topic)
	case *wire.ListOffsetsRequest:
		return c.authorize(auth.OpDescribe, topic, r.Topic)
	case *wire.CreateTopicRequest:
		if c.b.authz.allowed(c.b.store.FSM(), c.principal, auth.OpCreate, cluster, auth.ClusterName) {
			return nil
		}
		return c.authorize(auth.OpCreate, topic, r.Name)
	case *wire.DeleteTopicRequest:
		return c.authorize(auth.OpDelete, topic, r.Name)
	case *wire.InitProducerRequest:
		f := c.b.store.FSM()
		if f.Authorize(c.principal, auth.OpIdempotentWrite, cluster, auth.ClusterName) ||
			f.AuthorizeAny(c.principal, auth.OpWrite, topic) {
			return nil
		}
		return authzError(c.principal, auth.OpIdempotentWrite, cluster, auth.ClusterName)
	case *wire.JoinGroupRequest:
		if err := c.authorize(auth.OpRead, group, r.Group); err != nil {
			return err
		}
		// A subscription may name only topics the principal may
		// Describe: else the assignment would reveal a hidden topic's
		// existence and partition count. Kafka's consumer sees such a
		// topic fail with TOPIC_AUTHORIZATION_FAILED (its Metadata
		// request), and so does this JoinGroup, whether the topic
		// exists or not.
		for _, t := range r.Topics {
			if err := c.authorize(auth.OpDescribe, topic, t); err != nil {
				return err
			}
		}
	case *wire.HeartbeatRequest:
		return c.authorize(auth.OpRead, group, r.Group)
	case *wire.LeaveGroupRequest:
		return c.authorize(auth.OpRead, group, r.Group)
	case *wire.CommitOffsetsRequest:
		if err := c.authorize(auth.OpRead, group, r.Group); err != nil {
			return err
		}
		for i, o := range r.Offsets {
			if i > 0 && o.Topic == r.Offsets[i-1].Topic {
				continue // checked: offsets come a partition each, grouped by topic
			}
			if err := c.authorize(auth.OpRead, topic, o.Topic); err != nil {
				return err
			}
		}
	case *wire.FetchOffsetsRequest:
		if err := c.authorize(auth.OpDescribe, group, r.Group); err != nil {
			return err
		}
		for _, tp := range r.Partitions {
			if err := c.authorize(auth.OpDescribe, topic, tp.Topic); err != nil {
				return err
			}
		}
	case *wire.DescribeGroupRequest:
		return c.authorize(auth.OpDescribe, group, r.Group)
	case *wire.ResetOffsetsRequest:
		if err := c.authorize(auth.OpRead, group, r.Group); err != nil {
			return err
		}
		return c.authorize(auth.OpRead, topic, r.Topic)
	case *wire.DeleteGroupRequest:
		return c.authorize(auth.OpDelete, group, r.Group)
	case *wire.JoinClusterRequest, *wire.RemoveNodeRequest, *wire.ProposeDigestRequest,
		*wire.ReplicaDigestRequest, *wire.CreateACLsRequest, *wire.DeleteACLsRequest:
		return c.authorizeCluster(auth.OpAlter)
	case *wire.DescribeACLsRequest:
		return c.authorizeCluster(auth.OpDescribe)
	}
	return nil
}

// metadata is Broker.metadata for this connection's principal: only the
// topics it may Describe are listed; one it names and may not Describe is
// answered CodeTopicAuthorization (whether it exists or not, so that
// names do not leak).
func (c *conn) metadata(req *wire.MetadataRequest) wire.MetadataResponse {
	resp := c.b.metadata(req)
	if !c.b.authz.enforce.Load() || c.principal.Superuser {
		return resp
	}
	f := c.b.store.FSM()
	named := len(req.Topics) > 0
	kept := resp.Topics[:0]
	for _, t := range resp.Topics {
		if f.Authorize(c.principal, auth.OpDescribe, auth.ResourceTopic, t.Name) {
			kept = append(kept, t)
		} else if named {
			kept = append(kept, wire.TopicMetadata{Name: t.Name, ErrorCode: wire.CodeTopicAuthorization})
		}
	}
	resp.Topics = kept
	return resp
}

// listGroups is Broker.listGroups for this connection's principal: only
// the groups it may Describe, all of them with the cluster Describe
// permission (as Kafka).
func (c *conn) listGroups() wire.ListGroupsResponse {
	resp := c.b.listGroups(c.ctx)
	f := c.b.store.FSM()
	if !c.b.authz.enforce.Load() || f.Authorize(c.principal, auth.OpDescribe, auth.ResourceCluster, auth.ClusterName) {
		return resp
	}
	resp.Groups = slices.DeleteFunc(resp.Groups, func(g wire.GroupSummary) bool {
		return !f.Authorize(c.principal, auth.OpDescribe, auth.ResourceGroup, g.Group)
	})
	return resp
}

// fetchOffsets is Broker.fetchOffsets for this connection's principal: a
// request for every committed offset leaves out the topics the principal
// may not Describe (named ones were checked by authorizeRequest).
func (c *conn) fetchOffsets(ctx context.Context, req *wire.FetchOffsetsRequest) wire.FetchOffsetsResponse {
	resp := c.b.fetchOffsets(ctx, req)
	if !c.b.authz.enforce.Load() || c.principal.Superuser || len(req.Partitions) > 0 {
		return resp
	}
	f := c.b.store.FSM()
	resp.Offsets = slices.DeleteFunc(resp.Offsets, func(o wire.PartitionOffset) bool {
		return !f.Authorize(c.principal, auth.OpDescribe, auth.ResourceTopic, o.Topic)
	})
	return resp
}

// describeGroup is Broker.describeGroup for this connection's principal:
// the topics it may not Describe are left out of the group's offsets (with
// their high watermarks and lag) and of its members' subscriptions and
// assignments, so that Describe on a group does not reveal them (the
// group's own permission was checked by authorizeRequest).
func (c *conn) describeGroup(ctx context.Context, req *wire.DescribeGroupRequest) wire.DescribeGroupResponse {
	resp := c.b.describeGroup(ctx, req)
	if !c.b.authz.enforce.Load() || c.principal.Superuser {
		return resp
	}
	f := c.b.store.FSM()
	hidden := func(topic string) bool {
		return !f.Authorize(c.principal, auth.OpDescribe, auth.ResourceTopic, topic)
	}
	resp.Offsets = slices.DeleteFunc(resp.Offsets, func(o wire.GroupOffsetInfo) bool { return hidden(o.Topic) })
	for i := range resp.Members {
		m := &resp.Members[i]
		m.Topics = slices.DeleteFunc(slices.Clone(m.Topics), hidden)
		m.Assignment = slices.DeleteFunc(m.Assignment, func(a wire.TopicPartitions) bool { return hidden(a.Topic) })
	}
	return resp
}
