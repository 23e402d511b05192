package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	mlog "github.com/minibroker/minibroker/log"
)

// Config configures a Store.
type Config struct {
	// Node configures the raft node: ID, addresses, DataDir, Bootstrap,
	// timeouts. Its DataDir holds everything: raft.db, snapshots/, fsm/.
	Node NodeConfig
	// LogSync is the partition logs' fsync policy (see FSMConfig.LogSync).
	LogSync mlog.SyncMode
	// LogFS is the filesystem of the partition logs (FSMConfig.FS), a hook
	// for fault injection (ENOSPC, torn writes, lost unsynced writes) and
	// special deployments. It covers the partition logs' segments, indexes
	// and recovery points only; raft.db, snapshots and the FSM's metadata
	// use the OS directly. Default nil: the real filesystem (mlog.OSFS).
	LogFS mlog.FS
	// SnapshotBytes takes a snapshot once this many bytes of record batches
	// were applied since the last one, on top of raft's entry-count
	// threshold, so the Raft log stays bounded in bytes. Default 64 MiB.
	SnapshotBytes int64
	// TrailingBytes is roughly how many bytes of Raft log to keep after a
	// snapshot, so a briefly lagging follower catches up from the log rather
	// than a full InstallSnapshot. TrailingLogs is set from it and the mean
	// entry size before each size-triggered snapshot. Default 64 MiB.
	TrailingBytes int64
	// HousekeepingInterval is how often the leader proposes retention by
	// age and producer expiry (HousekeepingCmd). Default 1 minute.
	HousekeepingInterval time.Duration
	// Logger receives the store's logs; nil uses Node.Logger.
	Logger *slog.Logger
}

// Defaults for Config.
const (
	DefaultSnapshotBytes = 64 << 20
	DefaultTrailingBytes = 64 << 20
)

// Store is a replicated set of partition logs: the raft Node and the FSM
// together, with the operations the broker needs. Writes go through raft on
// the leader; reads serve applied data on any node. It is safe for
// concurrent use.
type Store struct {
	cfg   Config
	node  *Node
	fsm   *FSM
	snaps *SnapshotStore

	fatalOnce sync.Once
	fatal     chan error // buffered(1): the FSM's fatal error, for the watcher

	stop    chan struct{}
	loops   sync.WaitGroup
	closeMu sync.Mutex // serializes Close
	closed  bool       // guarded by closeMu
}

// Open starts a store: opens the FSM state in DataDir/fsm, the snapshot store
// in DataDir/snapshots, and the raft node. It does not wait for an election:
// use Node().WaitLeader. A data directory written by an older version, in
// another log format, is refused with a *mlog.FormatError
// (mlog.ErrOldFormat; see CheckDataFormat) before anything is changed; a
// new one is marked with the current format first. It returns
// ErrInvalidConfig, mlog.ErrOldFormat, mlog.ErrCorrupt or a wrapped I/O or
// network error. It owns cfg.Node.RaftListener, as NewNode: on error it
// is closed.
func Open(cfg Config) (_ *Store, err error) {
	handed := false // cfg.Node.RaftListener was handed to NewNode, which closes it on error
	defer func() {
		if err != nil && !handed && cfg.Node.RaftListener != nil {
			_ = cfg.Node.RaftListener.Close()
		}
	}()
	if cfg.SnapshotBytes == 0 {
		cfg.SnapshotBytes = DefaultSnapshotBytes
	}
	if cfg.TrailingBytes == 0 {
		cfg.TrailingBytes = DefaultTrailingBytes
	}
	if cfg.HousekeepingInterval == 0 {
		cfg.HousekeepingInterval = DefaultHousekeepingInterval
	}
	if cfg.SnapshotBytes < 0 || cfg.TrailingBytes < 0 || cfg.HousekeepingInterval < 0 {
		return nil, &ConfigError{Field: "SnapshotBytes/TrailingBytes", Reason: "must not be negative"}
	}
	if err := cfg.Node.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = cfg.Node.Logger
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := ensureDataFormat(cfg.Node.DataDir); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, fatal: make(chan error, 1), stop: make(chan struct{})}
	s.fsm, err = NewFSM(FSMConfig{
		Dir:           filepath.Join(cfg.Node.DataDir, "fsm"),
		LogSync:       cfg.LogSync,
		FS:            cfg.LogFS,
		SnapshotBytes: cfg.SnapshotBytes,
		OnFatal:       s.onFatal,
		Logger:        cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	if s.snaps, err = NewSnapshotStore(filepath.Join(cfg.Node.DataDir, "snapshots"), snapshotsRetained, cfg.Logger); err != nil {
		s.fsm.Close()
		return nil, err
	}
	handed = true
	if s.node, err = NewNode(cfg.Node, s.fsm, s.snaps); err != nil {
		s.fsm.Close()
		return nil, err
	}
	s.loops.Add(1)
	go s.watch()
	return s, nil
}

// onFatal is the FSM's OnFatal: it must not block (it runs inside Apply).
func (s *Store) onFatal(err error) {
	s.fatalOnce.Do(func() { s.fatal <- err })
}

// watch stops the node when the FSM fails, takes size-triggered snapshots
// and, on the leader, proposes housekeeping. It is the only goroutine that
// does any of these.
func (s *Store) watch() {
	defer s.loops.Done()
	tick := time.NewTicker(s.cfg.HousekeepingInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.housekeep()
		case err := <-s.fatal:
			s.node.Fatal(err)
		case <-s.fsm.SnapshotDue():
			s.tuneTrailingLogs()
			if err := s.node.Snapshot(); err != nil && !errors.Is(err, ErrShutdown) {
				s.cfg.Logger.Warn("size-triggered snapshot failed", "error", err)
			}
		}
	}
}

// tuneTrailingLogs sets raft's TrailingLogs so that the entries kept after a
// snapshot come to about TrailingBytes, from the mean size of applied
// entries.
func (s *Store) tuneTrailingLogs() {
	mean := s.fsm.meanEntrySize()
	if mean <= 0 {
		return
	}
	n := uint64(s.cfg.TrailingBytes / mean)
	n = max(64, min(n, s.node.cfg.TrailingLogs))
	s.node.setTrailingLogs(n)
}

// Node is the raft node: leadership, membership, stats.
func (s *Store) Node() *Node { return s.node }

// FSM is the state machine, for reads.
func (s *Store) FSM() *FSM { return s.fsm }

// Append replicates one record batch (made by mlog.AppendBatch or
// mlog.WrapKafka) to a partition with the given acks and returns where it
// landed: Submit, then Wait. The leader stamps the current time into the
// command. With AcksAll the result has the assigned offsets; with
// AcksLeader or AcksNone BaseOffset is -1, because offsets are assigned
// when the entry is applied, after the quorum commit.
//
// Errors: *NotLeaderError (ErrNotLeader) on a follower; ErrOutcomeUnknown
// when the entry was handed to raft but its fate is unknown (leadership
// lost, ctx done): it may still be applied, so a retry may duplicate it;
// ErrUnknownTopic, ErrUnknownPartition (checked before the entry is
// proposed, see ValidateAppend, and again by Apply); ErrBadCommand;
// ErrStopped; ErrShutdown; and for an idempotent batch those listed at
// Submit.
func (s *Store) Append(ctx context.Context, topic string, partition int32, batch mlog.Batch, acks Acks) (AppendResult, error) {
	p, err := s.Submit(ctx, topic, partition, batch, acks)
	if err != nil {
		return AppendResult{BaseOffset: -1}, err
	}
	return p.Wait(ctx)
}

// PendingAppend is an Append handed to raft whose outcome has not been
// waited for. Call Wait exactly once.
type PendingAppend struct {
	p     *Pending
	acks  Acks
	count int
}

// Submit is the first half of Append: it hands the batch to raft and
// returns. Batches submitted one after another from one goroutine are
// applied in that order, so a connection can pipeline appends to a
// partition and keep their order. It runs ValidateAppend first. Its
// errors mean nothing was written: those of ValidateAppend,
// *NotLeaderError, ErrShutdown, ErrTimeout, ctx's error.
//
// The batch header says whether the append is idempotent: a producer id
// other than -1 (from InitProducer), with the producer's epoch and the
// sequence of the batch's first record (see mlog.Batch.SetProducer), lets
// the state machine recognise a retried batch and ack it again with its
// original offset instead of storing it twice. An idempotent append needs
// AcksAll (ErrIdempotenceNeedsAcksAll). Wait then also returns
// ErrUnknownProducer, ErrInvalidProducerEpoch, ErrInvalidSequence,
// ErrOutOfOrderSequence or ErrDuplicateSequence.
func (s *Store) Submit(ctx context.Context, topic string, partition int32, batch mlog.Batch, acks Acks) (*PendingAppend, error) {
	if err := s.ValidateAppend(topic, partition, batch, acks); err != nil {
		return nil, err
	}
	c := AppendCmd{Topic: topic, Partition: partition, Timestamp: time.Now().UnixMilli(), Batch: batch}
	if id := batch.ProducerID(); id != -1 {
		c.ProducerID, c.ProducerEpoch, c.Sequence = id, batch.ProducerEpoch(), batch.BaseSequence()
	}
	p, err := s.node.Submit(ctx, encodeAppend(&c), acks)
	if err != nil {
		return nil, err
	}
	return &PendingAppend{p: p, acks: acks, count: batch.Count()}, nil
}

// InitProducer allocates a producer id through raft (leader only) for an
// idempotent producer. Errors: those of Append.
func (s *Store) InitProducer(ctx context.Context) (int64, error) {
	resp, err := s.applyCmd(ctx, CmdInitProducer, &InitProducerCmd{Timestamp: time.Now().UnixMilli()})
	if err != nil {
		return 0, err
	}
	id, ok := resp.(int64)
	if !ok {
		return 0, fmt.Errorf("replication: init producer: unexpected response %T", resp)
	}
	return id, nil
}

// Wait is the second half of Append: it waits for the acknowledgement and
// returns Append's result and errors.
func (pa *PendingAppend) Wait(ctx context.Context) (AppendResult, error) {
	resp, err := pa.p.Wait(ctx)
	if err != nil {
		return AppendResult{BaseOffset: -1}, err
	}
	if pa.acks != AcksAll {
		return AppendResult{BaseOffset: -1, Count: pa.count}, nil
	}
	r, ok := resp.(AppendResult)
	if !ok {
		return AppendResult{BaseOffset: -1}, fmt.Errorf("replication: append: unexpected response %T", resp)
	}
	return r, nil
}

// CreateTopic creates a topic through raft and waits until it is applied.
// Errors: ErrInvalidTopic, ErrTopicExists, and those of Append.
func (s *Store) CreateTopic(ctx context.Context, name string, partitions int32, cfg TopicConfig) error {
	c := &CreateTopicCmd{Name: name, Partitions: partitions, Config: cfg}
	if err := validateTopic(c); err != nil {
		return err
	}
	return s.applyMeta(ctx, CmdCreateTopic, c)
}

// DeleteTopic deletes a topic and its data. Errors: ErrUnknownTopic, and
// those of Append.
func (s *Store) DeleteTopic(ctx context.Context, name string) error {
	return s.applyMeta(ctx, CmdDeleteTopic, &DeleteTopicCmd{Name: name})
}

// RegisterNode records a node's client addresses (an empty addr removes
// the node's addresses; its numeric id stays). kafkaAddr may be empty. It
// blocks until the entry is applied here (leader only: ErrNotLeader
// otherwise) and is safe for concurrent use.
func (s *Store) RegisterNode(ctx context.Context, id, addr, kafkaAddr string) error {
	return s.applyMeta(ctx, CmdRegisterNode, &RegisterNodeCmd{ID: id, Addr: addr, KafkaAddr: kafkaAddr})
}

// applyMeta replicates a command with AcksAll and returns Apply's error.
func (s *Store) applyMeta(ctx context.Context, t CommandType, body any) error {
	_, err := s.applyCmd(ctx, t, body)
	return err
}

// applyCmd replicates a command with AcksAll and returns Apply's
// response (an error response is returned as the error).
func (s *Store) applyCmd(ctx context.Context, t CommandType, body any) (any, error) {
	cmd, err := encodeCommand(t, body)
	if err != nil {
		return nil, err
	}
	return s.node.Apply(ctx, cmd, AcksAll)
}

// Close stops the node (raft first, so nothing is applied after) and then
// closes the partition logs. It is idempotent and blocks until done.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.node.Close()
	close(s.stop)
	s.loops.Wait()
	return errors.Join(err, s.fsm.Close())
}
