package kafka

import "github.com/twmb/franz-go/pkg/kmsg"

// handleHeartbeat keeps a member's session alive; REBALANCE_IN_PROGRESS
// tells it to join again.
func handleHeartbeat(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.s.groups.heartbeat(req)
	sl.finish(resp)
}
