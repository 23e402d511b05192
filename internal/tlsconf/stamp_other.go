//go:build !linux

package tlsconf

import "os"

// fileStamp is the stamp of fi: its size and modification time only
// (replacing a file with one of the same size and modification time goes
// unseen here; a failed load is retried at every check anyway).
func fileStamp(fi os.FileInfo) stamp {
	return stamp{size: fi.Size(), mod: fi.ModTime()}
}
