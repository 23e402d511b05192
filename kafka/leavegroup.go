package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
)

// handleLeaveGroup removes members from a group: one by member id (v0-2)
// or a batch by member or instance id (v3+, with a code per member).
func handleLeaveGroup(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if resp.ErrorCode = c.groupCode(auth.OpRead, req.Group); resp.ErrorCode != codeNone {
		sl.finish(resp)
		return
	}
	var ms []leaveMember
	if req.Version < 3 {
		ms = []leaveMember{{id: req.MemberID}}
	} else {
		for _, m := range req.Members {
			ms = append(ms, leaveMember{id: m.MemberID, inst: deref(m.InstanceID)})
		}
	}
	top, codes := c.s.groups.leave(req.Group, ms)
	resp.ErrorCode = top
	switch {
	case top != codeNone:
	case req.Version < 3:
		resp.ErrorCode = codes[0]
	default:
		for i, m := range req.Members {
			rm := kmsg.NewLeaveGroupResponseMember()
			rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, codes[i]
			resp.Members = append(resp.Members, rm)
		}
	}
	sl.finish(resp)
}
