package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
)

// handleCreateAcls adds ACLs through Raft (Config.CreateACLs: the
// broker's asks the leader from a follower). It needs the cluster Alter permission. Each creation
// gets its own result: an invalid one INVALID_REQUEST; the valid ones are
// added in one command.
func handleCreateAcls(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	results := make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	for i := range results {
		results[i] = kmsg.NewCreateACLsResponseResult()
	}
	resp.Results = results
	if code := c.clusterCode(auth.OpAlter); code != codeNone {
		for i := range results {
			results[i].ErrorCode = code
		}
		sl.finish(resp)
		return
	}
	var acls []auth.ACL
	var at []int
	for i, cr := range req.Creations {
		a := auth.ACL{Principal: cr.Principal, Host: cr.Host, Resource: auth.ResourceType(cr.ResourceType),
			Pattern: patternOf(cr.ResourcePatternType, req.Version), Name: cr.ResourceName,
			Operation: auth.Operation(cr.Operation), Permission: auth.Permission(cr.PermissionType)}
		if err := auth.ValidateACL(a); err != nil {
			results[i].ErrorCode, results[i].ErrorMessage = codeInvalidRequest, errMessage(err)
			continue
		}
		acls = append(acls, a)
		at = append(at, i)
	}
	if len(acls) == 0 {
		sl.finish(resp)
		return
	}
	c.async(func() {
		ctx, cancel := context.WithTimeout(c.ctx, adminTimeout)
		defer cancel()
		if err := c.s.cfg.CreateACLs(ctx, acls); err != nil {
			for _, i := range at {
				results[i].ErrorCode, results[i].ErrorMessage = aclCode(err), errMessage(err)
			}
		}
		sl.finish(resp)
	})
}
