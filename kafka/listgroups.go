package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
)

// handleListGroups lists the groups this node coordinates: every group on
// the Raft leader (Kafka, native with protocol type "minibroker", and
// groups known only by committed offsets), none elsewhere, as each Kafka
// broker lists its own. v4 filters by state.
func handleListGroups(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	views, _ := c.s.groups.list(req.StatesFilter)
	all := c.allowed(auth.OpDescribe, auth.ResourceCluster, auth.ClusterName)
	for _, v := range views {
		if !all && !c.allowed(auth.OpDescribe, auth.ResourceGroup, v.name) {
			continue // listed only to principals that may Describe it, as in Kafka
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState = v.name, v.protocolType, v.state
		resp.Groups = append(resp.Groups, rg)
	}
	sl.finish(resp)
}
