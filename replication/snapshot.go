package replication

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	mlog "github.com/minibroker/minibroker/log"
	"github.com/vmihailenco/msgpack/v5"
)

// Snapshots cost O(segments), not O(data). Sealed segments never change, so
// a snapshot is the metadata plus a manifest of segments, kept alive by hard
// links: FSM.Snapshot links every segment file into a staging dir (cheap, on
// the FSM goroutine, so it matches the metadata exactly); Persist fsyncs the
// active segments and moves the links into the snapshot (SnapshotStore). The
// data becomes a byte stream only when a follower needs InstallSnapshot
// (SnapshotStore.Open). Retention deleting a segment removes only the log's
// name for the file; the snapshot's link keeps the bytes.
//
// A snapshot's content, as raft stores it:
//
//	+------+-----------------+------------------+------------------------+
//	| kind | uvarint hdr len | manifest msgpack | segment bytes (kind S) |
//	+------+-----------------+------------------+------------------------+
//
// kind 'M' (manifest): only the header; the segments are hard links beside
// it in the snapshot dir. kind 'S' (stream): the segments' bytes follow, in
// manifest order, each exactly Size bytes. Open turns M into S; Restore
// takes S.
const (
	kindManifest byte = 'M'
	kindStream   byte = 'S'
	maxHeader         = 256 << 20 // bound on the manifest's declared length
)

// manifest lists a snapshot's metadata and segments.
type manifest struct {
	Meta  *metaState     `msgpack:"m"`
	Parts []partManifest `msgpack:"p"`
}

type partManifest struct {
	Topic       string            `msgpack:"t"`
	CreateIndex uint64            `msgpack:"ci"`
	Partition   int32             `msgpack:"p"`
	Segments    []mlog.SegmentRef `msgpack:"s"`
}

// rel is the partition's directory relative to a state or snapshot root.
func (p *partManifest) rel() string {
	return filepath.Join(topicDir(p.Topic, p.CreateIndex), fmt.Sprint(p.Partition))
}

// header returns kind, the manifest's length and the manifest.
func (m *manifest) header(kind byte) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true) // the same manifest always encodes the same
	mm := *m
	mm.Meta = m.Meta.clone() // fills OffsetList
	if err := enc.Encode(&mm); err != nil {
		return nil, fmt.Errorf("replication: encode manifest: %w", err)
	}
	h := append([]byte{kind}, binary.AppendUvarint(nil, uint64(buf.Len()))...)
	return append(h, buf.Bytes()...), nil
}

// streamSize is the length of the kind-S stream for this manifest.
func (m *manifest) streamSize(hdrLen int) int64 {
	n := int64(hdrLen)
	for _, p := range m.Parts {
		for _, s := range p.Segments {
			n += s.Size
		}
	}
	return n
}

// readHeader reads kind and manifest from the start of a snapshot.
func readHeader(r *bufio.Reader) (byte, *manifest, error) {
	kind, err := r.ReadByte()
	if err != nil {
		return 0, nil, fmt.Errorf("replication: snapshot header: %w", err)
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > maxHeader {
		return 0, nil, fmt.Errorf("replication: snapshot header length %d: %v", n, err)
	}
	// Grow with the bytes that actually arrive, not with the declared length.
	body, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err != nil || uint64(len(body)) != n {
		return 0, nil, fmt.Errorf("replication: snapshot manifest: %d of %d bytes: %v", len(body), n, err)
	}
	m := &manifest{}
	if err := msgpack.Unmarshal(body, m); err != nil {
		return 0, nil, fmt.Errorf("replication: decode manifest: %w", err)
	}
	if m.Meta == nil {
		return 0, nil, errors.New("replication: snapshot manifest without metadata")
	}
	m.Meta.afterDecode()
	return kind, m, nil
}

// fsmSnapshot is a point-in-time snapshot taken by FSM.Snapshot.
type fsmSnapshot struct {
	f        *FSM
	stage    string // staging dir holding the hard links
	stateDir string // the FSM's live state dir when the snapshot was taken
	m        *manifest
	logs     []*mlog.Log // the partitions' logs, in m.Parts order
}

// Snapshot implements raft.FSM. It runs on the FSM goroutine and only
// hard-links segment files into a staging dir and copies the metadata; the
// slow parts (fsync, writing) happen in Persist, concurrently with Apply.
// A stopped FSM (see fail) refuses with an error wrapping ErrStopped: raft
// counts the entries it refused as applied, and a snapshot at raft's index
// would let raft compact away entries this state never applied.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	if f.failed != nil {
		return nil, fmt.Errorf("replication: snapshot: %w: %w", ErrStopped, f.failed)
	}
	f.stageN++
	stage := filepath.Join(f.cfg.Dir, stagingDir, fmt.Sprint(f.stageN))
	meta := f.meta.clone()
	meta.Index = f.applied.Load()
	meta.Clock = f.now
	m := &manifest{Meta: meta}
	var logs []*mlog.Log
	for _, t := range meta.sortedTopics() {
		for i := int32(0); i < t.Partitions; i++ {
			pm := partManifest{Topic: t.Name, CreateIndex: t.CreateIndex, Partition: i}
			dir := filepath.Join(stage, pm.rel())
			if err := os.MkdirAll(dir, 0o755); err != nil {
				os.RemoveAll(stage)
				return nil, fmt.Errorf("replication: snapshot staging: %w", err)
			}
			l := f.parts[partKey{t.Name, i}].log
			refs, err := l.LinkSegments(dir)
			if err != nil {
				os.RemoveAll(stage)
				return nil, fmt.Errorf("replication: snapshot %s/%d: %w", t.Name, i, err)
			}
			pm.Segments = refs
			m.Parts = append(m.Parts, pm)
			logs = append(logs, l)
		}
	}
	f.sinceSnap.Store(0)
	return &fsmSnapshot{f: f, stage: stage, stateDir: f.stateDir, m: m, logs: logs}, nil
}

// Persist implements raft.FSMSnapshot: it makes the partitions' data durable
// (syncLogs), records the metadata in the FSM's state dir (so a restart
// finds it without reading the snapshot), and writes the snapshot: links
// plus the manifest into our SnapshotStore's sink, or the full stream into
// any other. If any partition's data cannot be made durable it returns the
// error and cancels the sink: raft must not record a snapshot, and compact
// its log, past data a machine crash could still take away.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	s.f.persistMu.Lock()
	defer s.f.persistMu.Unlock()
	err := s.persist(sink)
	if err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) persist(sink raft.SnapshotSink) error {
	if err := s.syncLogs(); err != nil {
		return err
	}
	if s.f.liveStateDir() == s.stateDir { // not replaced by a Restore since
		data, err := encodeMeta(s.m.Meta)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(s.stateDir, metaFile), data); err != nil {
			return err
		}
	}
	if ls, ok := sink.(*snapshotSink); ok {
		for _, p := range s.m.Parts {
			for _, seg := range p.Segments {
				if err := ls.link(filepath.Join(s.stage, p.rel(), seg.Name), filepath.Join(p.rel(), seg.Name)); err != nil {
					return err
				}
			}
		}
		hdr, err := s.m.header(kindManifest)
		if err != nil {
			return err
		}
		_, err = sink.Write(hdr)
		return err
	}
	hdr, err := s.m.header(kindStream)
	if err != nil {
		return err
	}
	r := newStreamReader(s.stage, hdr, s.m)
	defer r.Close()
	if _, err := io.Copy(sink, r); err != nil {
		return fmt.Errorf("replication: write snapshot: %w", err)
	}
	return nil
}

// syncLogs makes every partition's data up to the snapshot durable, and
// records it: the log's recovery point moves to its end, so recovery after
// a crash trusts what the snapshot made durable instead of rescanning it.
//
// Sealed segments were fsynced by the log's flusher before LinkSegments
// returned. The active segment is fsynced first through the snapshot's link
// (the same inode), without the log's writer lock, so that Apply is not held
// up for the bulk of the write-back. Then Log.Sync fsyncs what was appended
// since (little), the directory if the active segment's creation is not
// durable yet, and moves the recovery point. It fails — and with it the
// snapshot — when the log cannot do that: a background fsync failed
// (ErrFlushFailed) or the recovery point cannot be written (the flusher
// only logs that failure; the directory fsync that comes with it is what
// makes a new segment's creation durable). A log closed meanwhile (its
// topic deleted, or the state replaced by a Restore) is skipped: the
// snapshot's data is its links, fsynced above.
func (s *fsmSnapshot) syncLogs() error {
	for i, p := range s.m.Parts {
		if n := len(p.Segments); n > 0 {
			if err := syncFile(filepath.Join(s.stage, p.rel(), p.Segments[n-1].Name)); err != nil {
				return fmt.Errorf("replication: fsync segment: %w", err)
			}
		}
		if err := s.logs[i].Sync(); err != nil && !errors.Is(err, mlog.ErrClosed) {
			return fmt.Errorf("replication: snapshot %s/%d: %w", p.Topic, p.Partition, err)
		}
	}
	return nil
}

// Release implements raft.FSMSnapshot: it drops the staging links.
func (s *fsmSnapshot) Release() { os.RemoveAll(s.stage) }

func (f *FSM) liveStateDir() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.stateDir
}

// streamReader produces a kind-S stream: the header, then each segment's
// first Size bytes, opening one file at a time under root.
type streamReader struct {
	root string
	m    *manifest
	hdr  []byte
	pi   int // next partition
	si   int // next segment within it
	cur  io.Reader
	file *os.File
}

func newStreamReader(root string, hdr []byte, m *manifest) *streamReader {
	return &streamReader{root: root, m: m, hdr: hdr}
}

func (r *streamReader) Read(b []byte) (int, error) {
	if len(r.hdr) > 0 {
		n := copy(b, r.hdr)
		r.hdr = r.hdr[n:]
		return n, nil
	}
	for {
		if r.cur != nil {
			n, err := r.cur.Read(b)
			if err == io.EOF {
				r.file.Close()
				r.cur, r.file = nil, nil
				if n > 0 {
					return n, nil
				}
				continue
			}
			return n, err
		}
		for r.pi < len(r.m.Parts) && r.si >= len(r.m.Parts[r.pi].Segments) {
			r.pi, r.si = r.pi+1, 0
		}
		if r.pi >= len(r.m.Parts) {
			return 0, io.EOF
		}
		p := &r.m.Parts[r.pi]
		seg := p.Segments[r.si]
		r.si++
		fh, err := os.Open(filepath.Join(r.root, p.rel(), seg.Name))
		if err != nil {
			return 0, fmt.Errorf("replication: snapshot segment: %w", err)
		}
		st, err := fh.Stat()
		if err != nil || st.Size() < seg.Size {
			fh.Close()
			return 0, fmt.Errorf("replication: snapshot segment %s shorter than %d bytes: %v", seg.Name, seg.Size, err)
		}
		r.file, r.cur = fh, io.LimitReader(fh, seg.Size)
	}
}

// Close closes the open segment file, if any.
func (r *streamReader) Close() error {
	if r.file != nil {
		return r.file.Close()
	}
	return nil
}
