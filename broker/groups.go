package broker

import (
	"github.com/minibroker/minibroker/internal/wire"
)

// Request handlers of the group membership APIs: JoinGroup, Heartbeat,
// LeaveGroup. They run on connection request goroutines and hand the work
// to the coordinator goroutine (coordinator.go).

// joinGroup serves a JoinGroup; it may wait for a rebalance to complete.
func (c *conn) joinGroup(corr uint32, req *wire.JoinGroupRequest) {
	reply := make(chan wire.JoinGroupResponse, 1) // written once, never blocks the coordinator
	host := c.nc.RemoteAddr().String()
	coord := c.b.coord
	if err := coord.do(c.ctx, func() { coord.join(req, host, reply) }); err != nil {
		c.respondErr(corr, wire.JoinGroup, err)
		return
	}
	select {
	case resp := <-reply:
		c.reply(corr, wire.JoinGroup, resp.ErrorCode, resp)
	case <-c.ctx.Done():
	}
}

// heartbeat serves a Heartbeat.
func (c *conn) heartbeat(corr uint32, req *wire.HeartbeatRequest) {
	var err error
	coord := c.b.coord
	if derr := coord.do(c.ctx, func() { err = coord.heartbeat(req) }); derr != nil {
		err = derr
	}
	c.reply(corr, wire.Heartbeat, codeOf(err), wire.HeartbeatResponse{ErrorCode: codeOf(err), ErrorMessage: c.b.errText(err)})
}

// leaveGroup serves a LeaveGroup.
func (c *conn) leaveGroup(corr uint32, req *wire.LeaveGroupRequest) {
	var err error
	coord := c.b.coord
	if derr := coord.do(c.ctx, func() { err = coord.leave(req) }); derr != nil {
		err = derr
	}
	c.reply(corr, wire.LeaveGroup, codeOf(err), wire.LeaveGroupResponse{ErrorCode: codeOf(err), ErrorMessage: c.b.errText(err)})
}
