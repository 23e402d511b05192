package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/minibroker/minibroker/internal/auth"
	"github.com/minibroker/minibroker/replication"
)

// clusterID is what Metadata v2+ names the cluster.
const clusterID = "minibroker"

// autoCreateTimeout bounds the topic creations of one Metadata request.
const autoCreateTimeout = 10 * time.Second

func handleMetadata(c *conn, sl *slot, kreq kmsg.Request) {
	req := kreq.(*kmsg.MetadataRequest)
	f := c.s.store.FSM()
	// Which topics: all (v0: an empty list; v1+: null), or those named
	// (v10+ may name them by id instead).
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	var missing []string
	createErrs := map[string]error{} // the failed (or refused) auto-creations
	allowAuto := c.s.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	if !all && allowAuto {
		for _, t := range req.Topics {
			if t.Topic == nil {
				continue
			}
			if _, ok := f.Topic(*t.Topic); !ok && replication.ValidateTopicName(*t.Topic) == nil {
				if !c.mayCreateTopic(*t.Topic) {
					createErrs[*t.Topic] = kerr(codeTopicAuthorizationFailed, "not authorized to create the topic")
					continue
				}
				missing = append(missing, *t.Topic)
			}
		}
	}
	if len(missing) == 0 || !c.s.store.Node().IsReady() {
		sl.finish(c.filterMetadata(req, c.s.metadata(req, all, createErrs), all))
		return
	}
	c.async(func() {
		ctx, cancel := context.WithTimeout(c.ctx, autoCreateTimeout)
		defer cancel()
		for _, name := range missing {
			err := c.s.store.CreateTopic(ctx, name, c.s.cfg.DefaultPartitions, replication.TopicConfig{})
			if err != nil && !errors.Is(err, replication.ErrTopicExists) {
				c.log.Info("auto-creating topic failed", "topic", name, "error", err)
				createErrs[name] = err
			}
		}
		sl.finish(c.filterMetadata(req, c.s.metadata(req, all, createErrs), all))
	})
}

// filterMetadata keeps the topics of req's answer resp the connection's
// principal may Describe: the others are left out of an all-topics answer
// and answered TOPIC_AUTHORIZATION_FAILED without partitions when asked
// for, as Kafka does: one named keeps its name (without the id), one asked
// for by id keeps its id and gets a null name (the principal did not know
// the name).
func (c *conn) filterMetadata(req *kmsg.MetadataRequest, resp *kmsg.MetadataResponse, all bool) *kmsg.MetadataResponse {
	if !c.s.authz.enforce.Load() || c.principal.Superuser {
		return resp
	}
	named := map[string]bool{}
	for _, rt := range req.Topics {
		if rt.Topic != nil {
			named[*rt.Topic] = true
		}
	}
	kept := resp.Topics[:0]
	for _, mt := range resp.Topics {
		if mt.Topic == nil || c.topicAllowed(auth.OpDescribe, *mt.Topic) {
			kept = append(kept, mt)
			continue
		}
		if all {
			continue
		}
		denied := kmsg.NewMetadataResponseTopic()
		denied.ErrorCode = codeTopicAuthorizationFailed
		if named[*mt.Topic] {
			denied.Topic = mt.Topic
		} else {
			denied.TopicID = mt.TopicID
		}
		kept = append(kept, denied)
	}
	resp.Topics = kept
	return resp
}

// metadata answers from this node's applied state. createErrs holds the
// failed auto-creations.
func (s *Server) metadata(req *kmsg.MetadataRequest, all bool, createErrs map[string]error) *kmsg.MetadataResponse {
	f := s.store.FSM()
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	view := s.cluster()
	for _, b := range view.brokers {
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = b.num, b.host, b.port
		resp.Brokers = append(resp.Brokers, mb)
	}
	id := clusterID
	resp.ClusterID = &id
	resp.ControllerID = view.leader
	if !view.hasBroker(view.leader) {
		resp.ControllerID = -1
	}
	var topics []replication.Topic
	var byID map[[16]byte]replication.Topic
	if all {
		topics = f.Topics()
	} else {
		for _, rt := range req.Topics {
			if rt.Topic != nil {
				t, ok := f.Topic(*rt.Topic)
				if !ok {
					t = replication.Topic{Name: *rt.Topic, Partitions: -1}
				}
				topics = append(topics, t)
				continue
			}
			if byID == nil {
				byID = map[[16]byte]replication.Topic{}
				for _, t := range f.Topics() {
					byID[topicID(t)] = t
				}
			}
			t, ok := byID[rt.TopicID]
			if !ok {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID, mt.ErrorCode = rt.TopicID, codeUnknownTopicID
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			topics = append(topics, t)
		}
	}
	for _, t := range topics {
		resp.Topics = append(resp.Topics, s.topicMetadata(t, &view, createErrs))
	}
	return resp
}

// topicMetadata describes one topic; Partitions -1 marks an unknown one.
func (s *Server) topicMetadata(t replication.Topic, view *clusterView, createErrs map[string]error) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	if t.Partitions < 0 {
		mt.ErrorCode = codeUnknownTopicOrPartition
		if err := replication.ValidateTopicName(name); err != nil {
			mt.ErrorCode = codeInvalidTopic
		} else if err := createErrs[name]; err != nil {
			mt.ErrorCode = codeOf(err)
			if mt.ErrorCode == codeNotLeaderOrFollower || mt.ErrorCode == codeRequestTimedOut {
				mt.ErrorCode = codeLeaderNotAvailable // retriable: the client asks again
			}
		}
		return mt
	}
	mt.TopicID = topicID(t)
	for p := int32(0); p < t.Partitions; p++ {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p
		mp.Leader = view.leader
		mp.LeaderEpoch = view.epoch
		mp.Replicas = view.voters
		mp.ISR = view.voters
		mp.OfflineReplicas = []int32{}
		if !view.hasBroker(view.leader) {
			mp.ErrorCode = codeLeaderNotAvailable
			mp.Leader = -1
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
