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
	v.epoch = s.leaderEpoch()
	leaderID, _ := node.Leader()
	nums, addrs := s.registered()
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
	for id, addr := range addrs {
		host, port, err := splitHostPort(addr)
		if err != nil {
			continue
		}
		v.brokers = append(v.brokers, brokerInfo{id: id, num: nums[id], host: host, port: port})
	}
	sort.Slice(v.brokers, func(i, j int) bool { return v.brokers[i].num < v.brokers[j].num })
	return v
}

// leaderEpoch is Kafka's leader epoch of every partition: the Raft term,
// clamped to int32.
func (s *Server) leaderEpoch() int32 {
	return int32(min(s.store.Node().Term(), math.MaxInt32))
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

// registered reads the cluster state's nodes once: nums maps node ids to
// Kafka broker ids (the numeric ids the cluster gives each node when it
// first registers), addrs node ids to their registered Kafka addresses
// (this node's own is its configured one until registered).
func (s *Server) registered() (nums map[string]int32, addrs map[string]string) {
	nums, addrs = map[string]int32{}, map[string]string{}
	for _, n := range s.store.FSM().Nodes() {
		if n.Num <= 0 {
			continue
		}
		nums[n.ID] = n.Num
		if n.KafkaAddr != "" {
			addrs[n.ID] = n.KafkaAddr
		}
	}
	if _, ok := addrs[s.cfg.NodeID]; !ok {
		if _, known := nums[s.cfg.NodeID]; known {
			addrs[s.cfg.NodeID] = s.advertisedAddr()
		}
	}
	return nums, addrs
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
