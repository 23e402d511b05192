package replication

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	mlog "github.com/minibroker/minibroker/log"
)

// TestDataFormat: a new data directory is marked with the current format
// and opens again; one with state but no marker (made before Kafka
// support) or with another format's marker is refused with a
// *mlog.FormatError naming the format, by CheckDataFormat and by Open,
// which changes nothing in it.
func TestDataFormat(t *testing.T) {
	cfg := func(dir string) Config {
		return Config{Node: NodeConfig{ID: "n1", RaftAddr: "127.0.0.1:0", DataDir: dir, Bootstrap: true,
			HeartbeatTimeout: 500 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond, LeaderLeaseTimeout: 250 * time.Millisecond}}
	}
	fresh := filepath.Join(t.TempDir(), "new")
	if err := CheckDataFormat(fresh); err != nil {
		t.Fatalf("a missing directory: %v", err)
	}
	s, err := Open(cfg(fresh))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(fresh, formatFile)); err != nil || string(b) != "2\n" {
		t.Fatalf("format file %q (%v), want \"2\\n\"", b, err)
	}
	if err := CheckDataFormat(fresh); err != nil {
		t.Fatalf("a directory this version made: %v", err)
	}

	for _, c := range []struct {
		name   string
		make   func(dir string) error
		format int
	}{
		{"raft.db, no marker", func(dir string) error { return os.WriteFile(filepath.Join(dir, raftDBFile), nil, 0o644) }, 1},
		{"fsm/, no marker", func(dir string) error { return os.Mkdir(filepath.Join(dir, "fsm"), 0o755) }, 1},
		{"marker 1", func(dir string) error { return os.WriteFile(filepath.Join(dir, formatFile), []byte("1\n"), 0o644) }, 1},
		{"marker 3", func(dir string) error { return os.WriteFile(filepath.Join(dir, formatFile), []byte("3\n"), 0o644) }, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := c.make(dir); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadDir(dir)
			for _, err := range []error{CheckDataFormat(dir), func() error { _, err := Open(cfg(dir)); return err }()} {
				var fe *mlog.FormatError
				if !errors.Is(err, mlog.ErrOldFormat) || !errors.As(err, &fe) || fe.Format != c.format {
					t.Fatalf("got %v, want a *FormatError for format %d", err, c.format)
				}
			}
			if after, _ := os.ReadDir(dir); len(after) != len(before) {
				t.Fatalf("Open changed the directory: %v, was %v", after, before)
			}
		})
	}
}
