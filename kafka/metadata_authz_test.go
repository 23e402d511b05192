package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A Metadata request (v10+) that asks by id for a topic the principal may
// not Describe is answered TOPIC_AUTHORIZATION_FAILED with a null name and
// the id it asked for, as Kafka does: not with the topic's name.
func TestMetadataByIDHidesUndescribableName(t *testing.T) {
	a := newAuthzServer(t)
	a.createTopic("hidden")
	ht, ok := a.store.FSM().Topic("hidden")
	if !ok {
		t.Fatal("topic hidden not created")
	}
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	rt := kmsg.NewMetadataRequestTopic()
	rt.TopicID = topicID(ht)
	req.Topics = append(req.Topics, rt)
	resp := request[*kmsg.MetadataResponse](t, a.client(alice), req)
	if len(resp.Topics) != 1 {
		t.Fatalf("%d topics in the answer; want 1", len(resp.Topics))
	}
	mt := resp.Topics[0]
	if mt.Topic != nil || mt.ErrorCode != codeTopicAuthorizationFailed || mt.TopicID != rt.TopicID || len(mt.Partitions) != 0 {
		name := "<nil>"
		if mt.Topic != nil {
			name = *mt.Topic
		}
		t.Fatalf("by id: name %s, code %d, id %x, %d partitions; want a null name, TOPIC_AUTHORIZATION_FAILED, id %x",
			name, mt.ErrorCode, mt.TopicID, len(mt.Partitions), rt.TopicID)
	}

	// Named, the answer keeps the name the client gave, not the id.
	req = kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	rt = kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("hidden")
	req.Topics = append(req.Topics, rt)
	resp = request[*kmsg.MetadataResponse](t, a.client(alice), req)
	if len(resp.Topics) != 1 || resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != "hidden" ||
		resp.Topics[0].ErrorCode != codeTopicAuthorizationFailed || resp.Topics[0].TopicID != [16]byte{} {
		t.Fatalf("by name: %+v", resp.Topics)
	}
}
