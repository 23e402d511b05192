package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// initProducerTimeout bounds an InitProducerId.
const initProducerTimeout = 10 * time.Second

// handleInitProducerID gives an idempotent producer a new producer id
// (epoch 0) through Raft, on every call, as Kafka does for a producer
// without a transactional id. Any node answers: Config.InitProducer asks
// the leader (the broker's asks it over the native protocol).
//
// A transactional id is answered UNSUPPORTED_VERSION: Kafka has no code
// for "transactions are not supported"; clients treat UNSUPPORTED_VERSION
// from InitProducerId as fatal and not retriable, and report "the version
// of the API is not supported", which is what it is. (A transactional
// client usually stops earlier: FindCoordinator is not advertised.)
func handleInitProducerID(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		c.log.Info("InitProducerId with a transactional id refused: transactions are not supported", "transactional_id", *req.TransactionalID)
		resp.ErrorCode = codeUnsupportedVersion
		sl.finish(resp)
		return
	}
	if !c.mayIdempotentWrite() {
		resp.ErrorCode = codeClusterAuthorizationFailed
		sl.finish(resp)
		return
	}
	c.async(func() {
		ctx, cancel := context.WithTimeout(c.ctx, initProducerTimeout)
		defer cancel()
		id, err := c.s.cfg.InitProducer(ctx)
		if err != nil {
			// No id now (no leader, an election, a timeout): a code every
			// client retries InitProducerId on.
			c.log.Info("InitProducerId failed", "error", err)
			resp.ErrorCode = codeCoordinatorNotAvailable
		} else {
			resp.ProducerID, resp.ProducerEpoch = id, 0
		}
		sl.finish(resp)
	})
}
