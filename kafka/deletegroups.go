package kafka

import (
	"context"
	"errors"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/replication"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDeleteGroups deletes groups without members and their committed
// offsets, through Raft: NON_EMPTY_GROUP for a group with members,
// GROUP_ID_NOT_FOUND for an unknown one, NOT_COORDINATOR off the leader.
func handleDeleteGroups(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	c.async(func() {
		ctx, cancel := context.WithTimeout(c.ctx, groupOpTimeout)
		defer cancel()
		for _, name := range req.Groups {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group = name
			members, active := c.s.groups.hasMembers(name)
			var err error
			switch {
			case c.groupCode(auth.OpDelete, name) != codeNone:
				rg.ErrorCode = codeGroupAuthorizationFailed
			case !active:
				rg.ErrorCode = codeNotCoordinator
			case members:
				rg.ErrorCode = codeNonEmptyGroup
			default:
				err = c.s.store.DeleteGroup(ctx, name)
				if errors.Is(err, replication.ErrGroupNotEmpty) {
					rg.ErrorCode = codeNonEmptyGroup
				} else {
					rg.ErrorCode = groupCode(err)
				}
				if err == nil {
					c.s.groups.forget(name)
				}
			}
			rg.ErrorMessage = errMessage(err)
			resp.Groups = append(resp.Groups, rg)
		}
		sl.finish(resp)
	})
}
