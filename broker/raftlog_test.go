package broker_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/replication"
)

// TestStartRefusesOtherRaftLogStore: a data dir created with RaftLog wal
// restarts on wal; Start with bolt on it fails with
// replication.ErrStoreMismatch and says what to do.
func TestStartRefusesOtherRaftLogStore(t *testing.T) {
	cfg := brokertest.Config(t, 0)
	cfg.Bootstrap = true
	cfg.RaftLog = replication.RaftLogWAL
	start := func(cfg broker.Config) (*broker.Broker, error) {
		b, err := broker.Start(cfg)
		if err == nil {
			cfg.RaftAddr, cfg.Addr = b.RaftAddr(), b.Addr()
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
		}
		return b, err
	}
	b, err := start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RaftAddr = b.RaftAddr()

	bolt := cfg
	bolt.RaftLog = replication.RaftLogBolt
	if _, err := start(bolt); !errors.Is(err, replication.ErrStoreMismatch) || !strings.Contains(err.Error(), "start with --raft-log wal") {
		t.Fatalf("Start with bolt on a wal data dir = %v; want ErrStoreMismatch saying what to do", err)
	}
	if _, err := start(cfg); err != nil {
		t.Fatalf("restart on wal: %v", err)
	}
	bad := cfg
	bad.RaftLog = "sqlite"
	if err := bad.Validate(); !errors.Is(err, broker.ErrInvalidConfig) {
		t.Fatalf("Validate with RaftLog sqlite = %v", err)
	}
}
