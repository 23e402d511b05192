package kafka

import "testing"

func testKcat(t *testing.T, c *cluster)          { t.Skip("todo") }
func testKafkajs(t *testing.T, c *cluster)       { t.Skip("todo") }
func testCrossProtocol(t *testing.T, c *cluster) { t.Skip("todo") }
