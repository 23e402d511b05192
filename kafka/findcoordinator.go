package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
)

// handleFindCoordinator names the group coordinator: the Raft leader (its
// Kafka broker id and address), for every group, from any node. While no
// leader is known (an election) the answer is COORDINATOR_NOT_AVAILABLE,
// which clients retry. Transaction coordinators (key type 1) do not exist:
// COORDINATOR_NOT_AVAILABLE too. v4 batches keys.
func handleFindCoordinator(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	view := c.s.cluster()
	var leader *brokerInfo
	for i := range view.brokers {
		if view.brokers[i].num == view.leader {
			leader = &view.brokers[i]
		}
	}
	answer := func(key string) (node int32, host string, port int32, code int16, msg *string) {
		switch {
		case req.CoordinatorType != 0:
			m := "transactions are not supported"
			return -1, "", -1, codeCoordinatorNotAvailable, &m
		case !c.allowed(auth.OpDescribe, auth.ResourceGroup, key):
			m := "not authorized to describe group " + key
			return -1, "", -1, codeGroupAuthorizationFailed, &m
		case leader == nil:
			m := "no Raft leader is known (election in progress)"
			return -1, "", -1, codeCoordinatorNotAvailable, &m
		}
		return leader.num, leader.host, leader.port, codeNone, nil
	}
	if req.Version >= 4 {
		for _, k := range req.CoordinatorKeys {
			rc := kmsg.NewFindCoordinatorResponseCoordinator()
			rc.Key = k
			rc.NodeID, rc.Host, rc.Port, rc.ErrorCode, rc.ErrorMessage = answer(k)
			resp.Coordinators = append(resp.Coordinators, rc)
		}
	} else {
		resp.NodeID, resp.Host, resp.Port, resp.ErrorCode, resp.ErrorMessage = answer(req.CoordinatorKey)
	}
	sl.finish(resp)
}
