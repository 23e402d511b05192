package log

import (
	"fmt"
	"log/slog"
	"time"
)

// SyncMode says when a Log fsyncs appended data. Under every mode, a
// segment sealed by a roll is fsynced by the Log's background flusher, and
// Sync and Close make everything durable (see doc.go, Durability).
type SyncMode int

const (
	// SyncNever promises nothing until Sync (or Close) returns: the active
	// segment is fsynced only then, sealed segments by the flusher soon
	// after they are sealed.
	SyncNever SyncMode = iota
	// SyncEveryAppend fsyncs the active segment after every Append, before
	// it returns, and the segment a roll seals before the roll.
	SyncEveryAppend
	// SyncEveryBytes fsyncs the active segment once at least SyncBytes have
	// been appended to it since its last fsync.
	SyncEveryBytes
)

// Defaults used for zero Config fields.
const (
	DefaultSegmentBytes  = 64 << 20
	DefaultIndexInterval = 4096
	DefaultSyncBytes     = 1 << 20
)

// Config configures a Log. The zero value is usable: every zero field takes
// its default.
type Config struct {
	// FS is the filesystem; nil means OSFS.
	FS FS
	// SegmentBytes rolls to a new segment once the active one would exceed
	// it. Default 64 MiB; at most 1 GiB.
	SegmentBytes int64
	// SegmentAge rolls to a new segment once the active one's first batch is
	// older than this; 0 means never roll by age.
	SegmentAge time.Duration
	// RetentionBytes deletes the oldest sealed segments while the log is
	// larger than this; 0 keeps everything.
	RetentionBytes int64
	// RetentionAge deletes sealed segments whose newest record is older than
	// this; 0 keeps everything.
	RetentionAge time.Duration
	// Sync is when to fsync. Default SyncNever.
	Sync SyncMode
	// SyncBytes is the threshold for SyncEveryBytes. Default 1 MiB.
	SyncBytes int64
	// IndexInterval is the number of log bytes between sparse index entries.
	// Default 4 KiB.
	IndexInterval int64
	// Now is the clock for rolling and retention by age; nil means time.Now.
	// Replication sets it to the leader-stamped time of the entry being
	// applied so that every replica decides alike.
	Now func() time.Time
	// Logger receives recovery reports (what a torn tail cut), background
	// fsync failures and retention failures after a roll; nil discards.
	Logger *slog.Logger
}

// Validate reports a config that cannot work, wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes < 0 || c.SegmentBytes > maxBatchSize:
		return fmt.Errorf("%w: SegmentBytes %d not in [0, %d]", ErrInvalidConfig, c.SegmentBytes, maxBatchSize)
	case c.SegmentAge < 0:
		return fmt.Errorf("%w: negative SegmentAge", ErrInvalidConfig)
	case c.RetentionBytes < 0:
		return fmt.Errorf("%w: negative RetentionBytes", ErrInvalidConfig)
	case c.RetentionAge < 0:
		return fmt.Errorf("%w: negative RetentionAge", ErrInvalidConfig)
	case c.Sync < SyncNever || c.Sync > SyncEveryBytes:
		return fmt.Errorf("%w: unknown SyncMode %d", ErrInvalidConfig, c.Sync)
	case c.SyncBytes < 0:
		return fmt.Errorf("%w: negative SyncBytes", ErrInvalidConfig)
	case c.IndexInterval < 0:
		return fmt.Errorf("%w: negative IndexInterval", ErrInvalidConfig)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.FS == nil {
		c.FS = OSFS{}
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SyncBytes == 0 {
		c.SyncBytes = DefaultSyncBytes
	}
	if c.IndexInterval == 0 {
		c.IndexInterval = DefaultIndexInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
