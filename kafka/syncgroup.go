package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
)

// handleSyncGroup hands a member its assignment (see coordinator.sync);
// during CompletingRebalance it is held until the leader member's
// assignment is recorded through Raft.
func handleSyncGroup(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if resp.ErrorCode = c.groupCode(auth.OpRead, req.Group); resp.ErrorCode != codeNone {
		sl.finish(resp)
		return
	}
	var once bool
	c.s.groups.sync(req, resp, func() {
		if !once {
			once = true
			sl.finish(resp)
		}
	})
}
