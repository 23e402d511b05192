package kafka

import (
	"errors"
	"hash/crc32"
	"net"
	"testing"
	"time"

	"github.com/minibroker/minibroker/replication"
)

func be32crc(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

func TestConfigValidate(t *testing.T) {
	ok := Config{Store: &replication.Store{}, NodeID: "n1"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	bad := []func(*Config){
		func(c *Config) { c.Store = nil },
		func(c *Config) { c.NodeID = "" },
		func(c *Config) { c.MaxFrameBytes = 100 },
		func(c *Config) { c.MaxMessageBytes = 2 << 30 },
		func(c *Config) { c.MaxInFlight = -1 },
		func(c *Config) { c.MaxFetchWait = -time.Second },
		func(c *Config) { c.DefaultPartitions = -3 },
		func(c *Config) { c.AdvertisedAddr = "no-port" },
		func(c *Config) { c.AdvertisedAddr = "host:0" },
	}
	for i, mod := range bad {
		c := ok
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("case %d: %v, want ErrInvalidConfig", i, err)
		}
		if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("case %d: New: %v, want ErrInvalidConfig", i, err)
		}
	}
}

// Close is idempotent, and Serve after Close returns ErrServerClosed.
func TestServerCloseIdempotent(t *testing.T) {
	s, err := New(Config{Store: &replication.Store{}, NodeID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	s.Close()
	s.Close()
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := s.Serve(ln2); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}
