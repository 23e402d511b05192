package kafka

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/replication"
)

// handleDeleteTopics deletes topics through Raft, one after another, on the
// leader only (elsewhere: NOT_CONTROLLER).
func handleDeleteTopics(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	c.async(func() {
		ctx, cancel := context.WithTimeout(c.ctx, requestTimeout(req.TimeoutMillis, adminTimeout))
		defer cancel()
		resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
		for _, name := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			n := name
			rt.Topic = &n
			var err error
			if c.topicAllowed(auth.OpDelete, name) {
				err = c.s.deleteTopic(ctx, name)
			} else {
				err = kerr(codeTopicAuthorizationFailed, fmt.Sprintf("%s may not delete topic %q", c.principal, name))
			}
			rt.ErrorCode = createErrCode(err)
			if req.Version >= 5 {
				rt.ErrorMessage = errMessage(err)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		sl.finish(resp)
	})
}

func (s *Server) deleteTopic(ctx context.Context, name string) error {
	if err := replication.ValidateTopicName(name); err != nil {
		return err
	}
	if !s.store.Node().IsReady() {
		return kerr(codeNotController, "not the Raft leader: ask the controller that Metadata names")
	}
	if _, ok := s.store.FSM().Topic(name); !ok {
		return kerr(codeUnknownTopicOrPartition, fmt.Sprintf("topic %q does not exist", name))
	}
	return s.store.DeleteTopic(ctx, name)
}
