package auth

import (
	"fmt"
	"testing"
)

// TestAuthorizeAnyKafkaRules: AuthorizeAny answers as Kafka's
// authorizeByResourceType: is there a resource name of the type, existing
// or not, that p may perform op on?
func TestAuthorizeAnyKafkaRules(t *testing.T) {
	const topic = ResourceTopic
	for name, tc := range map[string]struct {
		acls []ACL
		want bool
	}{
		// Names under foo other than "foo" itself are allowed.
		"allow prefix, deny that literal": {[]ACL{allow("User:alice", topic, PatternPrefixed, "foo", OpWrite),
			deny("User:alice", topic, PatternLiteral, "foo", OpWrite)}, true},
		"allow prefix, deny shorter prefix": {[]ACL{allow("User:alice", topic, PatternPrefixed, "foo", OpWrite),
			deny("User:alice", topic, PatternPrefixed, "fo", OpWrite)}, false},
		"allow prefix, deny longer prefix": {[]ACL{allow("User:alice", topic, PatternPrefixed, "foo", OpWrite),
			deny("User:alice", topic, PatternPrefixed, "foox", OpWrite)}, true},
		"allow literal, deny its prefix": {[]ACL{allow("User:alice", topic, PatternLiteral, "foobar", OpWrite),
			deny("User:*", topic, PatternPrefixed, "foo", OpAll)}, false},
		"allow literal, deny all": {[]ACL{allow("User:alice", topic, PatternLiteral, "a", OpWrite),
			deny("User:alice", topic, PatternLiteral, "*", OpWrite)}, false},
		"allow all, deny one": {[]ACL{allow("User:*", topic, PatternLiteral, "*", OpAll),
			deny("User:alice", topic, PatternLiteral, "a", OpWrite)}, true},
		"deny of another op": {[]ACL{allow("User:alice", topic, PatternLiteral, "a", OpWrite),
			deny("User:alice", topic, PatternLiteral, "a", OpRead)}, true},
		"deny of another user": {[]ACL{allow("User:alice", topic, PatternLiteral, "a", OpWrite),
			deny("User:bob", topic, PatternLiteral, "*", OpWrite)}, true},
		"deny of another type": {[]ACL{allow("User:alice", topic, PatternLiteral, "a", OpWrite),
			deny("User:alice", ResourceGroup, PatternLiteral, "*", OpAll)}, true},
		"one of two allowed": {[]ACL{allow("User:alice", topic, PatternLiteral, "a", OpWrite),
			allow("User:alice", topic, PatternLiteral, "b", OpWrite),
			deny("User:alice", topic, PatternLiteral, "a", OpWrite)}, true},
		"implied describe": {[]ACL{allow("User:alice", topic, PatternLiteral, "a", OpWrite)}, true},
	} {
		op := OpWrite
		if name == "implied describe" {
			op = OpDescribe
		}
		if got := AuthorizeAny(tc.acls, alice, op, topic); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	if AuthorizeAny([]ACL{allow("User:*", topic, PatternLiteral, "*", OpAll)}, Principal{}, OpWrite, topic) {
		t.Error("an unauthenticated principal matched User:*")
	}
}

// BenchmarkAuthorizeAny: MaxACLs-1 allows of other topics to everyone and
// one deny of every topic to the principal: the worst case of the old
// one-Authorize-per-allow loop (0.74 s per call).
func BenchmarkAuthorizeAny(b *testing.B) {
	var acls []ACL
	for i := 0; i < 9999; i++ {
		acls = append(acls, allow("User:*", ResourceTopic, PatternLiteral, fmt.Sprintf("topic-%05d", i), OpWrite))
	}
	acls = append(acls, deny("User:mallory", ResourceTopic, PatternPrefixed, "topic-", OpWrite))
	mallory := Principal{User: "mallory"}
	for i := 0; i < b.N; i++ {
		if AuthorizeAny(acls, mallory, OpWrite, ResourceTopic) {
			b.Fatal("allowed")
		}
	}
}
