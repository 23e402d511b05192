//go:build linux

package tlsconf

import (
	"os"
	"syscall"
)

// fileStamp is the stamp of fi: size, modification time, and the device,
// inode and status change time of the file.
func fileStamp(fi os.FileInfo) stamp {
	st := stamp{size: fi.Size(), mod: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.dev, st.ino = uint64(sys.Dev), uint64(sys.Ino)
		st.ctimeNanos = sys.Ctim.Nano()
	}
	return st
}
