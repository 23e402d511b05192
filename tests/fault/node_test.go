package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/replication"
)

// nodeConfig is what a node child process runs: a broker.Config's
// serializable part. Durations are in nanoseconds.
type nodeConfig struct {
	ID       string `json:"id"`
	DataDir  string `json:"data_dir"`
	Addr     string `json:"addr"`      // client address, fixed across restarts
	RaftAddr string `json:"raft_addr"` // fixed across restarts
	// KafkaAddr is the Kafka listener's address, fixed across restarts;
	// empty serves none.
	KafkaAddr string   `json:"kafka_addr,omitempty"`
	Join      []string `json:"join,omitempty"`

	Bootstrap bool `json:"bootstrap,omitempty"`

	HeartbeatTimeout   time.Duration `json:"heartbeat_timeout"`
	ElectionTimeout    time.Duration `json:"election_timeout"`
	LeaderLeaseTimeout time.Duration `json:"leader_lease_timeout"`
	SnapshotThreshold  uint64        `json:"snapshot_threshold,omitempty"`
	TrailingLogs       uint64        `json:"trailing_logs,omitempty"`
	SnapshotInterval   time.Duration `json:"snapshot_interval,omitempty"`
	RaftLog            string        `json:"raft_log,omitempty"` // "bolt" (default) or "wal"
}

// Raft timing of test nodes: short, as brokertest's, so a dead leader is
// replaced within a few hundred milliseconds, but not so short that a
// loaded 2-core machine under -race sees spurious elections.
const (
	testHeartbeat = 150 * time.Millisecond
	testElection  = 150 * time.Millisecond
	testLease     = 100 * time.Millisecond
)

// runNode is the node child: it starts a broker, prints
// "READY <clientAddr> <raftAddr> <metricsAddr>" and serves until SIGTERM
// (graceful Shutdown, exit 0) or SIGKILL. Errors go to stderr, exit 1.
// The broker logs at Info level to stderr.
func runNode(js string) int {
	var nc nodeConfig
	if err := json.Unmarshal([]byte(js), &nc); err != nil {
		fmt.Fprintf(os.Stderr, "node config: %v\n", err)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b, err := broker.Start(broker.Config{
		ID: nc.ID, DataDir: nc.DataDir, Addr: nc.Addr, RaftAddr: nc.RaftAddr, MetricsAddr: "127.0.0.1:0",
		Bootstrap: nc.Bootstrap, Join: nc.Join,
		HeartbeatTimeout: nc.HeartbeatTimeout, ElectionTimeout: nc.ElectionTimeout, LeaderLeaseTimeout: nc.LeaderLeaseTimeout,
		SnapshotThreshold: nc.SnapshotThreshold, TrailingLogs: nc.TrailingLogs, SnapshotInterval: nc.SnapshotInterval,
		RaftLog:      replication.RaftLogStore(nc.RaftLog),
		KafkaAddr:    nc.KafkaAddr,
		DisableKafka: nc.KafkaAddr == "",
		StartTimeout: 30 * time.Second,
		Logger:       logger,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "node %s: start: %v\n", nc.ID, err)
		return 1
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Printf("READY %s %s %s\n", b.Addr(), b.RaftAddr(), b.MetricsAddr())
	<-term
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "node %s: shutdown: %v\n", nc.ID, err)
		return 1
	}
	return 0
}

// node is a broker child process and its configuration.
type node struct {
	*proc
	cfg nodeConfig
}

// startNode starts a broker node as a child process and waits until it
// serves (see broker.Start). It is killed when the test ends.
func startNode(t *testing.T, cfg nodeConfig) *node {
	t.Helper()
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{cfg: cfg}
	n.proc = newProc(t, cfg.ID, []string{envNode + "=" + string(js)}, nil)
	n.mustStart()
	return n
}

// Addr is the node's client address.
func (n *node) Addr() string { return n.cfg.Addr }

// MetricsAddr is the metrics address of the node's current run.
func (n *node) MetricsAddr() string { return n.readyField(3) }
