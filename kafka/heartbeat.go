package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
)

// handleHeartbeat keeps a member's session alive; REBALANCE_IN_PROGRESS
// tells it to join again.
func handleHeartbeat(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if resp.ErrorCode = c.groupCode(auth.OpRead, req.Group); resp.ErrorCode == codeNone {
		resp.ErrorCode = c.s.groups.heartbeat(req)
	}
	sl.finish(resp)
}
