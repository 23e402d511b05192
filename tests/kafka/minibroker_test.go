//go:build kafkalistener

package kafka

import (
	"testing"

	"github.com/minibroker/minibroker/broker/brokertest"
)

// defaultTarget is what the tests run against without $MINIBROKER_KAFKA_TARGET.
const defaultTarget = "minibroker"

// newMinibroker starts an in-process minibroker cluster of nodes nodes,
// stopped when the test ends.
func newMinibroker(t *testing.T, nodes int) *cluster {
	t.Helper()
	c := brokertest.NewCluster(t, nodes)
	c.WaitLeader()
	return &cluster{kind: "minibroker", nodes: nodes, kafka: c.KafkaAddrs(), native: c.Addrs()}
}
