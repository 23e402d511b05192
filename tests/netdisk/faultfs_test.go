package netdisk

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	mlog "github.com/minibroker/minibroker/log"
)

// crashFS is the real filesystem that also keeps, for every file written
// through it, the content the file had when it was last fsynced: what a
// disk would still hold after a power loss. Crash freezes it (from then on
// writes, truncations, fsyncs, renames and removals are accepted and
// dropped, as a dead machine's would be); Restore then puts every file it
// tracks back to that content, deleting the files never fsynced. It is
// safe for concurrent use.
//
// What it models, and what not: a file's durable content changes only at
// its fsync (the page cache may in truth have written more, which would
// lose less); a rename, removal or hard link counts as durable at once,
// without waiting for the directory's fsync (optimistic: loses less); and
// only files written through it are affected.
type crashFS struct {
	mlog.OSFS
	mu      sync.Mutex        // guards durable, written and frozen
	durable map[string][]byte // path -> content at its last fsync
	written map[string]bool   // paths written (or created) since tracking began
	frozen  bool
}

func newCrashFS() *crashFS {
	return &crashFS{durable: map[string][]byte{}, written: map[string]bool{}}
}

func (c *crashFS) isFrozen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frozen
}

func (c *crashFS) OpenFile(name string, flag int, perm os.FileMode) (mlog.File, error) {
	writes := flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC) != 0
	if c.isFrozen() {
		if fh, err := c.OSFS.OpenFile(name, os.O_RDONLY, 0); err == nil {
			return &crashFile{File: fh, fs: c, name: name}, nil
		} else if !writes {
			return nil, err
		}
		return &crashFile{fs: c, name: name}, nil // a dead machine's new file
	}
	fh, err := c.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if writes {
		c.mu.Lock()
		c.written[name] = true
		c.mu.Unlock()
	}
	return &crashFile{File: fh, fs: c, name: name}, nil
}

func (c *crashFS) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return nil
	}
	delete(c.durable, name)
	delete(c.written, name)
	return c.OSFS.Remove(name)
}

func (c *crashFS) Rename(oldpath, newpath string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return nil
	}
	if err := c.OSFS.Rename(oldpath, newpath); err != nil {
		return err
	}
	if d, ok := c.durable[oldpath]; ok {
		c.durable[newpath] = d
	} else {
		delete(c.durable, newpath)
	}
	delete(c.durable, oldpath)
	delete(c.written, oldpath)
	c.written[newpath] = true
	return nil
}

func (c *crashFS) Link(oldpath, newpath string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return nil
	}
	if err := c.OSFS.Link(oldpath, newpath); err != nil {
		return err
	}
	if d, ok := c.durable[oldpath]; ok {
		c.durable[newpath] = d
	}
	c.written[newpath] = true
	return nil
}

func (c *crashFS) MkdirAll(path string, perm os.FileMode) error {
	if c.isFrozen() {
		return nil
	}
	return c.OSFS.MkdirAll(path, perm)
}

func (c *crashFS) SyncDir(name string) error {
	if c.isFrozen() {
		return nil
	}
	return c.OSFS.SyncDir(name)
}

// synced records path's content as durable.
func (c *crashFS) synced(path string) error {
	buf, err := os.ReadFile(path) // the file may be open write-only
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen {
		c.durable[path] = buf
	}
	return nil
}

// Crash freezes the filesystem: nothing written from now on reaches it.
func (c *crashFS) Crash() {
	c.mu.Lock()
	c.frozen = true
	c.mu.Unlock()
}

// Restore puts every file written through c back to its content at its
// last fsync, deletes the files never fsynced, and unfreezes c. Call it
// once the node that used c is closed. It returns the number of bytes the
// crash dropped.
func (c *crashFS) Restore() (dropped int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for path := range c.written {
		st, serr := os.Stat(path)
		d, ok := c.durable[path]
		switch {
		case ok:
			if serr == nil {
				dropped += max(0, st.Size()-int64(len(d)))
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return dropped, err
			}
			if err := os.WriteFile(path, d, 0o644); err != nil {
				return dropped, err
			}
		default:
			if serr == nil {
				dropped += st.Size()
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return dropped, err
			}
			delete(c.written, path)
		}
	}
	c.frozen = false
	return dropped, nil
}

// crashFile is a file of a crashFS. File is nil for a file created after
// the crash.
type crashFile struct {
	mlog.File
	fs   *crashFS
	name string
}

func (f *crashFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.isFrozen() || f.File == nil {
		return len(p), nil
	}
	return f.File.WriteAt(p, off)
}

func (f *crashFile) Truncate(size int64) error {
	if f.fs.isFrozen() || f.File == nil {
		return nil
	}
	return f.File.Truncate(size)
}

func (f *crashFile) Sync() error {
	if f.fs.isFrozen() || f.File == nil {
		return nil
	}
	if err := f.File.Sync(); err != nil {
		return err
	}
	return f.fs.synced(f.name)
}

func (f *crashFile) ReadAt(p []byte, off int64) (int, error) {
	if f.File == nil {
		return 0, errors.New("netdisk: read of a file created after the crash")
	}
	return f.File.ReadAt(p, off)
}

func (f *crashFile) Stat() (os.FileInfo, error) {
	if f.File == nil {
		return nil, errors.New("netdisk: stat of a file created after the crash")
	}
	return f.File.Stat()
}

func (f *crashFile) Close() error {
	if f.File == nil {
		return nil
	}
	return f.File.Close()
}

func (f *crashFile) Name() string {
	if f.File == nil {
		return f.name
	}
	return f.File.Name()
}
