package kafka_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/broker/brokertest"
)

// TestACLsThroughAFollower: Kafka clients send CreateAcls and DeleteAcls to
// any broker; a follower asks the leader, and every node then describes
// the change.
func TestACLsThroughAFollower(t *testing.T) {
	c := brokertest.NewCluster(t, 3)
	lead := c.WaitLeader()
	follower := c.Broker((lead + 1) % 3)
	k := dial(t, follower.KafkaAddr())

	create := kmsg.NewPtrCreateACLsRequest()
	create.Version = 3 // v0 has no pattern type: literal
	cr := kmsg.NewCreateACLsRequestCreation()
	cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLResourcePatternTypePrefixed
	cr.Principal, cr.Host, cr.Operation, cr.PermissionType = "User:alice", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
	create.Creations = append(create.Creations, cr)
	if r := k.do(create).(*kmsg.CreateACLsResponse); len(r.Results) != 1 || r.Results[0].ErrorCode != 0 {
		t.Fatalf("create through a follower: %+v", r.Results)
	}

	describe := kmsg.NewPtrDescribeACLsRequest()
	describe.Version = 3
	describe.ResourceType, describe.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	describe.Operation, describe.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	for i := range 3 {
		kn := dial(t, c.Broker(i).KafkaAddr())
		waitFor(t, "the ACL on every node", func() bool {
			r := kn.do(describe).(*kmsg.DescribeACLsResponse)
			return r.ErrorCode == 0 && len(r.Resources) == 1 && r.Resources[0].ResourceName == "orders" &&
				r.Resources[0].ResourcePatternType == kmsg.ACLResourcePatternTypePrefixed && len(r.Resources[0].ACLs) == 1
		})
	}

	del := kmsg.NewPtrDeleteACLsRequest()
	del.Version = 3
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeTopic, kmsg.ACLResourcePatternTypeMatch
	f.ResourceName = kmsg.StringPtr("orders-2026")
	f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	del.Filters = append(del.Filters, f)
	r := k.do(del).(*kmsg.DeleteACLsResponse)
	if len(r.Results) != 1 || r.Results[0].ErrorCode != 0 || len(r.Results[0].MatchingACLs) != 1 ||
		r.Results[0].MatchingACLs[0].Principal != "User:alice" {
		t.Fatalf("delete through a follower: %+v", r.Results)
	}
	if d := dial(t, c.Broker(lead).KafkaAddr()).do(describe).(*kmsg.DescribeACLsResponse); len(d.Resources) != 0 {
		t.Fatalf("left on the leader: %+v", d.Resources)
	}
}
