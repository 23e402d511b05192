package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
	mlog "github.com/minibroker/minibroker/log"
)

// Special ListOffsets timestamps.
const (
	tsLatest   = -1
	tsEarliest = -2
	tsMax      = -3 // v7+: the record with the largest timestamp
)

// scanChunk is how much of a partition one read takes while searching by
// timestamp.
const scanChunk = 1 << 20

// handleListOffsets answers the earliest (-2) or latest (-1) offset, the
// offset of the record with the largest timestamp (-3), or the first
// offset whose record has a timestamp at or after a given one; -1 (and
// timestamp -1) when no record has. Only the leader answers (elsewhere:
// NOT_LEADER_OR_FOLLOWER), so "latest" includes every acknowledged write.
// Searching by timestamp reads the partition's batch headers from the
// start (minibroker keeps no timestamp index): it takes time in proportion
// to the partition's size.
func handleListOffsets(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	c.async(func() {
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		leader := c.s.store.Node().IsReady()
		epoch := c.s.leaderEpoch()
		for _, t := range req.Topics {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			describable := c.topicAllowed(auth.OpDescribe, t.Topic)
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition = p.Partition
				if !describable {
					rp.ErrorCode = codeTopicAuthorizationFailed
				} else if !leader {
					rp.ErrorCode = codeNotLeaderOrFollower
				} else if off, ts, err := c.s.listOffset(t.Topic, p.Partition, p.Timestamp); err != nil {
					rp.ErrorCode = codeOf(err)
				} else {
					rp.Offset, rp.Timestamp, rp.LeaderEpoch = off, ts, epoch
					if req.Version == 0 && off >= 0 && p.MaxNumOffsets > 0 {
						rp.OldStyleOffsets = []int64{off}
					}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		sl.finish(resp)
	})
}

// listOffset returns the offset (and its record's timestamp, -1 for
// earliest and latest) for one ListOffsets timestamp.
func (s *Server) listOffset(topic string, partition int32, ts int64) (int64, int64, error) {
	f := s.store.FSM()
	start, end, err := f.Offsets(topic, partition)
	if err != nil {
		return 0, 0, err
	}
	switch {
	case ts == tsLatest:
		return end, -1, nil
	case ts == tsEarliest:
		return start, -1, nil
	case ts < tsMax:
		return 0, 0, kerr(codeInvalidRequest, "unknown special timestamp")
	}
	best, bestTs := int64(-1), int64(-1)
	for off := start; off < end; {
		raw, err := f.Read(topic, partition, off, scanChunk)
		if err != nil {
			return 0, 0, err
		}
		if len(raw) == 0 {
			break
		}
		for len(raw) > 0 {
			b, rest, err := mlog.ParseBatch(raw)
			if err != nil {
				return 0, 0, err
			}
			raw, off = rest, b.NextOffset()
			switch {
			case ts == tsMax && b.MaxTimestamp() > bestTs:
				o, _, found, err := offsetAtTime(b, b.MaxTimestamp(), s.cfg.MaxFrameBytes)
				if err != nil {
					return 0, 0, err
				}
				if found {
					best, bestTs = o, b.MaxTimestamp()
				}
			case ts >= 0:
				o, ots, found, err := offsetAtTime(b, ts, s.cfg.MaxFrameBytes)
				if err != nil {
					return 0, 0, err
				}
				if found {
					return o, ots, nil
				}
			}
		}
	}
	return best, bestTs, nil
}
