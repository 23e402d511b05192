package kafka

import (
	"crypto/sha256"
	"fmt"
	"math"
	"net"
	"sort"
	"strconv"

	"github.com/minibroker/minibroker/replication"
)

// clusterView is what Metadata says about the cluster at one moment.
type clusterView struct {
	brokers []brokerInfo
	leader  int32   // the Raft leader's numeric id; -1 while none is known
	voters  []int32 // numeric ids of the Raft voters, sorted
	epoch   int32   // the Raft term, clamped to int32
}

// brokerInfo is one node as Kafka clients see it.
type brokerInfo struct {
	id   string // minibroker node id
	num  int32  // Kafka broker id
	host string
	port int32
}

// cluster builds the current view. Nodes without a Kafka address are left
// out of brokers (a partition led by one answers LEADER_NOT_AVAILABLE).
func (s *Server) cluster() clusterView {
	v := clusterView{leader: -1}
	node := s.store.Node()
	term := node.Stats().Term
	v.epoch = int32(min(term, math.MaxInt32))
	leaderID, _ := node.Leader()
	nums := s.nodeNums()
	if n, ok := nums[leaderID]; ok && leaderID != "" {
		v.leader = n
	}
	if servers, err := node.Servers(); err == nil {
		for _, sv := range servers {
			if n, ok := nums[sv.ID]; ok && sv.Voter {
				v.voters = append(v.voters, n)
			}
		}
	}
	sort.Slice(v.voters, func(i, j int) bool { return v.voters[i] < v.voters[j] })
	for id, addr := range s.kafkaAddrs() {
		host, port, err := splitHostPort(addr)
		if err != nil {
			continue
		}
		v.brokers = append(v.brokers, brokerInfo{id: id, num: nums[id], host: host, port: port})
	}
	sort.Slice(v.brokers, func(i, j int) bool { return v.brokers[i].num < v.brokers[j].num })
	return v
}

// hasBroker reports whether the view lists a broker with Kafka id num.
func (v *clusterView) hasBroker(num int32) bool {
	for _, b := range v.brokers {
		if b.num == num {
			return true
		}
	}
	return false
}

// nodeNums maps node ids to Kafka broker ids.
//
// Until the cluster state assigns numeric ids (FSM.Nodes' Num), they are
// the 1-based position of the node id among the Raft configuration's
// servers sorted by id.
func (s *Server) nodeNums() map[string]int32 {
	nums := map[string]int32{}
	servers, err := s.store.Node().Servers()
	if err != nil {
		return nums
	}
	ids := make([]string, 0, len(servers))
	for _, sv := range servers {
		ids = append(ids, sv.ID)
	}
	sort.Strings(ids)
	for i, id := range ids {
		nums[id] = int32(i + 1)
	}
	return nums
}

// kafkaAddrs maps node ids to their Kafka addresses.
//
// Until the cluster state registers Kafka addresses (FSM.Nodes'
// KafkaAddr), only this node's own address is known.
func (s *Server) kafkaAddrs() map[string]string {
	return map[string]string{s.cfg.NodeID: s.advertisedAddr()}
}

// splitHostPort splits a host:port with a port in [1, 65535].
func splitHostPort(addr string) (string, int32, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	return host, int32(port), nil
}

// topicID is a topic's Kafka id: a UUID derived from its name and the Raft
// index that created it, so it is the same on every node and across
// restarts, and a topic created again under the same name gets another.
// It is never the zero UUID.
func topicID(t replication.Topic) [16]byte {
	h := sha256.Sum256(fmt.Appendf(nil, "minibroker topic\x00%s\x00%d", t.Name, t.CreateIndex))
	var id [16]byte
	copy(id[:], h[:16])
	id[6] = id[6]&0x0f | 0x80 // version 8: custom
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
	return id
}
