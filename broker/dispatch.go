package broker

import (
	"context"

	"github.com/minibroker/minibroker/internal/wire"
)

// dispatch decodes a request body and starts serving it. A body that does
// not decode is returned as an error (the connection then closes).
// Produce is served in order on the reader goroutine (see produce.go);
// every other request runs on its own request goroutine.
func (c *conn) dispatch(hdr wire.RequestHeader, body []byte) error {
	corr := hdr.CorrelationID
	c.reqHdr = hdr
	switch hdr.APIKey {
	case wire.Produce:
		var req wire.ProduceRequest
		if err := wire.DecodeBody(body, &req); err != nil {
			return err
		}
		c.produce(corr, &req)
		return nil
	case wire.Fetch:
		return serve(c, body, func(r *wire.FetchRequest) { c.serveFetch(corr, r) })
	case wire.Metadata:
		return answer(c, hdr, body, c.metadata)
	case wire.CreateTopic:
		return answerCtx(c, hdr, body, c.b.createTopic)
	case wire.DeleteTopic:
		return answerCtx(c, hdr, body, c.b.deleteTopic)
	case wire.ListOffsets:
		return answerCtx(c, hdr, body, c.b.listOffsets)
	case wire.JoinCluster:
		return answerCtx(c, hdr, body, c.joinCluster) // checks requireNode
	case wire.InitProducer:
		return serve(c, body, func(*wire.InitProducerRequest) { c.replyTo(corr, wire.InitProducer, c.b.initProducer(c.ctx)) })
	case wire.JoinGroup:
		return serve(c, body, func(r *wire.JoinGroupRequest) { c.joinGroup(corr, r) })
	case wire.Heartbeat:
		return serve(c, body, func(r *wire.HeartbeatRequest) { c.heartbeat(corr, r) })
	case wire.LeaveGroup:
		return serve(c, body, func(r *wire.LeaveGroupRequest) { c.leaveGroup(corr, r) })
	case wire.CommitOffsets:
		return answerCtx(c, hdr, body, c.b.commitOffsets)
	case wire.FetchOffsets:
		return answerCtx(c, hdr, body, c.fetchOffsets)
	case wire.DescribeGroup:
		return answerCtx(c, hdr, body, c.describeGroup)
	case wire.ListGroups:
		return serve(c, body, func(*wire.ListGroupsRequest) { c.replyTo(corr, wire.ListGroups, c.listGroups()) })
	case wire.ResetOffsets:
		return answerCtx(c, hdr, body, c.b.resetOffsets)
	case wire.DeleteGroup:
		return answerCtx(c, hdr, body, c.b.deleteGroup)
	case wire.DescribeCluster:
		return serve(c, body, func(*wire.DescribeClusterRequest) { c.replyTo(corr, wire.DescribeCluster, c.b.describeCluster()) })
	case wire.RemoveNode:
		return answerCtx(c, hdr, body, c.b.removeNode)
	case wire.ProposeDigest:
		return answerCtx(c, hdr, body, c.b.proposeDigest)
	case wire.ReplicaDigest:
		return answerCtx(c, hdr, body, c.b.replicaDigest)
	case wire.CreateACLs:
		return answerCtx(c, hdr, body, c.b.createACLs)
	case wire.DeleteACLs:
		return answerCtx(c, hdr, body, c.b.deleteACLs)
	case wire.DescribeACLs:
		return answer(c, hdr, body, c.b.describeACLs)
	case wire.PutUser:
		return answerCtx(c, hdr, body, c.putUser)
	case wire.DeleteUser:
		return answerCtx(c, hdr, body, c.deleteUser)
	case wire.ListUsers:
		return answerCtx(c, hdr, body, c.listUsers)
	}
	// CheckVersion accepted a key this switch does not serve: a bug.
	c.respondErr(corr, hdr.APIKey, wire.Err(wire.CodeUnknownAPI, hdr.APIKey.String()+" is not served"))
	return nil
}

// replyTo sends resp, a response body, counting its error code in the
// metrics of api.
func (c *conn) replyTo(corr uint32, api wire.APIKey, resp any) {
	code := wire.CodeNone
	if r, ok := resp.(interface{ Err() error }); ok {
		code = wire.CodeOf(r.Err())
	}
	c.reply(corr, api, code, resp)
}

// serve decodes a request of type T and runs fn with it on a request
// goroutine, unless the connection's principal may not make it
// (authorizeRequest): then the answer is an error response.
func serve[T any](c *conn, body []byte, fn func(*T)) error {
	req := new(T)
	if err := wire.DecodeBody(body, req); err != nil {
		return err
	}
	if err := c.authorizeRequest(req); err != nil {
		c.respondErr(c.reqHdr.CorrelationID, c.reqHdr.APIKey, err)
		return nil
	}
	c.async(func() { fn(req) })
	return nil
}

// answer serves a request whose handler computes the response.
func answer[T, R any](c *conn, hdr wire.RequestHeader, body []byte, handle func(*T) R) error {
	return serve(c, body, func(req *T) { r := handle(req); c.replyTo(hdr.CorrelationID, hdr.APIKey, &r) })
}

// answerCtx is answer for handlers that take the connection's context.
func answerCtx[T, R any](c *conn, hdr wire.RequestHeader, body []byte, handle func(context.Context, *T) R) error {
	return serve(c, body, func(req *T) { r := handle(c.ctx, req); c.replyTo(hdr.CorrelationID, hdr.APIKey, &r) })
}
