package replication

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// SnapshotStore is a raft.SnapshotStore that keeps the FSM's snapshots as a
// manifest plus hard links to segment files (see snapshot.go), and turns one
// into a byte stream only when raft opens it to send to a follower.
//
// Layout, one directory per snapshot:
//
//	<dir>/<term>-<index>-<ms>/meta.json   raft's SnapshotMeta (Size = stream size)
//	<dir>/<term>-<index>-<ms>/state.bin   what the sink was written (header, or a whole stream)
//	<dir>/<term>-<index>-<ms>/data/...    hard-linked segments (kind M)
//
// A snapshot being written lives in "<id>.tmp" and is renamed into place on
// Close, so a crash never leaves a half-written snapshot that List returns.
//
// A snapshot opened for reading (Open, e.g. raft streaming it to a
// follower, which can take minutes) is not removed while the reader is
// open, even when newer ones make it old: reap skips it, and its last
// reader's Close removes it. Its hard links are stable files meanwhile:
// the log only ever appends to a segment past the size the manifest
// records, and deletes whole files (retention), which removes the log's
// name, not the snapshot's.
//
// It is safe for concurrent use.
type SnapshotStore struct {
	dir    string
	retain int
	logger *slog.Logger

	// mu guards readers and serializes reap, so that a snapshot is never
	// removed between an Open counting its reader and the reader's files
	// being opened.
	mu      sync.Mutex
	readers map[string]int // open readers per snapshot ID; absent means none
}

// NewSnapshotStore opens (creating) a store in dir keeping the newest retain
// snapshots (at least 1). It removes leftovers of interrupted writes and
// fsyncs dir's parent, so that a new dir's entry is durable.
func NewSnapshotStore(dir string, retain int, logger *slog.Logger) (*SnapshotStore, error) {
	if retain < 1 {
		retain = 1
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("replication: snapshot dir: %w", err)
	}
	// The dir may be new: make its entry durable before a snapshot in it is.
	if err := syncFile(filepath.Dir(dir)); err != nil {
		return nil, fmt.Errorf("replication: snapshot dir: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("replication: snapshot dir: %w", err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	return &SnapshotStore{dir: dir, retain: retain, logger: logger, readers: map[string]int{}}, nil
}

// Create implements raft.SnapshotStore.
func (s *SnapshotStore) Create(version raft.SnapshotVersion, index, term uint64,
	configuration raft.Configuration, configurationIndex uint64, _ raft.Transport) (raft.SnapshotSink, error) {
	if version != 1 {
		return nil, fmt.Errorf("replication: unsupported snapshot version %d", version)
	}
	id := fmt.Sprintf("%d-%d-%d", term, index, time.Now().UnixMilli())
	path := filepath.Join(s.dir, id+".tmp")
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("replication: create snapshot: %w", err)
	}
	fh, err := os.Create(filepath.Join(path, "state.bin"))
	if err != nil {
		os.RemoveAll(path)
		return nil, fmt.Errorf("replication: create snapshot: %w", err)
	}
	return &snapshotSink{
		store: s, path: path, file: fh, w: bufio.NewWriterSize(fh, 1<<20),
		meta: raft.SnapshotMeta{Version: version, ID: id, Index: index, Term: term,
			Configuration: configuration, ConfigurationIndex: configurationIndex},
	}, nil
}

// List implements raft.SnapshotStore: the snapshots, newest first.
func (s *SnapshotStore) List() ([]*raft.SnapshotMeta, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("replication: list snapshots: %w", err)
	}
	var metas []*raft.SnapshotMeta
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		m, err := s.readMeta(e.Name())
		if err != nil {
			s.logger.Warn("skipping unreadable snapshot", "id", e.Name(), "error", err)
			continue
		}
		metas = append(metas, m)
	}
	sort.Slice(metas, func(i, j int) bool {
		a, b := metas[i], metas[j]
		if a.Term != b.Term {
			return a.Term > b.Term
		}
		if a.Index != b.Index {
			return a.Index > b.Index
		}
		return a.ID > b.ID
	})
	if len(metas) > s.retain {
		metas = metas[:s.retain]
	}
	return metas, nil
}

func (s *SnapshotStore) readMeta(id string) (*raft.SnapshotMeta, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, id, "meta.json"))
	if err != nil {
		return nil, err
	}
	m := &raft.SnapshotMeta{}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, err
	}
	return m, nil
}

// Open implements raft.SnapshotStore. A manifest snapshot is returned as the
// full stream, read from its hard links as the caller reads. The snapshot is
// kept (not reaped) until the returned reader is closed; Close is
// idempotent.
func (s *SnapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	if strings.ContainsAny(id, `/\`) || strings.HasSuffix(id, ".tmp") {
		return nil, nil, fmt.Errorf("replication: bad snapshot id %q", id)
	}
	s.acquire(id)
	meta, rc, err := s.open(id)
	if err != nil {
		s.release(id)
		return nil, nil, err
	}
	return meta, &snapReader{ReadCloser: rc, release: func() { s.release(id) }}, nil
}

func (s *SnapshotStore) open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	meta, err := s.readMeta(id)
	if err != nil {
		return nil, nil, fmt.Errorf("replication: open snapshot %s: %w", id, err)
	}
	fh, err := os.Open(filepath.Join(s.dir, id, "state.bin"))
	if err != nil {
		return nil, nil, fmt.Errorf("replication: open snapshot %s: %w", id, err)
	}
	br := bufio.NewReader(fh)
	kind, err := br.Peek(1)
	if err != nil {
		fh.Close()
		return nil, nil, fmt.Errorf("replication: open snapshot %s: %w", id, err)
	}
	if kind[0] == kindStream {
		return meta, readCloser{br, fh}, nil
	}
	_, m, err := readHeader(br)
	fh.Close()
	if err != nil {
		return nil, nil, err
	}
	hdr, err := m.header(kindStream)
	if err != nil {
		return nil, nil, err
	}
	return meta, newStreamReader(filepath.Join(s.dir, id, "data"), hdr, m), nil
}

// acquire counts a reader of snapshot id.
func (s *SnapshotStore) acquire(id string) {
	s.mu.Lock()
	s.readers[id]++
	s.mu.Unlock()
}

// release uncounts a reader of snapshot id; the last one reaps, so a
// snapshot that became old while it was read goes now.
func (s *SnapshotStore) release(id string) {
	s.mu.Lock()
	s.readers[id]--
	last := s.readers[id] <= 0
	if last {
		delete(s.readers, id)
	}
	s.mu.Unlock()
	if last {
		s.reap()
	}
}

// snapReader is what Open returns: the stream, plus its reader count.
type snapReader struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

// Close closes the stream and, the first time, releases the snapshot.
func (r *snapReader) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(r.release)
	return err
}

type readCloser struct {
	io.Reader
	io.Closer
}

// reap removes all but the newest retain snapshots, except those with open
// readers (see Open).
func (s *SnapshotStore) reap() {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	keep, _ := s.List()
	kept := map[string]bool{}
	for _, m := range keep {
		kept[m.ID] = true
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasSuffix(e.Name(), ".tmp") && !kept[e.Name()] && s.readers[e.Name()] == 0 {
			if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
				s.logger.Warn("removing old snapshot", "id", e.Name(), "error", err)
			}
		}
	}
}

// snapshotSink writes one snapshot. raft uses a sink from one goroutine.
type snapshotSink struct {
	store *SnapshotStore
	path  string // the .tmp dir
	file  *os.File
	w     *bufio.Writer
	meta  raft.SnapshotMeta
	done  bool
}

func (k *snapshotSink) ID() string { return k.meta.ID }

func (k *snapshotSink) Write(p []byte) (int, error) { return k.w.Write(p) }

// link hard-links src into the snapshot's data dir at rel.
func (k *snapshotSink) link(src, rel string) error {
	dst := filepath.Join(k.path, "data", rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("replication: snapshot link: %w", err)
	}
	if err := os.Link(src, dst); err != nil {
		return fmt.Errorf("replication: snapshot link: %w", err)
	}
	return nil
}

// Close finishes the snapshot: flush and fsync, record its stream size in
// meta.json, fsync the directories, rename it into place, reap old ones.
func (k *snapshotSink) Close() error {
	if k.done {
		return nil
	}
	k.done = true
	err := k.finish()
	if err != nil {
		os.RemoveAll(k.path)
		return err
	}
	k.store.reap()
	return nil
}

func (k *snapshotSink) finish() error {
	err := k.w.Flush()
	if err == nil {
		err = k.file.Sync()
	}
	if cerr := k.file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("replication: write snapshot: %w", err)
	}
	if k.meta.Size, err = k.streamSize(); err != nil {
		return err
	}
	data, err := json.Marshal(&k.meta)
	if err != nil {
		return fmt.Errorf("replication: snapshot meta: %w", err)
	}
	if err := os.WriteFile(filepath.Join(k.path, "meta.json"), data, 0o644); err != nil {
		return fmt.Errorf("replication: snapshot meta: %w", err)
	}
	if err := syncFile(filepath.Join(k.path, "meta.json")); err != nil {
		return fmt.Errorf("replication: snapshot meta: %w", err)
	}
	// Directory entries (the links, the files) must be durable before the
	// rename publishes the snapshot.
	if err := filepath.WalkDir(k.path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return syncFile(p)
	}); err != nil {
		return fmt.Errorf("replication: sync snapshot dirs: %w", err)
	}
	final := strings.TrimSuffix(k.path, ".tmp")
	if err := os.Rename(k.path, final); err != nil {
		return fmt.Errorf("replication: publish snapshot: %w", err)
	}
	if err := syncFile(k.store.dir); err != nil {
		return fmt.Errorf("replication: publish snapshot: %w", err)
	}
	return nil
}

// streamSize is the length of the stream Open will return.
func (k *snapshotSink) streamSize() (int64, error) {
	fh, err := os.Open(filepath.Join(k.path, "state.bin"))
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return 0, err
	}
	br := bufio.NewReader(fh)
	kind, m, err := readHeader(br)
	if err != nil {
		return 0, err
	}
	if kind == kindStream {
		return st.Size(), nil
	}
	if kind != kindManifest {
		return 0, errors.New("replication: snapshot of unknown kind")
	}
	hdr, err := m.header(kindStream)
	if err != nil {
		return 0, err
	}
	return m.streamSize(len(hdr)), nil
}

// Cancel abandons the snapshot.
func (k *snapshotSink) Cancel() error {
	if k.done {
		return nil
	}
	k.done = true
	k.file.Close()
	return os.RemoveAll(k.path)
}
