package broker_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minibroker/minibroker/broker"
	"github.com/minibroker/minibroker/broker/brokertest"
	"github.com/minibroker/minibroker/internal/wire"
	"github.com/minibroker/minibroker/log/logtest"
)

// TestLogFSHook: the partition logs are written through Config.LogFS, and a
// full disk there fails the produce: with a storage error naming ENOSPC,
// or, when the node's shutdown (an Apply error stops it) overtakes the
// answer, an unknown outcome or no answer at all (the broker closed
// itself; its Err names ENOSPC).
func TestLogFSHook(t *testing.T) {
	fs := &logtest.FullFS{}
	c := brokertest.NewCluster(t, 1, func(_ int, cfg *broker.Config) { cfg.LogFS = fs })
	t.Cleanup(func() { fs.SetFull(false) }) // before the cluster closes: Close writes
	rc := dialRaw(t, c.Broker(0).Addr())
	var ct wire.CreateTopicResponse
	rc.call(wire.CreateTopic, &wire.CreateTopicRequest{Name: "t", Partitions: 1}, &ct)
	var pr wire.ProduceResponse
	rc.call(wire.Produce, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll, Records: records("a")}, &pr)
	if ct.ErrorCode != wire.CodeNone || pr.ErrorCode != wire.CodeNone || fs.Opened() == 0 {
		t.Fatalf("create %+v, produce %+v, %d files opened through LogFS", ct, pr, fs.Opened())
	}
	fs.SetFull(true)
	b := c.Broker(0)
	rc.send(wire.Produce, 0, &wire.ProduceRequest{Topic: "t", Acks: wire.AcksAll, Records: records("b")})
	pr = wire.ProduceResponse{}
	if _, err := rc.recv(&pr); err != nil {
		<-b.Done()
		if !errors.Is(b.Err(), broker.ErrStopped) || !errors.Is(b.Err(), syscall.ENOSPC) {
			t.Fatalf("no answer (%v), and the broker's Err is %v", err, b.Err())
		}
		return
	}
	storage := pr.ErrorCode == wire.CodeStorage && strings.Contains(pr.ErrorMessage, syscall.ENOSPC.Error())
	if !storage && pr.ErrorCode != wire.CodeOutcomeUnknown || fs.Refused() == 0 {
		t.Fatalf("produce on a full disk: %+v (%d writes refused)", pr, fs.Refused())
	}
}

// TestRaftPeerAddrHook: the leader asks Config.RaftPeerAddr how to dial the
// node that joins it; "" dials the configured address.
func TestRaftPeerAddrHook(t *testing.T) {
	var mu sync.Mutex // guards asked
	asked := map[string][]string{}
	c := brokertest.NewCluster(t, 2, func(i int, cfg *broker.Config) {
		self := cfg.ID
		cfg.RaftPeerAddr = func(id string) string {
			mu.Lock()
			asked[self] = append(asked[self], id)
			mu.Unlock()
			return ""
		}
	})
	c.VerifyReplicas() // before taking mu: raft calls the hook meanwhile
	mu.Lock()
	defer mu.Unlock()
	if len(asked["n1"]) == 0 || asked["n1"][0] != "n2" {
		t.Fatalf("RaftPeerAddr calls: %v", asked)
	}
}

// TestUnsafeNoFsyncHook: the setting reaches the Raft log, which warns.
func TestUnsafeNoFsyncHook(t *testing.T) {
	for _, unsafe := range []bool{false, true} {
		h := &recordHandler{}
		cfg := brokertest.Config(t, 0)
		cfg.UnsafeNoFsync = unsafe
		cfg.Logger = slog.New(h)
		b, err := broker.Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = b.Shutdown(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got := h.seen("fsync is off"); got != unsafe {
			t.Fatalf("UnsafeNoFsync %v: warning logged %v", unsafe, got)
		}
	}
}

// recordHandler is a slog.Handler that keeps the messages of records at
// Warn and above.
type recordHandler struct {
	mu   sync.Mutex // guards msgs
	msgs []string
}

func (h *recordHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *recordHandler) WithGroup(string) slog.Handler                { return h }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Message)
	h.mu.Unlock()
	return nil
}

func (h *recordHandler) seen(sub string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}
