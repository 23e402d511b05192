package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
	mlog "github.com/minibroker/minibroker/log"
	"github.com/minibroker/minibroker/replication"
)

// defaultProduceTimeout bounds a Produce whose timeout is 0 or less.
const defaultProduceTimeout = 30 * time.Second

// produced is one partition of a Produce in flight.
type produced struct {
	topic, partition int // indexes into the response
	pending          []*replication.PendingAppend
	err              error // a later batch of the partition failed to submit
}

// handleProduce validates every partition's batches and submits them to
// Raft on the reader goroutine, so that batches of one connection are
// applied in the order they were sent (what an idempotent producer with
// several requests in flight needs); the wait for the acknowledgements
// runs in a goroutine. acks 0, 1 and -1 are replication.AcksNone,
// AcksLeader and AcksAll; acks=0 gets no response at all. With acks=1 the
// base offset is -1: offsets are assigned when the entry is applied, after
// the quorum commit, and acks=1 does not wait for that.
func handleProduce(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var acks replication.Acks
	ackErr := error(nil)
	switch req.Acks {
	case 0:
		acks = replication.AcksNone
	case 1:
		acks = replication.AcksLeader
	case -1:
		acks = replication.AcksAll
	default:
		ackErr = kerr(codeInvalidRequiredAcks, fmt.Sprintf("acks %d: want 0, 1 or -1", req.Acks))
	}
	if req.TransactionID != nil {
		ackErr = kerr(codeInvalidRequest, "transactions are not supported")
	}
	if req.Version < 3 {
		ackErr = kerr(codeUnsupportedVersion, "Produce v0-2 (message sets before record batch v2) is not supported")
	}
	ctx, cancel := context.WithTimeout(c.ctx, requestTimeout(req.TimeoutMillis, defaultProduceTimeout))
	var inflight []produced
	failed := false
	for ti, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		writable := c.topicAllowed(auth.OpWrite, t.Topic) // once per topic: a check scans the ACLs
		for pi, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			var pa []*replication.PendingAppend
			err := ackErr
			if err == nil && !writable {
				err = kerr(codeTopicAuthorizationFailed, fmt.Sprintf("%s may not write to topic %q", c.principal, t.Topic))
			}
			if err == nil {
				pa, err = c.s.submitPartition(ctx, t.Topic, p.Partition, p.Records, acks)
			}
			if err != nil {
				rp.ErrorCode, rp.ErrorMessage = codeOf(err), errMessage(err)
				failed = true
			}
			if len(pa) > 0 && acks != replication.AcksNone {
				inflight = append(inflight, produced{topic: ti, partition: pi, pending: pa, err: err})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if req.Acks == 0 {
		cancel()
		// acks=0: no response. As Kafka does, a refused partition closes
		// the connection (after the answers before it), so the client
		// refreshes its metadata.
		sl.closeConn = failed
		sl.finish(nil)
		return
	}
	if len(inflight) == 0 {
		cancel()
		sl.finish(resp)
		return
	}
	c.async(func() {
		defer cancel()
		for _, in := range inflight {
			rp := &resp.Topics[in.topic].Partitions[in.partition]
			// Wait for every batch submitted (each Wait releases what its
			// acknowledgement holds); the first error is the answer.
			err := in.err
			for i, pa := range in.pending {
				res, werr := pa.Wait(ctx)
				if err == nil && werr != nil {
					err = werr
				}
				if i == 0 {
					rp.BaseOffset = res.BaseOffset
				}
			}
			if err != nil {
				rp.ErrorCode, rp.ErrorMessage, rp.BaseOffset = codeOf(err), errMessage(err), -1
			}
		}
		sl.finish(resp)
	})
}

// submitPartition validates a partition's records and submits its batches
// in order. With an error it also returns the batches submitted before it
// (only when a later batch of several fails to submit, which is rare:
// clients send one batch per partition); they must be waited for.
func (s *Server) submitPartition(ctx context.Context, topic string, partition int32, records []byte, acks replication.Acks) ([]*replication.PendingAppend, error) {
	if len(records) > s.cfg.MaxMessageBytes {
		return nil, kerr(codeMessageTooLarge, fmt.Sprintf("%d bytes of records, the limit is %d", len(records), s.cfg.MaxMessageBytes))
	}
	kbs, err := splitKafkaBatches(records)
	if err != nil {
		return nil, err
	}
	batches := make([]mlog.Batch, len(kbs))
	for i, kb := range kbs {
		if batches[i], err = wrapBatch(kb, s.cfg.MaxFrameBytes); err != nil {
			return nil, err
		}
	}
	var out []*replication.PendingAppend
	for _, b := range batches {
		p, err := s.store.Submit(ctx, topic, partition, b, acks)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}
