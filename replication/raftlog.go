package replication

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	walfs "github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"
	"go.etcd.io/bbolt"
)

// RaftLogStore names the store that keeps a node's Raft log and its stable
// state (current term, vote). A data directory keeps the store it was
// created with (see DataDirRaftLog); only snapshots and partition logs are
// independent of it.
type RaftLogStore string

const (
	// RaftLogBolt is hashicorp/raft-boltdb on go.etcd.io/bbolt: one file,
	// raft.db, a copy-on-write B+tree. Each append is a bbolt commit (two
	// fdatasyncs). The default.
	RaftLogBolt RaftLogStore = "bolt"
	// RaftLogWAL is hashicorp/raft-wal: append-only segment files in
	// raft-wal/, and a small bbolt file for the stable state and the list
	// of segments. Each append is one fsync of the tail segment.
	RaftLogWAL RaftLogStore = "wal"
)

// RaftLogStores lists the valid RaftLogStore values, the default first.
var RaftLogStores = []RaftLogStore{RaftLogBolt, RaftLogWAL}

// ParseRaftLogStore returns the store named s ("bolt" or "wal"; "" is the
// default, bolt). Any other name is a *ConfigError for field "RaftLog".
func ParseRaftLogStore(s string) (RaftLogStore, error) {
	switch RaftLogStore(strings.TrimSpace(s)) {
	case "", RaftLogBolt:
		return RaftLogBolt, nil
	case RaftLogWAL:
		return RaftLogWAL, nil
	}
	return "", &ConfigError{Field: "RaftLog", Reason: fmt.Sprintf("unknown raft log store %q (want bolt or wal)", s)}
}

const (
	// raftLogMarkerFile, in a data directory, names the store its Raft
	// state was created with ("bolt\n" or "wal\n").
	raftLogMarkerFile = "raft-log-store"
	// walDirName is the directory, in a data directory, of raft-wal's files.
	walDirName = "raft-wal"
	// walLockFile, in walDirName, is flocked while a WAL is open: raft-wal
	// opens its meta db without a timeout, so a second opener would hang.
	walLockFile = "LOCK"
)

// DataDirRaftLog reports which store holds the Raft state of dataDir: the
// one its marker file names; for a directory without a marker (made before
// there was a choice), bolt if raft.db exists, wal if raft-wal/ does; ""
// when dataDir holds no Raft state (or does not exist). It does not block
// beyond reading a few directory entries. Errors: a wrapped I/O error, or
// ErrInvalidConfig for a marker naming an unknown store.
func DataDirRaftLog(dataDir string) (RaftLogStore, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, raftLogMarkerFile))
	switch {
	case err == nil:
		kind := RaftLogStore(strings.TrimSpace(string(b)))
		if kind != RaftLogBolt && kind != RaftLogWAL {
			return "", &ConfigError{Field: "RaftLog", Reason: fmt.Sprintf("%s names an unknown raft log store %q",
				filepath.Join(dataDir, raftLogMarkerFile), kind)}
		}
		return kind, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("replication: read %s: %w", raftLogMarkerFile, err)
	}
	for _, c := range []struct {
		name string
		kind RaftLogStore
	}{{raftDBFile, RaftLogBolt}, {walDirName, RaftLogWAL}} {
		_, err := os.Stat(filepath.Join(dataDir, c.name))
		if err == nil {
			return c.kind, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("replication: stat %s: %w", c.name, err)
		}
	}
	return "", nil
}

// StoreMismatchError is returned by NewNode when its data directory was
// created with another Raft log store than NodeConfig.RaftLog asks for.
// Nothing in the directory was changed. It matches ErrStoreMismatch.
type StoreMismatchError struct {
	DataDir   string
	Created   RaftLogStore // the store the directory holds
	Requested RaftLogStore // the store the configuration asks for
}

// Error implements error; the message says how to go on.
func (e *StoreMismatchError) Error() string {
	return fmt.Sprintf("%v: data dir %s was created with --raft-log %s, not %s; start with --raft-log %s, or move the data away to start empty",
		ErrStoreMismatch, e.DataDir, e.Created, e.Requested, e.Created)
}

// Is reports whether target is ErrStoreMismatch.
func (e *StoreMismatchError) Is(target error) bool { return target == ErrStoreMismatch }

// raftLog is an open Raft log store: the log raft writes (before the cache
// and the acks wrapper) and the stable store, which are the same object.
type raftLog struct {
	kind   RaftLogStore
	logs   raft.LogStore
	stable raft.StableStore
	bolt   *raftboltdb.BoltStore // the store when kind is RaftLogBolt, else nil
	close  func() error          // closes the store; called once
}

// openRaftLog opens the Raft log store of dataDir, creating it (and the
// marker) when dataDir holds no Raft state. want "" opens whichever store
// dataDir holds and fails with ErrNoState if it holds none. A directory
// holding the other store fails with a *StoreMismatchError. It waits up to
// boltOpenTimeout for another process's lock on the store.
func openRaftLog(dataDir string, want RaftLogStore, noSync bool, segmentBytes int, logger hclog.Logger) (*raftLog, error) {
	have, err := DataDirRaftLog(dataDir)
	if err != nil {
		return nil, err
	}
	switch {
	case have == "" && want == "":
		return nil, fmt.Errorf("%w: %s", ErrNoState, dataDir)
	case want == "":
		want = have
	case have != "" && have != want:
		return nil, &StoreMismatchError{DataDir: dataDir, Created: have, Requested: want}
	}
	if err := writeRaftLogMarker(dataDir, want); err != nil {
		return nil, err
	}
	if want == RaftLogWAL {
		return openWAL(dataDir, noSync, segmentBytes, logger)
	}
	db, err := openBolt(dataDir, noSync)
	if err != nil {
		return nil, err
	}
	return &raftLog{kind: RaftLogBolt, logs: db, stable: db, bolt: db, close: func() error {
		if err := db.Close(); err != nil {
			return fmt.Errorf("replication: close %s: %w", raftDBFile, err)
		}
		return nil
	}}, nil
}

// writeRaftLogMarker records kind in dataDir's marker file unless it is
// there already. The file and the directory are fsynced before the store's
// files are created, so a directory with Raft state always has a marker.
func writeRaftLogMarker(dataDir string, kind RaftLogStore) error {
	path := filepath.Join(dataDir, raftLogMarkerFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return writeFileAtomic(path, []byte(string(kind)+"\n"))
}

// openBolt opens the raft log and stable store of dataDir. NoSync stays
// false (unless the UnsafeNoSync experiment asks): every StoreLogs is
// fsynced, which acks=1 and raft's safety rely on. It waits up to
// boltOpenTimeout for another process's lock.
func openBolt(dataDir string, noSync bool) (*raftboltdb.BoltStore, error) {
	db, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(dataDir, raftDBFile),
		BoltOptions: &bbolt.Options{
			Timeout:        boltOpenTimeout,
			NoFreelistSync: true,
			FreelistType:   bbolt.FreelistMapType,
		},
		NoSync: noSync,
	})
	if err != nil {
		return nil, fmt.Errorf("replication: open %s: %w", raftDBFile, err)
	}
	return db, nil
}

// openWAL opens (or creates) the raft-wal store in dataDir/raft-wal. With
// noSync the segment files are never fsynced (the meta db still is, on
// segment rotation and stable-store writes). segmentBytes 0 means
// raft-wal's default segment size. It waits up to boltOpenTimeout for
// another process's lock.
func openWAL(dataDir string, noSync bool, segmentBytes int, logger hclog.Logger) (*raftLog, error) {
	dir := filepath.Join(dataDir, walDirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("replication: %s: %w", walDirName, err)
	}
	unlock, err := lockFile(filepath.Join(dir, walLockFile), boltOpenTimeout)
	if err != nil {
		return nil, fmt.Errorf("replication: open %s: %w", walDirName, err)
	}
	// raft-wal's Close leaves its meta db open: keep it, to close it after.
	meta := &metadb.BoltMetaDB{}
	var vfs types.VFS = walfs.New()
	if noSync {
		vfs = noSyncVFS{vfs}
	}
	if segmentBytes == 0 {
		segmentBytes = wal.DefaultSegmentSize
	}
	w, err := wal.Open(dir, wal.WithMetaStore(meta), wal.WithLogger(logger),
		wal.WithSegmentFiler(indexlessSealFiler{segment.NewFiler(dir, vfs)}), wal.WithSegmentSize(segmentBytes))
	if err != nil {
		_ = meta.Close()
		_ = unlock()
		return nil, fmt.Errorf("replication: open %s: %w", walDirName, err)
	}
	return &raftLog{kind: RaftLogWAL, logs: walLog{w}, stable: w, close: func() error {
		err := w.Close()
		if merr := meta.Close(); err == nil {
			err = merr
		}
		if uerr := unlock(); err == nil {
			err = uerr
		}
		if err != nil {
			return fmt.Errorf("replication: close %s: %w", walDirName, err)
		}
		return nil
	}}, nil
}

// noSyncVFS is raft-wal's file system with Sync turned off on the segment
// files it writes (NodeConfig.UnsafeNoSync).
type noSyncVFS struct{ types.VFS }

// Create implements types.VFS.
func (v noSyncVFS) Create(dir, name string, size uint64) (types.WritableFile, error) {
	f, err := v.VFS.Create(dir, name, size)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

// OpenWriter implements types.VFS.
func (v noSyncVFS) OpenWriter(dir, name string) (types.WritableFile, error) {
	f, err := v.VFS.OpenWriter(dir, name)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

// noSyncFile is a segment file whose Sync does nothing.
type noSyncFile struct{ types.WritableFile }

// Sync implements types.WritableFile: it does nothing.
func (noSyncFile) Sync() error { return nil }

// indexlessSealFiler works around hashicorp/raft-wal#31, fixed upstream
// after v0.4.0 (hashicorp/raft-wal#33): a tail truncation (raft clearing
// the log suffix of a deposed leader) marks the tail segment sealed in the
// meta db without writing its index block, and the next Open of the WAL
// fails on it ("sealed segment has no index block"), so the node could
// never start again. Such a segment is opened the way raft-wal recovers
// its tail after a crash: by scanning its frames. Nothing is appended to
// it (the WAL appends to the new tail only), and the entries it holds past
// the truncation point are never read from it: the new tail segment starts
// at the first of them.
type indexlessSealFiler struct{ *segment.Filer }

// Open implements types.SegmentFiler.
func (f indexlessSealFiler) Open(info types.SegmentInfo) (types.SegmentReader, error) {
	if info.IndexStart != 0 {
		return f.Filer.Open(info)
	}
	return f.Filer.RecoverTail(info)
}

// walLog is raft-wal's log as raft.LogStore, except that GetLog does not
// serve entries below FirstIndex: raft-wal's tail segment still returns
// entries that a compaction (head truncation) removed, so a leader would
// replay a long-compacted log to a follower entry by entry instead of
// sending it the snapshot, as it does with bolt. Safe for concurrent use.
type walLog struct{ *wal.WAL }

// GetLog implements raft.LogStore.
func (l walLog) GetLog(index uint64, log *raft.Log) error {
	first, err := l.WAL.FirstIndex()
	if err != nil {
		return err
	}
	if index < first {
		return raft.ErrLogNotFound
	}
	return l.WAL.GetLog(index, log)
}
