package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/minibroker/minibroker/internal/wire"
)

// Defaults applied to zero Config fields.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 30 * time.Second
	DefaultMetadataMaxAge = 5 * time.Minute
)

// minMaxFrame is the smallest MaxFrame accepted: one message of the
// broker's default size limit plus room for the frame's other fields.
const minMaxFrame = wire.DefaultMaxMessage + 64<<10

// Config configures a Client. The zero value of every field but Brokers
// selects its default.
type Config struct {
	// Brokers are seed addresses (host:port of brokers' client
	// listeners). New tries them in order; the rest of the cluster is
	// learned from Metadata. Required.
	Brokers []string
	// DialTimeout bounds each connection attempt. Default 5s.
	DialTimeout time.Duration
	// Dial opens connections to brokers; nil means a net.Dialer's
	// DialContext. A custom one can route through a proxy or a tunnel, or
	// (in tests) through a fault-injecting relay. It must honour ctx.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// RequestTimeout bounds each request's round trip (plus MaxWait for a
	// Fetch) and each write to a connection; a request without an answer
	// by then fails with ErrTimeout and its connection is closed, as a
	// broker that does not answer is presumed stuck. It is also the
	// produce timeout sent to the broker. Default 30s.
	RequestTimeout time.Duration
	// MetadataMaxAge is how old cached metadata (partition counts, the
	// leader) may get before it is refreshed in the background. Leader
	// changes are also learned from NotLeader answers. Default 5m.
	MetadataMaxAge time.Duration
	// MaxFrame limits the size of a frame the client sends or accepts.
	// Default wire.DefaultMaxFrame (16 MiB); at least 1 MiB + 64 KiB.
	MaxFrame int
	// Logger receives connection and retry events. Default: discard.
	Logger *slog.Logger
	// TLS, if set, speaks TLS to the brokers with this configuration (its
	// RootCAs: the cluster's CA; Certificates or GetClientCertificate: a
	// client certificate, which authenticates the client as its common
	// name). ServerName defaults to each broker's host, so a broker's
	// certificate must name the host or IP address it is dialed at. The
	// handshake counts against DialTimeout. Default nil: plaintext.
	TLS *tls.Config
	// User and Password log every connection in (SASL SCRAM) when the
	// broker requires authentication (serve --auth scram). Empty User:
	// no login. Mechanism is MechSCRAMSHA512 (the default) or
	// MechSCRAMSHA256. A refused login fails requests with
	// ErrSaslAuthentication.
	User      string
	Password  string
	Mechanism string
}

// Validate reports the first problem with c as a *ConfigError (matching
// ErrInvalidConfig), or nil. Zero fields are valid (they select
// defaults); Brokers must name at least one host:port.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return &ConfigError{"Brokers", "at least one seed address is required"}
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return &ConfigError{"Brokers", fmt.Sprintf("%q is not host:port: %v", b, err)}
		}
	}
	switch {
	case c.DialTimeout < 0:
		return &ConfigError{"DialTimeout", "must not be negative"}
	case c.RequestTimeout < 0:
		return &ConfigError{"RequestTimeout", "must not be negative"}
	case c.MetadataMaxAge < 0:
		return &ConfigError{"MetadataMaxAge", "must not be negative"}
	case c.MaxFrame != 0 && (c.MaxFrame < minMaxFrame || c.MaxFrame > math.MaxUint32):
		return &ConfigError{"MaxFrame", fmt.Sprintf("%d is outside [%d, %d]", c.MaxFrame, minMaxFrame, uint64(math.MaxUint32))}
	case c.User == "" && c.Password != "":
		return &ConfigError{"User", "a Password needs a User"}
	case c.Mechanism != "" && scramHash(c.Mechanism) == nil:
		return &ConfigError{"Mechanism", fmt.Sprintf("%q is not %s or %s", c.Mechanism, MechSCRAMSHA256, MechSCRAMSHA512)}
	}
	return nil
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MetadataMaxAge == 0 {
		c.MetadataMaxAge = DefaultMetadataMaxAge
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = wire.DefaultMaxFrame
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Mechanism == "" {
		c.Mechanism = MechSCRAMSHA512
	}
	c.Brokers = append([]string(nil), c.Brokers...)
	return c
}

// Acks is how much durability a Producer waits for before a message
// counts as sent. The zero value is AcksAll.
type Acks int8

const (
	// AcksAll waits until a Raft quorum has the records: nothing acked
	// this way is lost through crashes and failover. Results carry the
	// records' offsets. The zero value and default.
	AcksAll Acks = iota
	// AcksLeader waits until the leader has the records on its disk.
	// Offsets are assigned later, so Results carry Offset -1.
	AcksLeader
	// AcksNone (fire and forget) counts a message as sent once its
	// request is written to the connection; the broker's answer is
	// dropped and write failures after that point are not reported.
	// Results carry Offset -1.
	AcksNone
)

// String returns "all", "leader" or "none".
func (a Acks) String() string {
	switch a {
	case AcksAll:
		return "all"
	case AcksLeader:
		return "leader"
	case AcksNone:
		return "none"
	}
	return fmt.Sprintf("Acks(%d)", int8(a))
}

// wire returns the protocol's value for a.
func (a Acks) wire() int8 {
	switch a {
	case AcksLeader:
		return wire.AcksLeader
	case AcksNone:
		return wire.AcksNone
	}
	return wire.AcksAll
}

// Idempotence selects whether a Producer is idempotent: whether its
// batches carry a producer id and sequence numbers, so that the broker
// stores a batch the Producer retried only once (see Producer). The zero
// value is IdempotenceAuto.
type Idempotence int8

const (
	// IdempotenceAuto is on when Acks is AcksAll and off otherwise, as in
	// Kafka since 3.0. Against a broker that does not know the
	// InitProducer API (an older one), the Producer logs a warning and
	// goes on without idempotence. The zero value and default.
	IdempotenceAuto Idempotence = iota
	// IdempotenceOn requires idempotence. It needs AcksAll (the broker
	// decides whether a batch is a duplicate when the batch commits, which
	// only AcksAll waits for): Validate rejects it with other Acks. Against
	// a broker that does not support it, batches fail with ErrUnknownAPI.
	IdempotenceOn
	// IdempotenceOff sends plain batches: a retry may store a batch twice.
	IdempotenceOff
)

// String returns "auto", "on" or "off".
func (i Idempotence) String() string {
	switch i {
	case IdempotenceAuto:
		return "auto"
	case IdempotenceOn:
		return "on"
	case IdempotenceOff:
		return "off"
	}
	return fmt.Sprintf("Idempotence(%d)", int8(i))
}

// enabled reports whether a Producer with acks is idempotent under i.
func (i Idempotence) enabled(acks Acks) bool {
	return i == IdempotenceOn || (i == IdempotenceAuto && acks == AcksAll)
}

// Defaults applied to zero ProducerConfig fields.
const (
	DefaultBatchBytes       = 64 << 10
	DefaultLinger           = 0
	DefaultMaxInFlight      = 32
	DefaultRetries          = 10
	DefaultRetryBackoff     = 50 * time.Millisecond
	DefaultRetryBackoffMax  = time.Second
	DefaultMaxBufferedBytes = 32 << 20
)

// maxInFlightLimit is the broker's default per-connection limit; more per
// partition would only earn TooManyInFlight answers.
const maxInFlightLimit = 1024

// ProducerConfig configures a Producer. The zero value of every field
// selects its default.
type ProducerConfig struct {
	// Acks: AcksAll (default), AcksLeader or AcksNone.
	Acks Acks
	// BatchBytes is the size (keys, values, headers and a small
	// per-record overhead) at which a partition's batch is sent without
	// waiting for Linger. A message larger than BatchBytes travels alone.
	// Default 64 KiB; at most MaxFrame/2.
	BatchBytes int
	// Linger is how long a partial batch waits for more records before it
	// is sent. Default 0 (and negative): send as soon as the partition has
	// a free in-flight slot. While MaxInFlight requests are outstanding,
	// records keep accumulating into the next batch, so batches grow with
	// load without adding latency when the load is light.
	Linger time.Duration
	// MaxInFlight is the number of produce requests per partition that
	// may await an answer at once. Default 32; at most 1024. Without
	// idempotence, 1 gives the strictest ordering under retries; an
	// idempotent Producer keeps a partition's order with any value.
	MaxInFlight int
	// Retries is how many times a batch that failed with a retriable
	// error is sent again. Default 10; negative means no retries. An
	// idempotent batch refused as out of order because an earlier one is
	// still being retried (or failed) is retried without counting.
	Retries int
	// RetryBackoff is the wait before the first retry; it doubles with
	// each further retry up to RetryBackoffMax, with ±20% jitter.
	// Defaults 50ms and 1s. A NotLeader answer that names the leader is
	// retried at once.
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	// MaxBufferedBytes bounds the records buffered or in flight across
	// all partitions; Produce and ProduceAsync block while it is reached.
	// Default 32 MiB; at least 1 MiB + 64 KiB.
	MaxBufferedBytes int
	// Idempotence: IdempotenceAuto (default: on with AcksAll),
	// IdempotenceOn (requires AcksAll) or IdempotenceOff. See Producer for
	// what it guarantees.
	Idempotence Idempotence
	// Partitioner chooses partitions for messages whose Partition is not
	// set (see Message.Partition). Default (nil): FNV-1a hash of the key
	// (see HashKey); messages with a nil key stick to one partition until
	// BatchBytes have gone to it, then move to the next.
	Partitioner Partitioner
}

// Validate reports the first problem with c as a *ConfigError (matching
// ErrInvalidConfig), or nil. Zero fields are valid (they select defaults).
func (c ProducerConfig) Validate() error {
	switch {
	case c.Acks != AcksAll && c.Acks != AcksLeader && c.Acks != AcksNone:
		return &ConfigError{"Acks", fmt.Sprintf("unknown value %d", int8(c.Acks))}
	case c.Idempotence != IdempotenceAuto && c.Idempotence != IdempotenceOn && c.Idempotence != IdempotenceOff:
		return &ConfigError{"Idempotence", fmt.Sprintf("unknown value %d", int8(c.Idempotence))}
	case c.Idempotence == IdempotenceOn && c.Acks != AcksAll:
		return &ConfigError{"Idempotence", fmt.Sprintf("IdempotenceOn requires Acks AcksAll, not %v", c.Acks)}
	case c.BatchBytes < 0:
		return &ConfigError{"BatchBytes", "must not be negative"}
	case c.MaxInFlight < 0 || c.MaxInFlight > maxInFlightLimit:
		return &ConfigError{"MaxInFlight", fmt.Sprintf("%d is outside [0, %d]", c.MaxInFlight, maxInFlightLimit)}
	case c.RetryBackoff < 0:
		return &ConfigError{"RetryBackoff", "must not be negative"}
	case c.RetryBackoffMax < 0:
		return &ConfigError{"RetryBackoffMax", "must not be negative"}
	case c.MaxBufferedBytes < 0 || (c.MaxBufferedBytes > 0 && c.MaxBufferedBytes < minMaxFrame):
		return &ConfigError{"MaxBufferedBytes", fmt.Sprintf("must be 0 (default) or at least %d", minMaxFrame)}
	}
	return nil
}

// withDefaults returns c with zero fields set to their defaults.
func (c ProducerConfig) withDefaults() ProducerConfig {
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	switch {
	case c.Linger == 0:
		c.Linger = DefaultLinger
	case c.Linger < 0:
		c.Linger = 0
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	switch {
	case c.Retries == 0:
		c.Retries = DefaultRetries
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.RetryBackoffMax == 0 {
		c.RetryBackoffMax = DefaultRetryBackoffMax
	}
	c.RetryBackoffMax = max(c.RetryBackoffMax, c.RetryBackoff)
	if c.MaxBufferedBytes == 0 {
		c.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	return c
}

// Start positions for ReaderConfig.Offset and Reader.SetOffset.
const (
	// StartEarliest starts at the partition's first stored offset.
	StartEarliest int64 = -2
	// StartLatest starts at the partition's high-water mark: only records
	// produced from then on are read.
	StartLatest int64 = -1
)

// Defaults applied to zero ReaderConfig fields.
const (
	DefaultFetchMaxBytes = 1 << 20
	DefaultFetchMaxWait  = 500 * time.Millisecond
)

// ReaderConfig configures a Reader of one partition.
type ReaderConfig struct {
	Topic     string // required
	Partition int32
	// Offset is the first offset to read, or StartEarliest or
	// StartLatest (resolved on the first Fetch). The zero value is
	// offset 0.
	Offset int64
	// MaxBytes is a soft limit on the records one Fetch returns (at
	// least one record is returned if one is available). Default 1 MiB
	// (less if MaxFrame is under 2 MiB + 64 KiB); at most
	// MaxFrame - 1 MiB - 64 KiB.
	MaxBytes int32
	// MaxWait is how long a Fetch waits at the broker for records when
	// none are available (long poll). Default 500ms; negative means do
	// not wait.
	MaxWait time.Duration
}

// Validate reports the first problem with c as a *ConfigError (matching
// ErrInvalidConfig), or nil.
func (c ReaderConfig) Validate() error {
	switch {
	case c.Topic == "":
		return &ConfigError{"Topic", "required"}
	case c.Partition < 0:
		return &ConfigError{"Partition", "must not be negative"}
	case c.Offset < StartEarliest:
		return &ConfigError{"Offset", "must be an offset, StartEarliest or StartLatest"}
	case c.MaxBytes < 0:
		return &ConfigError{"MaxBytes", "must not be negative"}
	case c.MaxWait > time.Duration(math.MaxInt32)*time.Millisecond:
		return &ConfigError{"MaxWait", "too long"}
	}
	return nil
}

// withDefaults returns c with zero fields set to their defaults.
func (c ReaderConfig) withDefaults() ReaderConfig {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultFetchMaxBytes
	}
	switch {
	case c.MaxWait == 0:
		c.MaxWait = DefaultFetchMaxWait
	case c.MaxWait < 0:
		c.MaxWait = 0
	}
	return c
}
