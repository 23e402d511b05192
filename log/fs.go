package log

import (
	"io"
	"os"
)

// FS is the filesystem a Log works through. OSFS is the real one; tests wrap
// it to inject short writes, ENOSPC and fsync failures. Implementations must
// be safe for concurrent use.
type FS interface {
	// OpenFile opens a file as os.OpenFile does.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove removes a file or empty directory.
	Remove(name string) error
	// Rename renames a file atomically (os.Rename).
	Rename(oldpath, newpath string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(path string, perm os.FileMode) error
	// ReadDir lists a directory sorted by name.
	ReadDir(name string) ([]os.DirEntry, error)
	// Link makes newpath a hard link to oldpath.
	Link(oldpath, newpath string) error
	// SyncDir fsyncs a directory so that creations, renames and removals in
	// it are durable.
	SyncDir(name string) error
}

// File is an open file. Reads and writes are positional so that one writer
// and many readers can share a file without a shared cursor.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	Truncate(size int64) error
	Sync() error
	Stat() (os.FileInfo, error)
	Name() string
}

// OSFS is the operating system's filesystem.
type OSFS struct{}

// OpenFile implements FS.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// Rename implements FS.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// MkdirAll implements FS.
func (OSFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }

// ReadDir implements FS.
func (OSFS) ReadDir(name string) ([]os.DirEntry, error) { return os.ReadDir(name) }

// Link implements FS.
func (OSFS) Link(oldpath, newpath string) error { return os.Link(oldpath, newpath) }

// SyncDir implements FS.
func (OSFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
