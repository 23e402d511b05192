//go:build !kafkalistener

package kafka

import "testing"

// defaultTarget is kfake until the Kafka listener lands in the main module
// (build with -tags kafkalistener to use minibroker).
const defaultTarget = "kfake"

func newMinibroker(t *testing.T, nodes int) *cluster {
	t.Fatalf("this build has no Kafka listener: build with -tags kafkalistener or set %s=kfake", targetEnv)
	return nil
}
