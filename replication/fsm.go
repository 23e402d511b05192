package replication

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	mlog "github.com/minibroker/minibroker/log"
)

// FSMConfig configures the state machine.
type FSMConfig struct {
	// Dir holds the FSM's own durable state (partition logs and metadata).
	Dir string
	// LogSync is the partition logs' fsync policy. Default mlog.SyncNever:
	// the Raft log (fsynced by bbolt on every write) is the durable record,
	// partition data is fsynced at every snapshot, and replay after a crash
	// re-applies whatever the partition logs lost (see replay safety below).
	LogSync mlog.SyncMode
	// FS is the partition logs' filesystem; nil means the real one. Tests
	// inject disk faults through it.
	FS mlog.FS
	// SnapshotBytes asks for a snapshot once this many bytes of batches were
	// applied since the last one (0: never by size). See Store.
	SnapshotBytes int64
	// OnFatal is called (from the FSM goroutine; it must not block) when an
	// entry cannot be applied because of a local error such as a full disk.
	OnFatal func(error)
	Logger  *slog.Logger
}

// FSM is minibroker's replicated state machine: topics, their partition
// logs, consumer groups and their committed offsets, idempotent producers
// and the nodes' client addresses. raft calls Apply,
// ApplyBatch, Snapshot and Restore from its FSM goroutine, which is the only
// writer of the state. Readers (Read, Topic, ...) are safe for concurrent use.
//
// Replay safety. The FSM's state is durable on its own: partition logs on
// disk, metadata written at every snapshot. raft runs with
// NoSnapshotRestoreOnStart, so on restart it does not reload a snapshot; it
// replays its log from the last snapshot's index. The FSM may already hold
// some of those entries (it applied them before the crash), and applying
// one twice would duplicate a batch. So every applied Raft index is recorded
// with what it changed — a batch's index in its header (log meta), metadata
// commands' index in metaState.Index — and Apply skips an entry whose index
// is at or below the recorded one. An Append is skipped at or below either:
// the metadata on disk may be newer than raft's snapshot, and it is
// written only after the partition data up to its index was fsynced, so it
// covers every batch up to it; looking such an entry's topic up in it would
// find a topic created (or created again) after the entry. Nothing is
// skipped wrongly: indexes only grow, and the data up to the snapshot's index was fsynced before raft
// recorded the snapshot, so what the FSM lost in a crash is always still in
// the Raft log. The one state older than raft's newest snapshot — a
// follower's Restore of a received snapshot interrupted by a crash — is
// caught up before raft starts (see restoreIfBehind; NewNode calls it).
type FSM struct {
	cfg    FSMConfig
	logger *slog.Logger

	// mu guards meta, parts and stateDir. The FSM goroutine holds it
	// exclusively while it changes them; readers hold it shared.
	mu       sync.RWMutex
	meta     *metaState
	parts    map[partKey]*partition
	stateDir string

	// applyMu is held by the FSM goroutine while it applies entries or
	// restores a snapshot, and by Digest, which so sees the state at one
	// applied index.
	applyMu sync.Mutex

	// Owned by the FSM goroutine.
	now int64 // the FSM's clock, ms: see tick
	// applied is the index of the last entry applied; written by the
	// FSM goroutine only, atomic for AppliedIndex.
	applied atomic.Uint64
	failed  error // set once a local error stopped the FSM
	woken   []*partition
	stageN  int
	scratch []byte // reused copy of the batch being appended (see applyAppend)

	// persistMu serializes Persist and Restore: both write the state dir's
	// metadata file.
	persistMu sync.Mutex

	sinceSnap   atomic.Int64  // batch bytes applied since the last snapshot
	appendBytes atomic.Int64  // batch bytes applied by this process
	appendCount atomic.Int64  // batches applied by this process
	snapWant    chan struct{} // buffered(1): a snapshot is due by size

	digests digestBook // digests taken by CmdDigest entries (digest_cluster.go)
}

// NewFSM opens the state in cfg.Dir, creating it if needed, and recovers
// from an interrupted restore or snapshot. It returns wrapped I/O errors and
// mlog.ErrCorrupt for damaged partition data.
func NewFSM(cfg FSMConfig) (*FSM, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OnFatal == nil {
		cfg.OnFatal = func(error) {}
	}
	f := &FSM{cfg: cfg, logger: cfg.Logger, parts: map[partKey]*partition{}, snapWant: make(chan struct{}, 1)}
	if err := f.open(); err != nil {
		f.closeParts()
		return nil, err
	}
	return f, nil
}

func (f *FSM) clock() time.Time { return time.UnixMilli(f.now) }

// tick advances the FSM's clock to a command's leader-stamped time. The
// clock never goes back: leaders' clocks differ, and a new leader may stamp
// an earlier time than its predecessor. Retention and segment rolls read
// it, and a clock that went back could let a replayed housekeeping entry
// delete a segment that a later one, run before a crash at an earlier
// time, had kept (see applyHousekeeping). It is the maximum of every time
// stamped so far, so it is replicated state (metaState.Clock, written with
// the metadata) and ticking twice with one entry's time, as replay may, is
// harmless. Only the FSM goroutine calls it.
func (f *FSM) tick(ms int64) {
	f.now = max(f.now, ms)
}

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM. Each entry's response is a result
// value or an error; errors are the same on every replica, except ErrStopped
// which means this node stopped on a local failure and applied nothing more.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	resps := make([]any, len(logs))
	for i, l := range logs {
		if f.failed != nil {
			resps[i] = fmt.Errorf("%w: %w", ErrStopped, f.failed)
			continue
		}
		if l.Type == raft.LogCommand {
			resps[i] = f.apply(l)
		}
		if f.failed == nil {
			f.applied.Store(l.Index)
		}
	}
	for _, p := range f.woken {
		p.wake()
	}
	f.woken = f.woken[:0]
	f.digests.noteApplied(f.applied.Load())
	return resps
}

// AppliedIndex is the Raft index of the last entry this FSM has applied:
// its state reflects every entry up to it. raft's own applied index
// (Node.AppliedIndex) runs ahead of it: raft counts entries applied once it
// has handed them to the FSM goroutine. Safe for concurrent use.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// apply dispatches one command. An unknown command type panics: it means
// this binary is older than the cluster's log, and guessing would diverge.
func (f *FSM) apply(l *raft.Log) any {
	if len(l.Data) == 0 {
		return fmt.Errorf("%w: empty entry at index %d", ErrBadCommand, l.Index)
	}
	body := l.Data[1:]
	switch t := CommandType(l.Data[0]); t {
	case CmdAppend:
		return f.applyAppend(l.Index, l.Term, body)
	case CmdCreateTopic:
		return f.applyCreateTopic(l.Index, body)
	case CmdDeleteTopic:
		return f.applyDeleteTopic(l.Index, body)
	case CmdCommitOffset:
		return f.applyCommitOffset(l.Index, body)
	case CmdRegisterNode:
		return f.applyRegisterNode(l.Index, body)
	case CmdInitProducer:
		return f.applyInitProducer(l.Index, body)
	case CmdHousekeeping:
		return f.applyHousekeeping(l.Index, body)
	case CmdSyncGroup:
		return f.applySyncGroup(l.Index, body)
	case CmdRemoveMembers:
		return f.applyRemoveMembers(l.Index, body)
	case CmdCommitOffsets:
		return f.applyCommitOffsets(l.Index, body)
	case CmdResetOffsets:
		return f.applyResetOffsets(l.Index, body)
	case CmdDeleteGroup:
		return f.applyDeleteGroup(l.Index, body)
	case CmdDigest:
		return f.applyDigest(l.Index)
	case CmdKafkaGroup:
		return f.applyKafkaGroup(l.Index, body)
	case CmdDeleteOffsets:
		return f.applyDeleteOffsets(l.Index, body)
	case CmdPutUser:
		return f.applyPutUser(l.Index, body)
	case CmdDeleteUser:
		return f.applyDeleteUser(l.Index, body)
	case CmdCreateACLs:
		return f.applyCreateACLs(l.Index, body)
	case CmdDeleteACLs:
		return f.applyDeleteACLs(l.Index, body)
	default:
		panic(fmt.Sprintf("replication: unknown command type %d at raft index %d", uint8(t), l.Index))
	}
}

// fail stops the FSM after a local error: nothing more is applied, and the
// node is told to shut down. The entry is not skipped: it was not recorded
// as applied, so replay after a restart applies it again.
func (f *FSM) fail(op string, err error) error {
	f.failed = fmt.Errorf("%s: %w", op, err)
	f.logger.Error("state machine stopped", "op", op, "error", err)
	f.cfg.OnFatal(f.failed)
	return fmt.Errorf("%w: %w", ErrStopped, f.failed)
}

// Err returns the error that stopped the FSM, or nil.
func (f *FSM) Err() error {
	return f.failed
}

// SnapshotDue returns a channel that receives when SnapshotBytes of data
// were applied since the last snapshot. The channel is buffered; nobody has
// to drain it.
func (f *FSM) SnapshotDue() <-chan struct{} { return f.snapWant }

// Close closes every partition log. Call it after raft has shut down. It is
// idempotent.
func (f *FSM) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closePartsLocked()
}

func (f *FSM) closeParts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closePartsLocked()
}

func (f *FSM) closePartsLocked() error {
	var err error
	for k, p := range f.parts {
		err = errors.Join(err, p.log.Close())
		delete(f.parts, k)
	}
	return err
}

// syncFile fsyncs a file, or a directory (making the entries created in it
// durable), by path.
func syncFile(path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	err = fh.Sync()
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}
