package kafka

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
	mlog "github.com/minibroker/minibroker/log"
)

// defaultFetchMaxBytes is a Fetch's response limit when it sets none (v0-2
// have no MaxBytes; we serve v4+, but a client may send 0).
const defaultFetchMaxBytes = 50 << 20

const codeFetchSessionIDNotFound int16 = 70

// handleFetch answers from the leader's applied data, long-polling: it
// waits up to MaxWaitMillis (capped by Config.MaxFetchWait) until
// MinBytes are there, woken by the state machine's per-partition change
// notification (the native Fetch's: no polling). Fetch sessions are
// declined: every response has session id 0, so clients send full fetches.
func handleFetch(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.FetchRequest)
	var denied map[string]bool // made at the first denial: most fetches have none
	for _, t := range req.Topics {
		if !c.topicAllowed(auth.OpRead, t.Topic) {
			if denied == nil {
				denied = map[string]bool{}
			}
			denied[t.Topic] = true
		}
	}
	c.async(func() { sl.finish(c.s.fetch(c.ctx, req, denied)) })
}

// fetch serves a Fetch; the topics in denied (the principal may not Read
// them) are answered TOPIC_AUTHORIZATION_FAILED.
func (s *Server) fetch(ctx context.Context, req *kmsg.FetchRequest, denied map[string]bool) *kmsg.FetchResponse {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if req.SessionID != 0 {
		resp.ErrorCode = codeFetchSessionIDNotFound
		return resp
	}
	wait := min(time.Duration(max(req.MaxWaitMillis, 0))*time.Millisecond, s.cfg.MaxFetchWait)
	deadline := time.Now().Add(wait)
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = defaultFetchMaxBytes
	}
	maxBytes = min(maxBytes, s.cfg.MaxFrameBytes)
	for {
		resp.Topics = resp.Topics[:0]
		var changed []<-chan struct{}
		total, failed := 0, false
		leader := s.store.Node().IsReady()
		for _, t := range req.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				if denied[t.Topic] {
					rp := kmsg.NewFetchResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.HighWatermark, rp.LastStableOffset = p.Partition, codeTopicAuthorizationFailed, -1, -1
					rp.RecordBatches = []byte{}
					failed = true
					rt.Partitions = append(rt.Partitions, rp)
					continue
				}
				rp, ch := s.fetchPartition(t.Topic, p, maxBytes-total, total == 0, leader)
				total += len(rp.RecordBatches)
				failed = failed || rp.ErrorCode != codeNone
				if ch != nil {
					changed = append(changed, ch)
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		if failed || total >= int(req.MinBytes) || total > 0 && req.MinBytes <= 0 || !time.Now().Before(deadline) {
			return resp
		}
		if !waitAny(ctx, changed, time.Until(deadline)) {
			return resp // the wait is over: answer with what there is
		}
	}
}

// fetchPartition reads one partition from p.FetchOffset, at most budget
// bytes unless first (then at least one whole batch), and returns the
// partition's answer and the channel that closes at its next change (nil
// on an error).
func (s *Server) fetchPartition(topic string, p kmsg.FetchRequestTopicPartition, budget int, first, leader bool) (kmsg.FetchResponseTopicPartition, <-chan struct{}) {
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.Partition = p.Partition
	rp.RecordBatches = []byte{} // never null: librdkafka rejects a null records field
	fail := func(err error) (kmsg.FetchResponseTopicPartition, <-chan struct{}) {
		rp.ErrorCode = codeOf(err)
		return rp, nil
	}
	if !leader {
		return fail(kerr(codeNotLeaderOrFollower, "not the leader"))
	}
	f := s.store.FSM()
	changed, err := f.Changed(topic, p.Partition)
	if err != nil {
		return fail(err)
	}
	start, end, err := f.Offsets(topic, p.Partition)
	if err != nil {
		return fail(err)
	}
	rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = end, end, start
	if p.FetchOffset < start || p.FetchOffset > end {
		rp.ErrorCode = codeOffsetOutOfRange
		return rp, nil
	}
	if p.FetchOffset == end || budget <= 0 && !first {
		return rp, changed
	}
	limit := int(p.PartitionMaxBytes)
	if limit <= 0 || limit > budget {
		limit = max(budget, 1)
	}
	raw, err := f.Read(topic, p.Partition, p.FetchOffset, limit)
	if err != nil {
		return fail(err)
	}
	// In place: each frame's Kafka part moves down over the prefixes
	// before it, so the answer needs no second buffer.
	out, err := appendKafkaBatches(raw[:0], raw)
	if err != nil {
		s.logger.Error("corrupt batch in partition", "topic", topic, "partition", p.Partition, "error", err)
		return fail(fmt.Errorf("%w: %v", mlog.ErrCorrupt, err))
	}
	if !first && len(out) > limit {
		out = cutBatches(out, limit)
	}
	rp.RecordBatches = out
	return rp, changed
}

// cutBatches returns the longest prefix of whole Kafka batches in b that
// fits in limit bytes (possibly empty, never nil).
func cutBatches(b []byte, limit int) []byte {
	n := 0
	for len(b)-n >= kbHeaderSize {
		size := kbLengthPrefix + int(int32(be32(b[n+kbLength:])))
		if size < kbHeaderSize || n+size > len(b) || n+size > limit {
			break
		}
		n += size
	}
	return b[:n:n]
}

// waitAny waits until one of chans is closed (true), or d passes or ctx
// ends (false).
func waitAny(ctx context.Context, chans []<-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	cases := make([]reflect.SelectCase, 0, len(chans)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	for _, ch := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	i, _, _ := reflect.Select(cases)
	return i >= 2
}
