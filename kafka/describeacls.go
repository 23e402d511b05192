package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
)

// handleDescribeAcls lists the ACLs a filter selects, from this node's
// applied state, grouped by resource as Kafka answers. It needs the
// cluster Describe permission (CLUSTER_AUTHORIZATION_FAILED).
func handleDescribeAcls(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if resp.ErrorCode = c.clusterCode(auth.OpDescribe); resp.ErrorCode != codeNone {
		sl.finish(resp)
		return
	}
	f := aclFilter(req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Host,
		req.Operation, req.PermissionType, req.Version)
	if err := auth.ValidateFilter(f); err != nil {
		resp.ErrorCode, resp.ErrorMessage = codeInvalidRequest, errMessage(err)
		sl.finish(resp)
		return
	}
	// The ACLs come sorted by resource type, name and pattern type: one
	// resource entry per run.
	for _, a := range c.s.store.FSM().MatchACLs(f) {
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceType != kmsg.ACLResourceType(a.Resource) ||
			resp.Resources[n-1].ResourceName != a.Name ||
			resp.Resources[n-1].ResourcePatternType != kmsg.ACLResourcePatternType(a.Pattern) {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName = kmsg.ACLResourceType(a.Resource), a.Name
			r.ResourcePatternType = kmsg.ACLResourcePatternType(a.Pattern)
			resp.Resources = append(resp.Resources, r)
			n++
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host = a.Principal, a.Host
		e.Operation, e.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, e)
	}
	sl.finish(resp)
}
