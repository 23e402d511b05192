package kafka

import (
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
)

// handleJoinGroup joins a member to a group (see coordinator.join). The
// response may be held for up to the rebalance timeout; the connection's
// later requests are answered after it, in order, and other connections
// are unaffected.
func handleJoinGroup(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	if resp.ErrorCode = c.groupCode(auth.OpRead, req.Group); resp.ErrorCode != codeNone {
		resp.Generation = -1
		sl.finish(resp)
		return
	}
	var once bool
	c.s.groups.join(req, deref(sl.hdr.ClientID), clientHost(c), resp, func() {
		if !once {
			once = true
			sl.finish(resp)
		}
	})
}

// clientHost is the member's host as Kafka shows it ("/1.2.3.4").
func clientHost(c *conn) string {
	host, _, err := net.SplitHostPort(c.nc.RemoteAddr().String())
	if err != nil {
		return ""
	}
	return "/" + host
}
