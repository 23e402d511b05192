package broker_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minibroker/minibroker/broker"
	mlog "github.com/minibroker/minibroker/log"
)

// TestStartRefusesOldDataDir: a data directory written before Kafka
// support (Raft state, no format marker) is refused at Start with an error
// that names the format and says what to do, before anything listens or
// is written.
func TestStartRefusesOldDataDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "raft.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "fsm"), 0o755); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(dir)
	b, err := broker.Start(broker.Config{DataDir: dir})
	if err == nil {
		b.Close()
		t.Fatal("Start opened a format 1 data directory")
	}
	if !errors.Is(err, mlog.ErrOldFormat) || !strings.Contains(err.Error(), "format 1") || !strings.Contains(err.Error(), "empty data directory") {
		t.Fatalf("Start: %v, want an ErrOldFormat naming format 1", err)
	}
	if after, _ := os.ReadDir(dir); len(after) != len(before) {
		t.Fatalf("Start changed the directory: %v, was %v", after, before)
	}
	t.Log(err)
}
