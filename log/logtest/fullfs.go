package logtest

import (
	"os"
	"sync/atomic"
	"syscall"

	mlog "github.com/minibroker/minibroker/log"
)

// FullFS is the real filesystem (log.OSFS), except that while it is full
// every write to a file opened through it fails with ENOSPC (wrapped in
// an *os.PathError, as the os package reports it) and writes nothing.
// Everything else works, as on a real full disk: reads, truncation,
// fsync, removal. The zero value is an empty disk. Safe for concurrent
// use.
type FullFS struct {
	mlog.OSFS
	full    atomic.Bool
	opened  atomic.Int64 // files opened through it
	refused atomic.Int64 // writes refused while full
}

// SetFull makes writes fail (true) or work again (false).
func (f *FullFS) SetFull(full bool) { f.full.Store(full) }

// Opened returns how many files were opened through f.
func (f *FullFS) Opened() int64 { return f.opened.Load() }

// Refused returns how many writes failed because f was full.
func (f *FullFS) Refused() int64 { return f.refused.Load() }

// OpenFile implements log.FS.
func (f *FullFS) OpenFile(name string, flag int, perm os.FileMode) (mlog.File, error) {
	fh, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	f.opened.Add(1)
	return &fullFile{File: fh, fs: f}, nil
}

// fullFile is a file of a FullFS.
type fullFile struct {
	mlog.File
	fs *FullFS
}

// WriteAt implements log.File.
func (f *fullFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.full.Load() {
		f.fs.refused.Add(1)
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(p, off)
}
