package kafka

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(runChild(cfg)) // a franz-go consumer process (groups_franz_test.go)
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// clientTests are the tests TestClients runs against each cluster: each
// creates its own topics, so they share the cluster.
var clientTests = []struct {
	name string
	fn   func(t *testing.T, c *cluster)
}{
	{"franz-go", testFranz},
	{"sarama", testSarama},
	{"kafka-go", testKafkaGo},
	{"kafka-go-conn", testKafkaGoConn},
	{"kcat", testKcat},
	{"kafkajs", testKafkajs},
	{"cross-protocol", testCrossProtocol},
}

// TestClients runs every client's test against a single node and against
// a three-node cluster: one cluster of each size for all the clients, so
// the module stays quick; the consumer-group tests (groupTests) run on the
// three-node cluster only, after the others. Run one client with e.g.
// -run 'TestClients/.*/sarama', the group tests with
// -run 'TestClients/nodes=3/group'.
func TestClients(t *testing.T) {
	for _, nodes := range []int{1, 3} {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) {
			c := newCluster(t, nodes)
			for _, ct := range clientTests {
				t.Run(ct.name, func(t *testing.T) { ct.fn(t, c) })
			}
			if nodes < 3 {
				return
			}
			for _, gt := range groupTests {
				t.Run("group/"+gt.name, func(t *testing.T) { gt.fn(t, c) })
			}
		})
	}
}
