package client

import (
	"errors"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

func TestConsumerConfigValidate(t *testing.T) {
	ok := ConsumerConfig{Group: "g", Topics: []string{"t"}}
	with := func(f func(*ConsumerConfig)) ConsumerConfig {
		c := ok
		f(&c)
		return c
	}
	cases := []struct {
		name  string
		cfg   ConsumerConfig
		field string
	}{
		{"minimal", ok, ""},
		{"all set", ConsumerConfig{Group: "g", Topics: []string{"a", "b"}, Strategy: StrategySticky,
			SessionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond, MaxPollInterval: time.Minute,
			AutoOffsetReset: ResetLatest, ManualCommit: true, AutoCommitInterval: time.Second, MaxPollRecords: 10,
			FetchMaxBytes: 1 << 10, FetchMaxWait: -1}, ""},
		{"no group", with(func(c *ConsumerConfig) { c.Group = "" }), "Group"},
		{"no topics", with(func(c *ConsumerConfig) { c.Topics = nil }), "Topics"},
		{"empty topic", with(func(c *ConsumerConfig) { c.Topics = []string{"t", ""} }), "Topics"},
		{"bad strategy", with(func(c *ConsumerConfig) { c.Strategy = "random" }), "Strategy"},
		{"negative session", with(func(c *ConsumerConfig) { c.SessionTimeout = -1 }), "SessionTimeout"},
		{"sub-ms session", with(func(c *ConsumerConfig) { c.SessionTimeout = time.Microsecond }), "SessionTimeout"},
		{"huge session", with(func(c *ConsumerConfig) { c.SessionTimeout = 1000 * time.Hour }), "SessionTimeout"},
		{"heartbeat >= session", with(func(c *ConsumerConfig) { c.SessionTimeout, c.HeartbeatInterval = time.Second, time.Second }), "HeartbeatInterval"},
		{"heartbeat >= default session", with(func(c *ConsumerConfig) { c.HeartbeatInterval = DefaultSessionTimeout }), "HeartbeatInterval"},
		{"negative heartbeat", with(func(c *ConsumerConfig) { c.HeartbeatInterval = -1 }), "HeartbeatInterval"},
		{"negative max poll", with(func(c *ConsumerConfig) { c.MaxPollInterval = -1 }), "MaxPollInterval"},
		{"huge max poll", with(func(c *ConsumerConfig) { c.MaxPollInterval = 1000 * time.Hour }), "MaxPollInterval"},
		{"bad reset", with(func(c *ConsumerConfig) { c.AutoOffsetReset = 2 }), "AutoOffsetReset"},
		{"negative max records", with(func(c *ConsumerConfig) { c.MaxPollRecords = -1 }), "MaxPollRecords"},
		{"negative fetch bytes", with(func(c *ConsumerConfig) { c.FetchMaxBytes = -1 }), "FetchMaxBytes"},
		{"huge fetch wait", with(func(c *ConsumerConfig) { c.FetchMaxWait = 1000 * time.Hour }), "FetchMaxWait"},
	}
	for _, c := range cases {
		checkConfigErr(t, c.name, c.cfg.Validate(), c.field)
	}

	d := ok.withDefaults()
	if d.Strategy != StrategyRange || d.SessionTimeout != DefaultSessionTimeout ||
		d.HeartbeatInterval != DefaultSessionTimeout/3 || d.MaxPollInterval != DefaultMaxPollInterval ||
		d.FetchMaxWait != DefaultFetchMaxWait || d.AutoOffsetReset != ResetEarliest || d.ManualCommit ||
		d.AutoCommitInterval != DefaultAutoCommitInterval || d.MaxPollRecords != 0 {
		t.Errorf("defaults = %+v", d)
	}
	d = ConsumerConfig{Group: "g", Topics: []string{"t"}, SessionTimeout: 3 * time.Second, FetchMaxWait: -1,
		AutoCommitInterval: -1}.withDefaults()
	if d.HeartbeatInterval != time.Second || d.FetchMaxWait != 0 || d.AutoCommitInterval != 0 {
		t.Errorf("HeartbeatInterval %v, FetchMaxWait %v, AutoCommitInterval %v; want 1s, 0, 0 (every Poll)",
			d.HeartbeatInterval, d.FetchMaxWait, d.AutoCommitInterval)
	}
}

func TestClientConsumerValidates(t *testing.T) {
	fb := newFakeBroker(t, "n1")
	cl := newTestClient(t, Config{Brokers: []string{fb.addr}})
	if _, err := cl.Consumer(ConsumerConfig{Topics: []string{"t"}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Consumer without a group = %v, want ErrInvalidConfig", err)
	}
	_, err := cl.Consumer(ConsumerConfig{Group: "g", Topics: []string{"t"}, FetchMaxBytes: 1 << 30})
	checkConfigErr(t, "FetchMaxBytes above MaxFrame", err, "FetchMaxBytes")
	c, err := cl.Consumer(ConsumerConfig{Group: "g", Topics: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.FetchMaxBytes != DefaultFetchMaxBytes {
		t.Errorf("FetchMaxBytes default %d", c.cfg.FetchMaxBytes)
	}
	// Making a Consumer does not touch the network.
	if n := fb.count(wire.JoinGroup); n != 0 {
		t.Errorf("%d JoinGroup requests before Poll", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n := fb.count(wire.LeaveGroup); n != 0 {
		t.Errorf("Close of a Consumer that never joined sent %d LeaveGroup requests", n)
	}
	_ = cl.Close()
	if _, err := cl.Consumer(ConsumerConfig{Group: "g", Topics: []string{"t"}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Consumer on a closed Client = %v, want ErrClosed", err)
	}
}
