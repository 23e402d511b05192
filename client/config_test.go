package client

import (
	"errors"
	"testing"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

func checkConfigErr(t *testing.T, name string, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Errorf("%s: unexpected error %v", name, err)
		}
		return
	}
	var ce *ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidConfig) || ce.Field != field {
		t.Errorf("%s: error %v, want a ConfigError on %s", name, err, field)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := []string{"127.0.0.1:9092"}
	cases := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"minimal", Config{Brokers: ok}, ""},
		{"all set", Config{Brokers: ok, DialTimeout: time.Second, RequestTimeout: time.Second,
			MetadataMaxAge: time.Minute, MaxFrame: wire.DefaultMaxFrame}, ""},
		{"no brokers", Config{}, "Brokers"},
		{"no port", Config{Brokers: []string{"localhost"}}, "Brokers"},
		{"negative dial timeout", Config{Brokers: ok, DialTimeout: -1}, "DialTimeout"},
		{"negative request timeout", Config{Brokers: ok, RequestTimeout: -1}, "RequestTimeout"},
		{"negative metadata age", Config{Brokers: ok, MetadataMaxAge: -1}, "MetadataMaxAge"},
		{"tiny frame", Config{Brokers: ok, MaxFrame: 1024}, "MaxFrame"},
	}
	for _, c := range cases {
		checkConfigErr(t, c.name, c.cfg.Validate(), c.field)
	}
	d := Config{Brokers: ok}.withDefaults()
	if d.DialTimeout != DefaultDialTimeout || d.RequestTimeout != DefaultRequestTimeout ||
		d.MetadataMaxAge != DefaultMetadataMaxAge || d.MaxFrame != wire.DefaultMaxFrame || d.Logger == nil {
		t.Errorf("defaults = %+v", d)
	}
}

func TestProducerConfigValidate(t *testing.T) {
	cases := []struct {
		name  string
		cfg   ProducerConfig
		field string
	}{
		{"zero", ProducerConfig{}, ""},
		{"acks none", ProducerConfig{Acks: AcksNone, Linger: -1, Retries: -1}, ""},
		{"bad acks", ProducerConfig{Acks: 7}, "Acks"},
		{"negative batch", ProducerConfig{BatchBytes: -1}, "BatchBytes"},
		{"negative in flight", ProducerConfig{MaxInFlight: -1}, "MaxInFlight"},
		{"too many in flight", ProducerConfig{MaxInFlight: 5000}, "MaxInFlight"},
		{"negative backoff", ProducerConfig{RetryBackoff: -1}, "RetryBackoff"},
		{"negative backoff max", ProducerConfig{RetryBackoffMax: -1}, "RetryBackoffMax"},
		{"tiny buffer", ProducerConfig{MaxBufferedBytes: 1000}, "MaxBufferedBytes"},
		{"idempotence on", ProducerConfig{Idempotence: IdempotenceOn}, ""},
		{"idempotence auto, acks none", ProducerConfig{Acks: AcksNone}, ""},
		{"idempotence off, acks leader", ProducerConfig{Acks: AcksLeader, Idempotence: IdempotenceOff}, ""},
		{"idempotence on, acks leader", ProducerConfig{Acks: AcksLeader, Idempotence: IdempotenceOn}, "Idempotence"},
		{"idempotence on, acks none", ProducerConfig{Acks: AcksNone, Idempotence: IdempotenceOn}, "Idempotence"},
		{"bad idempotence", ProducerConfig{Idempotence: 9}, "Idempotence"},
	}
	for _, c := range cases {
		checkConfigErr(t, c.name, c.cfg.Validate(), c.field)
	}
	d := ProducerConfig{}.withDefaults()
	if d.Acks != AcksAll || d.Acks.wire() != wire.AcksAll || d.BatchBytes != DefaultBatchBytes ||
		d.Linger != DefaultLinger || d.MaxInFlight != DefaultMaxInFlight || d.Retries != DefaultRetries ||
		d.RetryBackoff != DefaultRetryBackoff || d.RetryBackoffMax != DefaultRetryBackoffMax ||
		d.MaxBufferedBytes != DefaultMaxBufferedBytes {
		t.Errorf("defaults = %+v", d)
	}
	if n := (ProducerConfig{Linger: -1, Retries: -1}).withDefaults(); n.Linger != 0 || n.Retries != 0 {
		t.Errorf("negative Linger/Retries = %v/%d, want 0/0", n.Linger, n.Retries)
	}
	if AcksLeader.wire() != wire.AcksLeader || AcksNone.wire() != wire.AcksNone || AcksNone.String() != "none" {
		t.Error("Acks mapping to the wire is wrong")
	}
}

func TestReaderConfigValidate(t *testing.T) {
	cases := []struct {
		name  string
		cfg   ReaderConfig
		field string
	}{
		{"minimal", ReaderConfig{Topic: "t"}, ""},
		{"latest", ReaderConfig{Topic: "t", Offset: StartLatest, MaxWait: -1}, ""},
		{"no topic", ReaderConfig{}, "Topic"},
		{"negative partition", ReaderConfig{Topic: "t", Partition: -1}, "Partition"},
		{"bad offset", ReaderConfig{Topic: "t", Offset: -3}, "Offset"},
		{"negative max bytes", ReaderConfig{Topic: "t", MaxBytes: -1}, "MaxBytes"},
		{"huge wait", ReaderConfig{Topic: "t", MaxWait: 1000 * time.Hour}, "MaxWait"},
	}
	for _, c := range cases {
		checkConfigErr(t, c.name, c.cfg.Validate(), c.field)
	}
	d := ReaderConfig{Topic: "t"}.withDefaults()
	if d.MaxBytes != DefaultFetchMaxBytes || d.MaxWait != DefaultFetchMaxWait {
		t.Errorf("defaults = %+v", d)
	}
}

func TestInvalidReaderConfigFailsFetch(t *testing.T) {
	fb := newFakeBroker(t, "n1")
	cl := newTestClient(t, Config{Brokers: []string{fb.addr}})
	if _, err := cl.Reader(ReaderConfig{}).Fetch(testCtx(t)); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Fetch with an invalid config: %v", err)
	}
	if _, err := cl.Reader(ReaderConfig{Topic: "t", MaxBytes: 1 << 30}).Fetch(testCtx(t)); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Fetch with MaxBytes above MaxFrame: %v", err)
	}
	// With the smallest MaxFrame, the default MaxBytes shrinks so that an
	// answer of one maximal record still fits.
	small := newTestClient(t, Config{Brokers: []string{fb.addr}, MaxFrame: minMaxFrame})
	if r := small.Reader(ReaderConfig{Topic: "t"}); r.err != nil || r.cfg.MaxBytes != 1 {
		t.Fatalf("small MaxFrame: MaxBytes %d, err %v", r.cfg.MaxBytes, r.err)
	}
}

func TestErrorsMatchWireSentinels(t *testing.T) {
	if ErrNotLeader != wire.ErrNotLeader || ErrOutcomeUnknown != wire.ErrOutcomeUnknown {
		t.Fatal("client sentinels are not the wire sentinels")
	}
	err := wire.Err(wire.CodeNotLeader, "moved")
	if !errors.Is(err, ErrNotLeader) || !IsRetriable(err) {
		t.Fatalf("%v: not a retriable ErrNotLeader", err)
	}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{wire.Err(wire.CodeUnknownTopic, ""), false},
		{ErrConnectionLost, true},
		{ErrBrokerUnavailable, true},
		{ErrClosed, false},
		{errors.Join(ErrClosed, ErrConnectionLost), false},
		{&ConfigError{"x", "y"}, false},
		{nil, false},
	} {
		if got := IsRetriable(c.err); got != c.want {
			t.Errorf("IsRetriable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
