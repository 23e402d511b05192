package replication

import (
	"fmt"
	"regexp"
	"slices"
	"sort"

	"github.com/minibroker/minibroker/internal/auth"
)

// Topic is a topic as the replicated state knows it.
type Topic struct {
	Name       string      `msgpack:"n"`
	Partitions int32       `msgpack:"p"`
	Config     TopicConfig `msgpack:"c"`
	// CreateIndex is the Raft index of the CreateTopic entry. It names the
	// topic's directory, so a topic deleted and created again under the
	// same name never meets the old one's files.
	CreateIndex uint64 `msgpack:"ci"`
}

// OffsetKey names a committed offset.
type OffsetKey struct {
	Group     string `msgpack:"g"`
	Topic     string `msgpack:"t"`
	Partition int32  `msgpack:"p"`
}

// CommittedOffset is a consumer group's committed position in a partition:
// the offset of the next message to consume.
type CommittedOffset struct {
	Offset     int64  `msgpack:"o"`
	Generation int32  `msgpack:"gen"`
	Metadata   string `msgpack:"m,omitempty"`
	Timestamp  int64  `msgpack:"ts"` // leader-stamped commit time, ms
}

// metaState is the replicated metadata: everything but the partitions' data.
// It is owned by the FSM goroutine; readers get copies (see FSM.mu).
type metaState struct {
	// Index is the Raft index this state reflects for metadata commands:
	// every metadata command at or below it is in the state. Replay skips
	// them (see fsm.go).
	Index uint64 `msgpack:"i"`
	// Clock is the FSM's clock (FSM.tick) in a copy made for a snapshot or
	// a digest. The live value is FSM.now; in the FSM's own meta it is 0.
	Clock   int64                         `msgpack:"ck,omitempty"`
	Topics  map[string]*Topic             `msgpack:"t"`
	Offsets map[OffsetKey]CommittedOffset `msgpack:"-"`
	// OffsetList is Offsets flattened in a fixed order for encoding (msgpack
	// maps need string keys; the order keeps snapshots byte-identical).
	OffsetList []offsetEntry     `msgpack:"o"`
	Nodes      map[string]string `msgpack:"nd"` // node id -> client address
	// KafkaAddrs maps a node id to its Kafka listener's address, for the
	// registered nodes that have one.
	KafkaAddrs map[string]string `msgpack:"kn,omitempty"`
	// NodeNums maps every node id ever registered to its numeric id (see
	// RegisterNodeCmd); entries are never removed, so numbers are never
	// reused. NodeNumList is it flattened by id for encoding (msgpack sorts
	// only maps of strings and bools).
	NodeNums    map[string]int32 `msgpack:"-"`
	NodeNumList []nodeNum        `msgpack:"nn,omitempty"`
	// Producers is the idempotent producers' dedup state (producers.go);
	// ProducerList is it flattened by id for encoding.
	Producers    map[int64]*producerState `msgpack:"-"`
	ProducerList []*producerState         `msgpack:"pr"`
	// Groups is the consumer groups' membership (groups.go); GroupList is
	// it flattened by name for encoding, left out when empty so that a
	// state without groups encodes as it did before groups existed.
	Groups    map[string]*Group `msgpack:"-"`
	GroupList []*Group          `msgpack:"gr,omitempty"`
	// Users are the SCRAM users (users.go), sorted by name. Apply replaces
	// an entry rather than changing it in place (readers share them).
	Users []*User `msgpack:"us,omitempty"`
	// ACLs are the access-control lists (acls.go), sorted by auth.Compare
	// and unique. Apply replaces the slice, never modifies it in place.
	ACLs []auth.ACL `msgpack:"acl,omitempty"`
}

type nodeNum struct {
	ID  string `msgpack:"id"`
	Num int32  `msgpack:"n"`
}

type offsetEntry struct {
	Key OffsetKey       `msgpack:"k"`
	Val CommittedOffset `msgpack:"v"`
}

func newMetaState() *metaState {
	return &metaState{
		Topics:     map[string]*Topic{},
		Offsets:    map[OffsetKey]CommittedOffset{},
		Nodes:      map[string]string{},
		KafkaAddrs: map[string]string{},
		NodeNums:   map[string]int32{},
		Producers:  map[int64]*producerState{},
		Groups:     map[string]*Group{},
	}
}

// clone returns a deep copy, with OffsetList, ProducerList and GroupList
// filled in sorted order, ready to encode.
func (m *metaState) clone() *metaState {
	c := newMetaState()
	c.Index = m.Index
	c.Clock = m.Clock
	for k, t := range m.Topics {
		tc := *t
		c.Topics[k] = &tc
	}
	for k, v := range m.Offsets {
		c.Offsets[k] = v
		c.OffsetList = append(c.OffsetList, offsetEntry{k, v})
	}
	sort.Slice(c.OffsetList, func(i, j int) bool {
		a, b := c.OffsetList[i].Key, c.OffsetList[j].Key
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	for k, v := range m.Nodes {
		c.Nodes[k] = v
	}
	for k, v := range m.KafkaAddrs {
		c.KafkaAddrs[k] = v
	}
	for k, v := range m.NodeNums {
		c.NodeNums[k] = v
		c.NodeNumList = append(c.NodeNumList, nodeNum{k, v})
	}
	sort.Slice(c.NodeNumList, func(i, j int) bool { return c.NodeNumList[i].ID < c.NodeNumList[j].ID })
	c.ProducerList = m.sortedProducers()
	for _, p := range c.ProducerList {
		c.Producers[p.ID] = p
	}
	c.GroupList = m.sortedGroups()
	for _, g := range c.GroupList {
		c.Groups[g.Name] = g
	}
	c.Users = append([]*User(nil), m.Users...)
	c.ACLs = slices.Clone(m.ACLs)
	return c
}

// afterDecode rebuilds Offsets, Producers and Groups from their lists,
// and sorts and dedupes Users and ACLs. A state encoded before groups
// existed has no GroupList: no groups.
func (m *metaState) afterDecode() {
	if m.Topics == nil {
		m.Topics = map[string]*Topic{}
	}
	if m.Nodes == nil {
		m.Nodes = map[string]string{}
	}
	if m.KafkaAddrs == nil {
		m.KafkaAddrs = map[string]string{}
	}
	m.NodeNums = make(map[string]int32, len(m.NodeNumList))
	for _, e := range m.NodeNumList {
		m.NodeNums[e.ID] = e.Num
	}
	m.NodeNumList = nil
	m.Offsets = make(map[OffsetKey]CommittedOffset, len(m.OffsetList))
	for _, e := range m.OffsetList {
		m.Offsets[e.Key] = e.Val
	}
	m.OffsetList = nil
	m.Producers = make(map[int64]*producerState, len(m.ProducerList))
	for _, p := range m.ProducerList {
		m.Producers[p.ID] = p
	}
	m.ProducerList = nil
	m.Groups = make(map[string]*Group, len(m.GroupList))
	for _, g := range m.GroupList {
		if g != nil { // a nil entry only comes from damaged input
			m.Groups[g.Name] = g
		}
	}
	m.GroupList = nil
	m.Users = sanitizeUsers(m.Users)
	// Apply keeps ACLs sorted and unique; restore does the same to a list
	// that is not, so a restored state equals the straight one.
	if len(m.ACLs) == 0 {
		m.ACLs = nil
	} else {
		slices.SortFunc(m.ACLs, auth.Compare)
		m.ACLs = slices.Compact(m.ACLs)
	}
}

// sortedTopics returns the topics ordered by name.
func (m *metaState) sortedTopics() []*Topic {
	ts := make([]*Topic, 0, len(m.Topics))
	for _, t := range m.Topics {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	return ts
}

// Limits on topics, checked in Apply (so every replica agrees).
const (
	MaxTopicNameLen = 249
	MaxPartitions   = 1024
)

var topicNameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// validateName checks a topic or group name: 1 to max characters of
// [a-zA-Z0-9._-], not "." or "..". The error wraps kind.
func validateName(name string, max int, kind error) error {
	switch {
	case len(name) == 0 || len(name) > max:
		return fmt.Errorf("%w: name must be 1 to %d characters", kind, max)
	case !topicNameRE.MatchString(name) || name == "." || name == "..":
		return fmt.Errorf("%w: name %q may hold only letters, digits, '.', '_' and '-'", kind, name)
	}
	return nil
}

// validateTopic checks a CreateTopic command; the error wraps ErrInvalidTopic.
func validateTopic(c *CreateTopicCmd) error {
	if err := validateName(c.Name, MaxTopicNameLen, ErrInvalidTopic); err != nil {
		return err
	}
	switch {
	case c.Partitions < 1 || c.Partitions > MaxPartitions:
		return fmt.Errorf("%w: %d partitions, want 1 to %d", ErrInvalidTopic, c.Partitions, MaxPartitions)
	case c.Config.RetentionBytes < 0 || c.Config.RetentionMs < 0:
		return fmt.Errorf("%w: negative retention", ErrInvalidTopic)
	case c.Config.SegmentBytes != 0 && (c.Config.SegmentBytes < 1024 || c.Config.SegmentBytes > 1<<30):
		return fmt.Errorf("%w: segment bytes %d not in [1 KiB, 1 GiB]", ErrInvalidTopic, c.Config.SegmentBytes)
	}
	return nil
}
