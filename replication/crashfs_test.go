package replication

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"syscall"

	mlog "github.com/minibroker/minibroker/log"
)

// crashFS is a mlog.FS over the real filesystem that can simulate a machine
// crash: crash puts every file it wrote back the way it was at its last
// fsync, as the page cache dying with the machine would.
//
// The model, per file path written through it:
//
//   - synced is the file's length at its last fsync (its length when
//     crashFS first saw it, for a file that existed before);
//   - undo holds the bytes below synced that were overwritten or cut since
//     then, oldest first, so that crash can put them back (newest first:
//     the oldest entry of a range holds the synced bytes).
//
// On crash the undo entries are written back and the file is cut to synced:
// unsynced appends vanish, and a file created and never synced is left
// empty. Directory operations (create, rename, remove, link) are taken as
// durable at once: only file contents are modelled. The FSM's own metadata
// files are written with os.* and fsynced: crashFS never sees them.
//
// Handles opened before a crash are dead afterwards: their writes, cuts and
// syncs fail with EIO and change nothing, so the crashed FSM can be closed
// (stopping its goroutines) without touching the "disk". Between crash and
// revive every FS operation fails the same way.
//
// It is safe for concurrent use.
type crashFS struct {
	mu      sync.Mutex // guards every field below
	gen     int        // incremented by crash; handles of older generations are dead
	down    bool       // between crash and revive
	files   map[string]*crashState
	crashes int
}

// crashState is what crashFS knows about one path.
type crashState struct {
	info   os.FileInfo // identity of the file, to notice a replacement by os.*
	synced int64
	undo   []undoEntry
}

type undoEntry struct {
	off  int64
	data []byte
}

var _ mlog.FS = (*crashFS)(nil)

func newCrashFS() *crashFS { return &crashFS{files: map[string]*crashState{}} }

var errCrashed = &os.PathError{Op: "io", Path: "crashed", Err: syscall.EIO}

// stateLocked returns the tracked state of path, starting to track it (as
// durable as it is now) if it is new or was replaced behind crashFS's back.
func (c *crashFS) stateLocked(path string) *crashState {
	st, err := os.Stat(path)
	s := c.files[path]
	if s != nil && (err != nil || !os.SameFile(s.info, st)) {
		s = nil
	}
	if s == nil {
		s = &crashState{info: st}
		if err == nil {
			s.synced = st.Size()
		}
		c.files[path] = s
	}
	return s
}

// OpenFile implements mlog.FS.
func (c *crashFS) OpenFile(name string, flag int, perm os.FileMode) (mlog.File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return nil, errCrashed
	}
	var s *crashState
	if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		if _, err := os.Stat(name); err == nil {
			s = c.stateLocked(name)
		}
	}
	f, err := os.OpenFile(name, flag&^os.O_TRUNC, perm)
	if err != nil {
		return nil, err
	}
	if s == nil && flag&(os.O_WRONLY|os.O_RDWR) != 0 {
		s = c.stateLocked(name) // created now: nothing of it is durable
		s.synced = 0
	}
	cf := &crashFile{f: f, fs: c, gen: c.gen, path: name}
	if flag&os.O_TRUNC != 0 {
		if err := cf.truncateLocked(0); err != nil {
			f.Close()
			return nil, err
		}
	}
	return cf, nil
}

// Remove implements mlog.FS.
func (c *crashFS) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return errCrashed
	}
	delete(c.files, name)
	return os.Remove(name)
}

// Rename implements mlog.FS.
func (c *crashFS) Rename(oldpath, newpath string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return errCrashed
	}
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	delete(c.files, newpath)
	if s, ok := c.files[oldpath]; ok {
		delete(c.files, oldpath)
		c.files[newpath] = s
	}
	return nil
}

// MkdirAll implements mlog.FS.
func (c *crashFS) MkdirAll(path string, perm os.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return errCrashed
	}
	return os.MkdirAll(path, perm)
}

// ReadDir implements mlog.FS.
func (c *crashFS) ReadDir(name string) ([]os.DirEntry, error) { return os.ReadDir(name) }

// Link implements mlog.FS.
func (c *crashFS) Link(oldpath, newpath string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return errCrashed
	}
	return os.Link(oldpath, newpath)
}

// SyncDir implements mlog.FS. Directory operations are durable at once.
func (c *crashFS) SyncDir(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return errCrashed
	}
	return nil
}

// markSynced records an fsync made with os.* of the file at path or of a
// hard link to it (Persist fsyncs the active segments through the
// snapshot's staging links).
func (c *crashFS) markSynced(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := os.Stat(path)
	if err != nil {
		return
	}
	for _, s := range c.files {
		if s.info != nil && os.SameFile(s.info, st) {
			s.synced, s.undo = st.Size(), nil
		}
	}
}

// crash loses every unsynced write and kills every open handle. Until
// revive, every operation fails. It returns how many bytes beyond the
// synced lengths it cut.
func (c *crashFS) crash() (lost int64, _ error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.down = true
	c.crashes++
	var errs error
	for path, s := range c.files {
		st, err := os.Stat(path)
		if err != nil || !os.SameFile(s.info, st) {
			delete(c.files, path) // removed or replaced behind our back
			continue
		}
		if len(s.undo) == 0 && st.Size() == s.synced {
			continue
		}
		lost += max(0, st.Size()-s.synced)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		for i := len(s.undo) - 1; i >= 0; i-- {
			if _, err := f.WriteAt(s.undo[i].data, s.undo[i].off); err != nil {
				errs = errors.Join(errs, err)
			}
		}
		errs = errors.Join(errs, f.Truncate(s.synced), f.Close())
		s.undo = nil
	}
	return lost, errs
}

// revive lets new handles work again, as after the reboot.
func (c *crashFS) revive() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = false
}

// crashFile is a File of a crashFS.
type crashFile struct {
	f    *os.File
	fs   *crashFS
	gen  int
	path string
}

func (f *crashFile) deadLocked() bool { return f.fs.down || f.gen != f.fs.gen }

// saveLocked remembers the synced bytes in [off, end) before they change.
func (f *crashFile) saveLocked(off, end int64) error {
	s := f.fs.stateLocked(f.path)
	end = min(end, s.synced)
	if off >= end {
		return nil
	}
	buf := make([]byte, end-off)
	n, err := f.f.ReadAt(buf, off)
	if err != nil && n == 0 && !errors.Is(err, fs.ErrClosed) {
		// Past the current end (cut earlier): an older entry holds them.
		return nil
	}
	s.undo = append(s.undo, undoEntry{off: off, data: buf[:n]})
	return nil
}

func (f *crashFile) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }

func (f *crashFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.deadLocked() {
		return 0, errCrashed
	}
	if err := f.saveLocked(off, off+int64(len(p))); err != nil {
		return 0, err
	}
	return f.f.WriteAt(p, off)
}

func (f *crashFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.deadLocked() {
		return errCrashed
	}
	return f.truncateLocked(size)
}

func (f *crashFile) truncateLocked(size int64) error {
	if st, err := f.f.Stat(); err == nil {
		if err := f.saveLocked(size, st.Size()); err != nil {
			return err
		}
	}
	return f.f.Truncate(size)
}

func (f *crashFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.deadLocked() {
		return errCrashed
	}
	// No real fsync: the model decides what survives a crash, and real
	// fsyncs would only slow the test down.
	st, err := f.f.Stat()
	if err != nil {
		return err
	}
	s := f.fs.stateLocked(f.path)
	s.synced, s.undo = st.Size(), nil
	return nil
}

func (f *crashFile) Close() error               { return f.f.Close() }
func (f *crashFile) Stat() (os.FileInfo, error) { return f.f.Stat() }
func (f *crashFile) Name() string               { return f.f.Name() }
