package kafka

import (
	"fmt"

	"github.com/minibroker/minibroker/replication"
)

// validTopicName checks a topic name as Kafka and minibroker both do:
// 1 to replication.MaxTopicNameLen characters of [a-zA-Z0-9._-], not "."
// or "..". It returns an INVALID_TOPIC_EXCEPTION error.
func validTopicName(name string) error {
	if name == "" || len(name) > replication.MaxTopicNameLen || name == "." || name == ".." {
		return kerr(codeInvalidTopic, fmt.Sprintf("topic name %q: want 1 to %d characters, not . or ..", name, replication.MaxTopicNameLen))
	}
	for i := 0; i < len(name); i++ {
		switch ch := name[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '.', ch == '_', ch == '-':
		default:
			return kerr(codeInvalidTopic, fmt.Sprintf("topic name %q: character %q is not one of [a-zA-Z0-9._-]", name, ch))
		}
	}
	return nil
}
