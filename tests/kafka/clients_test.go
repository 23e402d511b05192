package kafka

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
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
// the module stays quick. Run one client with e.g.
// -run 'TestClients/.*/sarama'.
func TestClients(t *testing.T) {
	for _, nodes := range []int{1, 3} {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) {
			c := newCluster(t, nodes)
			for _, ct := range clientTests {
				t.Run(ct.name, func(t *testing.T) { ct.fn(t, c) })
			}
		})
	}
}
