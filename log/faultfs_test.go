package log

import (
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// faultFS wraps OSFS and injects disk faults that tests switch on and off
// while a Log is running. It is safe for concurrent use.
//
// Faults, each optionally limited to files whose name ends in a suffix
// (".log", ".index"; "" means every file):
//
//   - short write: WriteAt really writes the first keep bytes of the buffer
//     (never the whole buffer) and returns syscall.ENOSPC, as a full disk
//     does in the middle of a write;
//   - full disk: every WriteAt writes nothing and returns syscall.ENOSPC;
//   - sync failure: Sync returns syscall.EIO;
//   - directory sync failure: SyncDir returns syscall.EIO;
//   - remove failure: Remove of a matching file returns syscall.EIO and
//     leaves the file, as a crash just before the removal would;
//   - create failure: OpenFile with O_CREATE of a file that does not exist
//     yet returns syscall.ENOSPC (no inode or directory block left);
//   - blocked sync: Sync of a matching file waits until the test releases
//     it, to hold the background flusher while the test copies the
//     directory as a crash would leave it.
//
// Every injected fault is counted so a test can check that it fired. It also
// counts the bytes read from .log files, to see how much Open scans.
type faultFS struct {
	OSFS

	mu sync.Mutex // guards every field below

	shortWrite  bool
	shortKeep   int
	shortSuffix string

	failWrites  bool
	writeSuffix string

	failSync   bool
	syncSuffix string

	failCreate   bool
	createSuffix string

	failSyncDir bool

	failRemove   bool
	removeSuffix string

	syncGate   chan struct{} // non-nil: Sync of a gateSuffix file waits for it to close
	gateSuffix string

	injected int // faults injected so far

	logReads atomic.Int64 // bytes read from .log files; not guarded by mu
}

var _ FS = (*faultFS)(nil)

// setShortWrite makes each WriteAt on a matching file write only its first
// keep bytes (fewer if the buffer is not longer than keep) and fail with
// ENOSPC. on=false switches it off.
func (fs *faultFS) setShortWrite(on bool, suffix string, keep int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.shortWrite, fs.shortSuffix, fs.shortKeep = on, suffix, keep
}

// setFailWrites makes every WriteAt on a matching file fail with ENOSPC
// without writing anything.
func (fs *faultFS) setFailWrites(on bool, suffix string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.failWrites, fs.writeSuffix = on, suffix
}

// setFailSync makes Sync on a matching file fail with EIO.
func (fs *faultFS) setFailSync(on bool, suffix string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.failSync, fs.syncSuffix = on, suffix
}

// setFailCreate makes creating a matching file fail with ENOSPC.
func (fs *faultFS) setFailCreate(on bool, suffix string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.failCreate, fs.createSuffix = on, suffix
}

// setFailSyncDir makes SyncDir fail with EIO.
func (fs *faultFS) setFailSyncDir(on bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.failSyncDir = on
}

// setFailRemove makes Remove of a matching file fail with EIO.
func (fs *faultFS) setFailRemove(on bool, suffix string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.failRemove, fs.removeSuffix = on, suffix
}

// blockSync makes Sync of matching files wait until release is called.
// release is idempotent.
func (fs *faultFS) blockSync(suffix string) (release func()) {
	gate := make(chan struct{})
	fs.mu.Lock()
	fs.syncGate, fs.gateSuffix = gate, suffix
	fs.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			fs.mu.Lock()
			fs.syncGate = nil
			fs.mu.Unlock()
			close(gate)
		})
	}
}

// clear switches every fault off (the disk has space again).
func (fs *faultFS) clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.shortWrite, fs.failWrites, fs.failSync, fs.failCreate = false, false, false, false
	fs.failSyncDir, fs.failRemove = false, false
}

// faults is the number of faults injected so far.
func (fs *faultFS) faults() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.injected
}

// OpenFile implements FS.
func (fs *faultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if flag&os.O_CREATE != 0 && fs.createFault(name) {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
	}
	f, err := fs.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: f, fs: fs}, nil
}

// Remove implements FS.
func (fs *faultFS) Remove(name string) error {
	fs.mu.Lock()
	fail := fs.failRemove && strings.HasSuffix(name, fs.removeSuffix)
	if fail {
		fs.injected++
	}
	fs.mu.Unlock()
	if fail {
		return &os.PathError{Op: "remove", Path: name, Err: syscall.EIO}
	}
	return fs.OSFS.Remove(name)
}

// SyncDir implements FS.
func (fs *faultFS) SyncDir(name string) error {
	fs.mu.Lock()
	fail := fs.failSyncDir
	if fail {
		fs.injected++
	}
	fs.mu.Unlock()
	if fail {
		return &os.PathError{Op: "sync", Path: name, Err: syscall.EIO}
	}
	return fs.OSFS.SyncDir(name)
}

func (fs *faultFS) createFault(name string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if !fs.failCreate || !strings.HasSuffix(name, fs.createSuffix) {
		return false
	}
	if _, err := os.Stat(name); err == nil {
		return false // opening an existing file needs no space
	}
	fs.injected++
	return true
}

// writeFault says how a WriteAt of n bytes to name should go: keep is how
// many bytes to really write, fail whether to then return ENOSPC.
func (fs *faultFS) writeFault(name string, n int) (keep int, fail bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	switch {
	case fs.failWrites && strings.HasSuffix(name, fs.writeSuffix):
		fs.injected++
		return 0, true
	case fs.shortWrite && strings.HasSuffix(name, fs.shortSuffix) && n > 0:
		fs.injected++
		return max(0, min(fs.shortKeep, n-1)), true
	}
	return n, false
}

func (fs *faultFS) syncFault(name string) bool {
	fs.mu.Lock()
	gate := fs.syncGate
	if gate != nil && strings.HasSuffix(name, fs.gateSuffix) {
		fs.mu.Unlock()
		<-gate
		fs.mu.Lock()
	}
	defer fs.mu.Unlock()
	if fs.failSync && strings.HasSuffix(name, fs.syncSuffix) {
		fs.injected++
		return true
	}
	return false
}

// faultFile is a File whose writes and syncs go through its faultFS's faults.
type faultFile struct {
	File
	fs *faultFS
}

// WriteAt implements File.
func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	keep, fail := f.fs.writeFault(f.Name(), len(p))
	if !fail {
		return f.File.WriteAt(p, off)
	}
	n := 0
	if keep > 0 {
		var err error
		if n, err = f.File.WriteAt(p[:keep], off); err != nil {
			return n, err
		}
	}
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}

// ReadAt implements File.
func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	if strings.HasSuffix(f.Name(), ".log") {
		f.fs.logReads.Add(int64(n))
	}
	return n, err
}

// Sync implements File.
func (f *faultFile) Sync() error {
	if f.fs.syncFault(f.Name()) {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO}
	}
	return f.File.Sync()
}
