package kafka

import (
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
)

// handleDescribeGroups describes groups on the coordinator (other nodes:
// NOT_COORDINATOR): Kafka groups with their state, protocol, members,
// metadata and assignments; native minibroker groups with protocol type
// "minibroker" and their members; a group known only by committed offsets
// as Empty; an unknown one as Dead.
func handleDescribeGroups(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = name
		rg.AuthorizedOperations = math.MinInt32
		if rg.ErrorCode = c.groupCode(auth.OpDescribe, name); rg.ErrorCode != codeNone {
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		v, ok := c.s.groups.describe(name)
		if !ok {
			rg.ErrorCode = codeNotCoordinator
		} else {
			rg.State, rg.ProtocolType, rg.Protocol, rg.Members = v.state, v.protocolType, v.protocol, v.members
		}
		resp.Groups = append(resp.Groups, rg)
	}
	sl.finish(resp)
}
