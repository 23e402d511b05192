// Package fault holds minibroker's process-level fault tests: brokers,
// consumers and producers run as real child processes (this test binary
// run again), so SIGKILL, SIGSTOP and SIGCONT are real. Every test ends
// with the delivery checker's verdict (client/check).
//
// TestMain dispatches: with MINIBROKER_FAULT_NODE set the binary is a
// broker node (node_test.go); with MINIBROKER_FAULT_ROLE set it is a
// consumer or producer (role_*_test.go); otherwise it runs the tests.
//
// The long randomized chaos run is behind MINIBROKER_CHAOS=1 (see
// chaos_test.go); docs/guarantees.md lists what each test checks.
package fault

import (
	"fmt"
	"os"
	"testing"
)

// Environment variables that turn the test binary into a child process.
const (
	envNode       = "MINIBROKER_FAULT_NODE"        // JSON nodeConfig
	envRole       = "MINIBROKER_FAULT_ROLE"        // "consumer" or "producer"
	envRoleConfig = "MINIBROKER_FAULT_ROLE_CONFIG" // JSON roleConfig
)

func TestMain(m *testing.M) {
	if cfg := os.Getenv(envNode); cfg != "" {
		os.Exit(runNode(cfg))
	}
	if role := os.Getenv(envRole); role != "" {
		cfg := os.Getenv(envRoleConfig)
		switch role {
		case "consumer":
			os.Exit(runConsumer(cfg))
		case "producer":
			os.Exit(runProducer(cfg))
		}
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", envRole, role)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
