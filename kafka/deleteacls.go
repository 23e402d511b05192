package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
)

// handleDeleteAcls removes the ACLs each filter selects, through Raft
// (Config.DeleteACLs: the broker's asks the leader from a follower), and
// lists per filter the ACLs
// removed. It needs the cluster Alter permission. An invalid filter gets
// INVALID_REQUEST; the others are applied in one command.
func handleDeleteAcls(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	results := make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	for i := range results {
		results[i] = kmsg.NewDeleteACLsResponseResult()
	}
	resp.Results = results
	if code := c.clusterCode(auth.OpAlter); code != codeNone {
		for i := range results {
			results[i].ErrorCode = code
		}
		sl.finish(resp)
		return
	}
	var filters []auth.Filter
	var at []int
	for i, f := range req.Filters {
		af := aclFilter(f.ResourceType, f.ResourceName, f.ResourcePatternType, f.Principal, f.Host,
			f.Operation, f.PermissionType, req.Version)
		if err := auth.ValidateFilter(af); err != nil {
			results[i].ErrorCode, results[i].ErrorMessage = codeInvalidRequest, errMessage(err)
			continue
		}
		filters = append(filters, af)
		at = append(at, i)
	}
	if len(filters) == 0 {
		sl.finish(resp)
		return
	}
	c.async(func() {
		ctx, cancel := context.WithTimeout(c.ctx, adminTimeout)
		defer cancel()
		per, err := c.s.cfg.DeleteACLs(ctx, filters)
		for k, i := range at {
			if err != nil {
				results[i].ErrorCode, results[i].ErrorMessage = aclCode(err), errMessage(err)
				continue
			}
			for _, a := range per[k] {
				m := kmsg.NewDeleteACLsResponseResultMatchingACL()
				m.ResourceType, m.ResourceName = kmsg.ACLResourceType(a.Resource), a.Name
				m.ResourcePatternType = kmsg.ACLResourcePatternType(a.Pattern)
				m.Principal, m.Host = a.Principal, a.Host
				m.Operation, m.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
				results[i].MatchingACLs = append(results[i].MatchingACLs, m)
			}
		}
		sl.finish(resp)
	})
}
